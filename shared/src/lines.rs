//! Reading JSON lines from a peer without trusting it: a line longer than the limit is
//! consumed and dropped, never held whole, on both ends of the worker protocol.
//!
//! Hand-written rather than tokio-util's `LinesCodec`: that one insists on UTF-8 (a stray byte
//! would be an I/O error that ends the stream, where here it is one bad line) and `FramedRead`
//! ends the stream after an over-long line, where here reading goes on.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What [`read_bounded_line`] found.
pub enum Line {
    Complete,
    TooLong(usize),
    Eof,
}

/// Reads one line into `buf` (without the newline), never holding more than `limit` bytes: the
/// rest of an over-long line is consumed and dropped.
pub async fn read_bounded_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut total = 0usize;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(match total {
                0 => Line::Eof,
                n if n > limit => Line::TooLong(n),
                _ => Line::Complete,
            });
        }
        let (take, found) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        total += take;
        if total <= limit + 1 {
            buf.extend_from_slice(&chunk[..take]);
        }
        r.consume(take);
        if found {
            if total > limit + 1 {
                *buf = Vec::new();
                return Ok(Line::TooLong(total - 1));
            }
            buf.pop();
            return Ok(Line::Complete);
        }
        if total > limit + 1 && !buf.is_empty() {
            // Give back what the over-long line took; a fleet must not keep 8 MiB per worker.
            *buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn lines(input: &[u8], limit: usize) -> Vec<String> {
        let mut r = BufReader::with_capacity(7, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_bounded_line(&mut r, &mut buf, limit).await.unwrap() {
                Line::Eof => return out,
                Line::TooLong(n) => out.push(format!("<too long: {n}>")),
                Line::Complete => out.push(String::from_utf8(buf.clone()).unwrap()),
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_and_drops_over_long_ones_whole() {
        let input = b"short\nthis line is far too long\nok\nlast-without-newline";
        assert_eq!(
            lines(input, 10).await,
            ["short", "<too long: 25>", "ok", "<too long: 20>"]
        );
        assert_eq!(lines(b"a\n\nb\n", 10).await, ["a", "", "b"]);
        assert_eq!(lines(b"exactly10!\n", 10).await, ["exactly10!"]);
    }
}
