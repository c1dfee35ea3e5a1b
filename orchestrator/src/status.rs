//! `hemflux status`, `hemflux restart` and `hemflux health`: clients of a running orchestrator.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::supervisor::WorkerView;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

pub async fn status(listen: SocketAddr, json: bool) -> Result<()> {
    let base = format!("http://{listen}");
    let get = |path: &str| client().get(format!("{base}{path}")).send();
    let workers: Vec<serde_json::Value> = get("/api/workers")
        .await
        .with_context(|| format!("is `hemflux run` listening on {listen}?"))?
        .error_for_status()?
        .json()
        .await?;
    let errors: Vec<String> = get("/api/errors").await?.error_for_status()?.json().await?;
    let sinks: Vec<serde_json::Value> = get("/api/sinks").await?.error_for_status()?.json().await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"workers": workers, "config_errors": errors, "sinks": sinks})
        );
        return Ok(());
    }
    println!(
        "{:<40} {:<10} {:<9} {:>8} {:>8} {:>10}  LAST ERROR",
        "WORKER", "KIND", "STATE", "PID", "RESTARTS", "POINTS"
    );
    for w in &workers {
        let w: WorkerViewRow = serde_json::from_value(w.clone())?;
        println!(
            "{:<40} {:<10} {:<9} {:>8} {:>8} {:>10}  {}",
            w.id,
            w.kind,
            w.state,
            w.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            w.restarts,
            w.points,
            w.last_error.unwrap_or_default()
        );
    }
    for s in &sinks {
        println!(
            "sink {}: {} points behind, last error: {}",
            s["name"].as_str().unwrap_or("?"),
            s["points_behind"],
            s["last_error"].as_str().unwrap_or("none")
        );
    }
    for e in &errors {
        println!("config error: {e}");
    }
    Ok(())
}

/// The fields of [`WorkerView`] the table shows, read back from JSON.
#[derive(serde::Deserialize)]
struct WorkerViewRow {
    id: String,
    kind: String,
    state: String,
    pid: Option<i32>,
    restarts: u64,
    points: u64,
    last_error: Option<String>,
}

const _: fn(&WorkerView) = |_| {};

pub async fn restart(listen: SocketAddr, id: &str) -> Result<()> {
    let resp = client()
        .post(format!("http://{listen}/api/workers/{id}/restart"))
        .send()
        .await
        .with_context(|| format!("is `hemflux run` listening on {listen}?"))?;
    let ok = resp.status().is_success();
    let body = resp.text().await?;
    if !ok {
        bail!("{body}");
    }
    println!("{id}: restarting");
    Ok(())
}

/// Exits non-zero unless the orchestrator answers `/health`: the container's HEALTHCHECK.
pub async fn health(listen: SocketAddr) -> Result<()> {
    let resp = client()
        .get(format!("http://{listen}/health"))
        .send()
        .await
        .with_context(|| format!("nothing answers on {listen}"))?;
    if !resp.status().is_success() {
        bail!("unhealthy: {}", resp.status());
    }
    println!("ok");
    Ok(())
}
