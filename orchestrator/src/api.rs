//! A client of a running orchestrator's HTTP API, for the commands that talk to it
//! (`status`, `restart`, `health`, `backfill`, `sync`, `remove`, and the demo's summary).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(listen: SocketAddr) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("http://{listen}"),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` within 10 s; an error unless the answer is a success.
    pub async fn get_ok(&self, path: &str) -> Result<reqwest::Response> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .with_context(|| format!("is `hemflux run` listening on {}?", self.base))?;
        Ok(resp.error_for_status()?)
    }

    /// `GET path` as JSON, within 10 s.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.get_ok(path).await?;
        resp.json()
            .await
            .with_context(|| format!("reading {}{path}", self.base))
    }

    /// The workers, as `GET /api/workers` lists them.
    pub async fn workers(&self) -> Result<Vec<Value>> {
        self.get("/api/workers").await
    }

    /// `POST path` with a JSON body, without a time limit (a sync answers when it is done).
    pub async fn post(&self, path: &str, body: &Value) -> Result<reqwest::Response> {
        self.http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .with_context(|| format!("is `hemflux run` listening on {}?", self.base))
    }
}
