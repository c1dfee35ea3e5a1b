//! The synthetic source: deterministic points (measurement `synthetic`) at a configured rate.
//! Point n has field `n` = n and `value` = sin(n / 100); its progress survives restarts through
//! the worker's state. Fault knobs make it crash, hang or babble on purpose.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hemflux_shared::kinds::SyntheticWorker;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::Timestamp;
use serde_json::json;
use tokio::time::Instant;

use crate::link::{Link, Worker};
use crate::runtime::{self, Source};

pub async fn run(worker: Worker, config: SyntheticWorker) -> Result<()> {
    let SyntheticWorker {
        house_id,
        synthetic: cfg,
    } = config;
    let link = worker.link.clone();
    let next: u64 = worker
        .init
        .state
        .as_ref()
        .and_then(|s| s["next"].as_u64())
        .unwrap_or(0);

    if let Some(bytes) = cfg.huge_line_bytes {
        link.send_raw(format!("{}\n", "x".repeat(bytes)));
    }
    if let Some(secs) = cfg.orphan_child_secs {
        // A grandchild of the orchestrator that outlives this worker: PID 1 must reap it.
        std::process::Command::new("sleep")
            .arg(secs.to_string())
            .spawn()?;
    }
    if let Some(ms) = cfg.exit_after_ms {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            tracing::error!("exit_after_ms reached: exiting with status 3 (fault injection)");
            std::process::exit(3);
        });
    }
    let hang_at = cfg
        .hang_after_ms
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let source = Synthetic {
        house_id,
        cfg,
        link,
        next,
        hang_at,
        polled: Instant::now(),
    };
    runtime::drive(worker, source).await
}

struct Synthetic {
    house_id: String,
    cfg: hemflux_shared::config::SyntheticConfig,
    link: Arc<Link>,
    /// The `n` of the next point.
    next: u64,
    hang_at: Option<Instant>,
    /// When the last poll began: polls keep to the configured rate, however long a send takes.
    polled: Instant,
}

impl Source for Synthetic {
    type Error = anyhow::Error;

    async fn poll(&mut self) -> Result<String> {
        self.polled = Instant::now();
        if self.hang_at.is_some_and(|at| self.polled >= at) {
            tracing::warn!("hang_after_ms reached: going silent (fault injection)");
            self.link.go_silent();
            std::future::pending::<()>().await;
        }
        let cfg = &self.cfg;
        let now = to_nanos(Timestamp::now());
        let points: Vec<Point> = (0..cfg.points_per_batch as u64)
            .map(|i| {
                let n = self.next + i;
                Point::new("synthetic", now + i as i64)
                    .tag("house_id", self.house_id.as_str())
                    .tag("series", (n % cfg.series as u64).to_string())
                    .field("n", n as i64)
                    .field("value", (n as f64 / 100.0).sin())
            })
            .collect();
        let after = self.next + points.len() as u64;
        self.link
            .send_points(points, Some(json!({ "next": after })))
            .await?;
        self.next = after;
        if cfg.garbage {
            self.link.send_raw("this is not json {\n".into());
        }
        Ok(String::new())
    }

    fn next_delay(&mut self, _outcome: &Result<String>) -> Duration {
        (self.polled + Duration::from_millis(self.cfg.interval_ms))
            .saturating_duration_since(Instant::now())
    }
}
