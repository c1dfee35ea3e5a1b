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
    /// The API token, for the calls that change things.
    token: Option<String>,
    /// Where to find the token for reads (once web accounts exist, reads need it); read
    /// at each call, since the orchestrator may create it after this client.
    data: Option<std::path::PathBuf>,
}

impl Api {
    /// A client for the read-only calls.
    pub fn new(listen: SocketAddr) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("http://{listen}"),
            token: None,
            data: None,
        }
    }

    /// A client for reads that sends the token of `data` when it can read it.
    pub fn reading(listen: SocketAddr, data: &std::path::Path) -> Api {
        Api {
            data: Some(data.to_path_buf()),
            ..Api::new(listen)
        }
    }

    /// A client that also changes things, with the token of the orchestrator on `data`.
    pub fn with_token(listen: SocketAddr, data: &std::path::Path) -> Result<Api> {
        Ok(Api {
            token: Some(crate::auth::read_token(data)?),
            ..Api::new(listen)
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` within 10 s; an error unless the answer is a success.
    pub async fn get_ok(&self, path: &str) -> Result<reqwest::Response> {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(10));
        let token = self.token.clone().or_else(|| {
            let data = self.data.as_deref()?;
            crate::auth::read_token(data).ok()
        });
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("is `hemflux run` listening on {}?", self.base))?;
        Ok(resp.error_for_status()?)
    }

    /// What `/health` says, whatever its status.
    pub async fn health_text(&self) -> String {
        let resp = self
            .http
            .get(format!("{}/health", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match resp {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => e.to_string(),
        }
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
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req.send()
            .await
            .with_context(|| format!("is `hemflux run` listening on {}?", self.base))
    }
}
