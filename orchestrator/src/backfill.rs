//! `hemflux backfill <entity> --from T --to T`: asks the running orchestrator to have the
//! entity's worker import a time range (`POST /api/workers/<id>/sync`, answered when the worker
//! is done) and shows its progress from the worker's status (`backfill: 3/12 chunks, ...`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use hemflux_shared::time::parse_instant;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use serde_json::{json, Value};

use crate::api::Api;

#[derive(clap::Args, Debug)]
pub struct BackfillArgs {
    /// A worker id (`building:kontor_3`, `house:villa_12`) or a building or house id (a house
    /// imports from the Arrigo server its profile's `arrigo_history` names).
    pub entity: String,
    /// Start of the range: `2024-01-01`, `2024-01-01T06:00:00` (UTC) or RFC 3339.
    #[arg(long)]
    pub from: String,
    /// End of the range (exclusive); default now.
    #[arg(long)]
    pub to: Option<String>,
    /// Where the orchestrator's HTTP API listens (`hemflux run --listen`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The orchestrator's data folder, which holds the API token.
    #[arg(long, default_value = "data")]
    pub data: std::path::PathBuf,
}

/// Progress as the building worker reports it: (done, total, points).
fn parse_progress(status: &str) -> Option<(u64, u64, u64)> {
    let rest = status.strip_prefix("backfill: ")?;
    let (chunks, rest) = rest.split_once(" chunks, ")?;
    let (done, total) = chunks.split_once('/')?;
    let points = rest.split_once(" points")?.0;
    Some((
        done.parse().ok()?,
        total.parse().ok()?,
        points.parse().ok()?,
    ))
}

pub async fn run(args: BackfillArgs) -> Result<()> {
    let from = parse_instant(&args.from).map_err(|e| anyhow!("--from: {e}"))?;
    let to = match &args.to {
        Some(t) => parse_instant(t).map_err(|e| anyhow!("--to: {e}"))?,
        None => Timestamp::now(),
    };
    if from >= to {
        bail!("--from {from} is not before --to {to}");
    }
    let api = Api::with_token(args.listen, &args.data)?;
    let id = worker_id(&api, &args.entity).await?;
    let body = json!({"from": from.to_string(), "to": to.to_string()});
    let path = format!("/api/workers/{id}/sync");
    let sync = api.post(&path, &body);
    let mut sync = Box::pin(sync);

    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} chunks {msg}",
        )
        .expect("a valid template"),
    );
    bar.set_message(format!("{id}: waiting for the worker"));
    let response = loop {
        tokio::select! {
            r = &mut sync => break r?,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                if let Some((done, total, points)) = progress(&api, &id).await {
                    bar.set_length(total);
                    bar.set_position(done);
                    bar.set_message(format!("{points} points"));
                }
            }
        }
    };
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["message"].as_str().unwrap_or("").to_string();
    if status.is_success() && body["ok"] == true {
        bar.finish_and_clear();
        println!("{id}: {message}");
        Ok(())
    } else {
        bar.abandon();
        bail!(
            "{id}: backfill failed (HTTP {}): {message}",
            status.as_u16()
        )
    }
}

/// The worker that imports an entity's history: a building's, else a house's.
async fn worker_id(api: &Api, entity: &str) -> Result<String> {
    if entity.contains(':') {
        return Ok(entity.to_string());
    }
    let workers = api.workers().await?;
    let candidates = [format!("building:{entity}"), format!("house:{entity}")];
    candidates
        .iter()
        .find(|id| workers.iter().any(|w| w["id"] == id.as_str()))
        .cloned()
        .ok_or_else(|| {
            anyhow!("no building or house {entity:?} is running (hemflux status lists the workers)")
        })
}

/// The worker's latest backfill progress from `/api/workers`, if it reported any.
async fn progress(api: &Api, id: &str) -> Option<(u64, u64, u64)> {
    let workers = api.workers().await.ok()?;
    let status = workers.iter().find(|w| w["id"] == id)?["status"]
        .as_str()?
        .to_string();
    parse_progress(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_building_workers_progress() {
        assert_eq!(
            parse_progress("backfill: 3/13 chunks, 2160 points, through 2024-03-31T00:00:00Z"),
            Some((3, 13, 2160))
        );
        assert_eq!(parse_progress("poll: no values"), None);
    }
}
