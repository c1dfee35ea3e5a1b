//! The synthetic source: deterministic points (measurement `synthetic`) at a configured rate.
//! Point n has field `n` = n and `value` = sin(n / 100); its progress survives restarts through
//! the worker's state. Fault knobs make it crash, hang or babble on purpose.

use std::time::Duration;

use anyhow::Result;
use hemflux_shared::kinds::SyntheticWorker;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::Timestamp;
use serde_json::json;

use crate::link::{Command, Worker};

pub async fn run(mut worker: Worker, config: SyntheticWorker) -> Result<()> {
    let SyntheticWorker {
        house_id,
        synthetic: cfg,
    } = config;
    let link = worker.link.clone();
    let mut next: u64 = worker
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
        .map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));

    tokio::time::sleep(Duration::from_millis(worker.init.poll_offset_ms)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(cmd) = worker.commands.recv() => {
                match cmd {
                    Command::Sync { id, .. } | Command::Custom { id, .. } => {
                        link.reply(id, false, "the synthetic source has nothing to sync or command");
                    }
                }
                continue;
            }
        }
        if hang_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
            tracing::warn!("hang_after_ms reached: going silent (fault injection)");
            link.go_silent();
            std::future::pending::<()>().await;
        }
        let now = to_nanos(Timestamp::now());
        let points: Vec<Point> = (0..cfg.points_per_batch as u64)
            .map(|i| {
                let n = next + i;
                Point::new("synthetic", now + i as i64)
                    .tag("house_id", house_id.as_str())
                    .tag("series", (n % cfg.series as u64).to_string())
                    .field("n", n as i64)
                    .field("value", (n as f64 / 100.0).sin())
            })
            .collect();
        let after = next + points.len() as u64;
        link.send_points(points, Some(json!({ "next": after })))
            .await?;
        next = after;
        if cfg.garbage {
            link.send_raw("this is not json {\n".into());
        }
    }
}
