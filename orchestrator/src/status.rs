//! `hemflux status`, `hemflux restart` and `hemflux health`: clients of a running orchestrator.

use std::net::SocketAddr;

use anyhow::{bail, Result};

use crate::api::Api;

pub async fn status(listen: SocketAddr, data: &std::path::Path, json: bool) -> Result<()> {
    let api = Api::reading(listen, data);
    let workers = api.workers().await?;
    let errors: Vec<String> = api.get("/api/errors").await?;
    let sinks: Vec<serde_json::Value> = api.get("/api/sinks").await?;
    // `/health` says why the orchestrator is not healthy (a store that cannot write).
    let health = match api.get_ok("/health").await {
        Ok(_) => None,
        Err(_) => Some(api.health_text().await),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"workers": workers, "config_errors": errors, "sinks": sinks, "unhealthy": health})
        );
        return Ok(());
    }
    if let Some(h) = &health {
        println!("NOT HEALTHY: {}", h.trim());
    }
    let rows: Vec<WorkerViewRow> = workers
        .iter()
        .map(|w| serde_json::from_value(w.clone()))
        .collect::<Result<_, _>>()?;
    // As wide as the longest id, so that every row lines up.
    let id_width = rows
        .iter()
        .map(|w| w.id.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let kind_width = rows.iter().map(|w| w.kind.len()).max().unwrap_or(0).max(4);
    println!(
        "{:<id_width$} {:<kind_width$} {:<9} {:>8} {:>8} {:>10}  ERROR NOW (LAST ERROR, AT)",
        "WORKER", "KIND", "STATE", "PID", "RESTARTS", "POINTS"
    );
    for w in &rows {
        println!(
            "{:<id_width$} {:<kind_width$} {:<9} {:>8} {:>8} {:>10}  {}",
            w.id,
            w.kind,
            w.state,
            w.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            w.restarts,
            w.points,
            describe_errors(w)
        );
    }
    for s in &sinks {
        println!(
            "sink {}: {} points behind, {}",
            s["name"].as_str().unwrap_or("?"),
            s["points_behind"],
            describe_sink_errors(s)
        );
    }
    for e in &errors {
        println!("config error: {e}");
    }
    Ok(())
}

/// The sink's problem now, else the last one and when it was, else "no errors".
fn describe_sink_errors(sink: &serde_json::Value) -> String {
    match (
        sink["error"].as_str(),
        sink["last_error"].as_str(),
        sink["last_error_at"].as_str(),
    ) {
        (Some(now), _, _) => format!("error: {now}"),
        (None, Some(last), Some(at)) => format!("ok (last error at {at}: {last})"),
        _ => "no errors".to_string(),
    }
}

/// The fields of a worker's view (`supervisor::WorkerView`) that the table shows.
#[derive(serde::Deserialize)]
struct WorkerViewRow {
    id: String,
    kind: String,
    state: String,
    pid: Option<i32>,
    restarts: u64,
    points: u64,
    error: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<String>,
}

/// The error now, else the last one and when it happened.
fn describe_errors(w: &WorkerViewRow) -> String {
    match (&w.error, &w.last_error, &w.last_error_at) {
        (Some(now), _, _) => now.clone(),
        (None, Some(last), Some(at)) => format!("none ({last}, at {at})"),
        _ => String::new(),
    }
}

pub async fn restart(listen: SocketAddr, data: &std::path::Path, id: &str) -> Result<()> {
    let resp = Api::with_token(listen, data)?
        .post(
            &format!("/api/workers/{id}/restart"),
            &serde_json::Value::Null,
        )
        .await?;
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
    Api::new(listen).get_ok("/health").await?;
    println!("ok");
    Ok(())
}
