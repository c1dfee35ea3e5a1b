//! Logging: `tracing` to stderr, human-readable on a terminal and JSON lines otherwise, and
//! optionally shipped to Seq (CLEF over HTTP, `SEQ_URL` / `SEQ_API_KEY`).
//!
//! The Seq path never slows the caller: an event is rendered to one CLEF line and pushed onto a
//! bounded queue that drops its oldest entry when full; a dedicated thread ships batches. When
//! Seq is down, lines are dropped and counted (see [`seq_counters`]), and collection goes on.

mod seed_props;
mod seq;

use std::io::IsTerminal;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub use seed_props::{set_entities as set_seq_entities, EntityInfo};
pub use seq::{start as start_seq, SeqConfig, SeqCounters, SeqLayer, SeqShipper};

/// `--log-format`: how log lines on stderr look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable when stderr is a terminal, JSON lines otherwise.
    #[default]
    Auto,
    Human,
    Json,
}

impl LogFormat {
    fn is_json(self) -> bool {
        match self {
            LogFormat::Auto => !std::io::stderr().is_terminal(),
            LogFormat::Human => false,
            LogFormat::Json => true,
        }
    }
}

/// Keeps the Seq shipper alive; dropping it sends what is queued (bounded in time) and stops it.
pub struct LogGuard {
    _shipper: Option<SeqShipper>,
}

static SEQ_COUNTERS: OnceLock<std::sync::Arc<seq::Counters>> = OnceLock::new();

/// Installs the global subscriber: level from `RUST_LOG` (default `info`), lines on stderr in
/// `format`, and Seq shipping when `seq` is given. Call once, early in `main`, and keep the guard.
pub fn init(format: LogFormat, seq: Option<SeqConfig>) -> Result<LogGuard> {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env()
        .context("RUST_LOG is not a valid filter")?;
    let json = format.is_json();
    let human_layer = (!json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    let json_layer = json.then(|| json_lines(std::io::stderr));
    let (seq_layer, shipper) = match seq {
        Some(cfg) => {
            let (layer, shipper) = seq::start(cfg)?;
            let _ = SEQ_COUNTERS.set(shipper.counters_handle());
            (Some(layer), Some(shipper))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(human_layer)
        .with(json_layer)
        .with(seq_layer)
        .try_init()
        .context("a global tracing subscriber is already installed")?;
    Ok(LogGuard { _shipper: shipper })
}

/// One JSON object per line, flattened so that event fields such as `worker` and `kind` (the
/// supervisor's tags on worker output) are top-level keys.
fn json_lines<S, W>(writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
}

/// The Seq shipper's counters for `/metrics`; `None` when Seq is not configured.
pub fn seq_counters() -> Option<SeqCounters> {
    SEQ_COUNTERS.get().map(|c| c.snapshot())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_worker_and_kind_as_top_level_keys() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(json_lines(move || out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(worker = "house:villa_12", kind = "house", "session expired");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["worker"], "house:villa_12");
        assert_eq!(line["kind"], "house");
        assert_eq!(line["message"], "session expired");
        assert_eq!(line["level"], "WARN");
    }
}
