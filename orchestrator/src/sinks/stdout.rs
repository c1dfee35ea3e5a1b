//! `type = "stdout"`: every point printed on the orchestrator's standard output (JSON lines by
//! default, or CSV or YAML), as the collector's `--output stdout` did. Logs go to stderr, so the
//! two never mix.

use std::io::Write;

use hemflux_shared::Point;
use serde::Deserialize;

use super::file::{Format, Renderer};
use super::{KindConfig, SendError, Sink};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    #[serde(default)]
    pub format: Format,
    /// Only points of these measurements (all when empty).
    #[serde(default)]
    pub measurements: Vec<String>,
    /// CSV only: the columns (default: from the first point).
    #[serde(default)]
    pub columns: Vec<String>,
}

pub struct StdoutSink {
    renderer: Renderer,
    header_written: bool,
}

impl KindConfig for StdoutConfig {
    type Sink = StdoutSink;

    fn build(&self) -> anyhow::Result<StdoutSink> {
        Ok(StdoutSink {
            renderer: Renderer::new(self.format, &self.measurements, self.columns.clone()),
            header_written: false,
        })
    }
}

impl StdoutSink {

    fn render(&mut self, points: &[Point]) -> std::io::Result<String> {
        let text = self.renderer.render(points, !self.header_written)?;
        self.header_written |= !text.is_empty();
        Ok(text)
    }
}

impl Sink for StdoutSink {
    async fn send(&mut self, points: &[Point]) -> Result<(), SendError> {
        let mut out = std::io::stdout().lock();
        self.render(points)
            .and_then(|text| out.write_all(text.as_bytes()))
            .and_then(|()| out.flush())
            .map_err(|e| SendError::Failed(format!("writing to stdout: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::file::tests::reading;
    use super::*;

    #[test]
    fn csv_on_stdout_has_its_header_once() {
        let config: StdoutConfig =
            toml::from_str("format = \"csv\"\nmeasurements = [\"smart_meter\"]").unwrap();
        let mut sink = config.build().unwrap();
        assert_eq!(sink.render(&[Point::new("other", 0).field("x", 1.0)]).unwrap(), "");
        let first = sink.render(&[reading(0, 1.0)]).unwrap();
        let second = sink.render(&[reading(1_000, 2.0)]).unwrap();
        assert_eq!(first.lines().count(), 2, "{first}");
        assert!(first.starts_with("timestamp,measurement,"), "{first}");
        assert_eq!(second.lines().count(), 1, "{second}");
        assert!(
            second.contains(",2.0,") || second.contains(",2,"),
            "{second}"
        );
    }
}
