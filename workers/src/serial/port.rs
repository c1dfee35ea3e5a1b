//! The serial port as a stream of lines: bytes are split on CR and/or LF (modules end most
//! lines with CRLF, ROPT/WOPT answers with CR alone), one read is never assumed to be one line,
//! and an over-long line is dropped rather than grown without bound.

use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

/// Longer than any line a module prints (an E2 answer is about 540 characters).
const MAX_LINE: usize = 4096;

/// The port went away (unplugged, closed by the other side, or an I/O error).
#[derive(Debug, thiserror::Error)]
#[error("the serial port is gone: {0}")]
pub struct PortLost(pub String);

pub struct LinePort {
    stream: SerialStream,
    buf: Vec<u8>,
    /// Bytes of an over-long line are skipped up to its end.
    skipping: bool,
}

impl LinePort {
    /// Opens `path` at `baud`, 8N1, no flow control.
    pub fn open(path: &str, baud: u32) -> Result<LinePort> {
        let stream = tokio_serial::new(path, baud)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(tokio_serial::Parity::None)
            .stop_bits(tokio_serial::StopBits::One)
            .flow_control(tokio_serial::FlowControl::None)
            .open_native_async()
            .with_context(|| format!("opening {path} at {baud} baud"))?;
        Ok(LinePort {
            stream,
            buf: Vec::new(),
            skipping: false,
        })
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), PortLost> {
        let io = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(Duration::from_secs(5), io).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(PortLost(e.to_string())),
            Err(_) => Err(PortLost("a write did not finish within 5 s".into())),
        }
    }

    /// The next non-empty line, or `None` at the deadline. Lines are lossy UTF-8: garbage
    /// bytes still end up in a line that the caller can recognise as garbage and skip.
    pub async fn next_line(&mut self, deadline: Instant) -> Result<Option<String>, PortLost> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(Some(line));
            }
            let mut chunk = [0u8; 512];
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Ok(None),
                Ok(Err(e)) => return Err(PortLost(e.to_string())),
                Ok(Ok(0)) => return Err(PortLost("end of file".into())),
                Ok(Ok(n)) => n,
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn take_line(&mut self) -> Option<String> {
        while let Some(end) = self.buf.iter().position(|&b| b == b'\r' || b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = &line[..line.len() - 1];
            if std::mem::take(&mut self.skipping) || line.is_empty() {
                continue;
            }
            return Some(String::from_utf8_lossy(line).into_owned());
        }
        if self.buf.len() > MAX_LINE {
            tracing::warn!(
                bytes = self.buf.len(),
                "skipping an over-long line from the module"
            );
            self.buf.clear();
            self.skipping = true;
        }
        None
    }
}
