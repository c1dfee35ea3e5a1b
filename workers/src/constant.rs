//! The `constant` kind: one point (measurement `constant`, tag `source`, field `value`) per
//! interval. The smallest kind there is: `docs/adding-a-kind.md` walks through it.

use std::time::Duration;

use anyhow::Result;
use hemflux_shared::kinds::ConstantWorker;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::Timestamp;

use crate::link::{Command, Worker};

pub async fn run(mut worker: Worker, config: ConstantWorker) -> Result<()> {
    let link = worker.link.clone();
    let mut tick = tokio::time::interval(Duration::from_millis(config.interval_ms.max(1)));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let point = Point::new("constant", to_nanos(Timestamp::now()))
                    .tag("source", config.source.as_str())
                    .field("value", config.value);
                link.send_points(vec![point], None).await?;
            }
            Some(Command::Sync { id, .. } | Command::Custom { id, .. }) = worker.commands.recv() => {
                link.reply(id, false, "the constant source has nothing to sync or command");
            }
        }
    }
}
