//! The `constant` kind: one point (measurement `constant`, tag `source`, field `value`) per
//! interval. The smallest kind there is: `docs/adding-a-kind.md` walks through it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use hemflux_shared::kinds::ConstantWorker;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::Timestamp;

use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};

struct Constant {
    config: ConstantWorker,
    link: Arc<Link>,
}

pub async fn run(worker: Worker, config: ConstantWorker) -> Result<()> {
    let link = worker.link.clone();
    runtime::drive(worker, Constant { config, link }).await
}

impl Source for Constant {
    type Error = anyhow::Error;

    async fn poll(&mut self) -> Result<String> {
        let point = Point::new("constant", to_nanos(Timestamp::now()))
            .tag("source", self.config.source.as_str())
            .field("value", self.config.value);
        self.link.send_points(vec![point], None).await?;
        Ok(String::new())
    }

    fn next_delay(&mut self, _outcome: &Result<String>) -> Duration {
        Duration::from_millis(self.config.interval_ms.max(1))
    }

    async fn sync(&mut self, _id: u64, _from: Timestamp, _to: Timestamp) -> Result<Reply> {
        Err(anyhow!("the constant source has nothing to sync or command"))
    }

    async fn command(&mut self, _name: &str, _args: serde_json::Value) -> Result<Reply> {
        Err(anyhow!("the constant source has nothing to sync or command"))
    }
}
