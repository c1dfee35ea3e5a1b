//! A Dropbox API v2 client for an app folder (`../shared/protocols/dropbox.md`): short-lived
//! access tokens from the app's refresh token, renewed before expiry and on a 401; 429 and 5xx
//! retried after `Retry-After`. Used by the `district_heating` worker's file exchange.
//!
//! Secrets never appear in `Debug` output or in errors.

use std::fmt;
use std::time::Duration;

use hemflux_shared::retry::RetryPolicy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::oauth::post_token_form;

/// After a 429 or 5xx without `Retry-After`: 2, 4, 8, 16 s; never longer than a minute.
const RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_secs(2),
    factor: 2,
    cap: Duration::from_secs(60),
    jitter: 0.0,
};

#[derive(Debug, thiserror::Error)]
pub enum DropboxError {
    #[error("Dropbox refused the app's credentials ({0}): authorize the app again and put DROPBOX_APP_KEY, DROPBOX_APP_SECRET and DROPBOX_REFRESH_TOKEN in .env")]
    CredentialsRefused(String),
    #[error("the Dropbox token endpoint answered {status} ({error})")]
    TokenEndpoint { status: StatusCode, error: String },
    #[error("the Dropbox token answer has no access_token")]
    NoAccessToken,
    #[error("Dropbox {route} answered {status}: {what}")]
    Route {
        route: &'static str,
        status: StatusCode,
        what: String,
    },
    #[error("Dropbox {0} answer is not JSON")]
    NotJson(&'static str, #[source] serde_json::Error),
    /// No answer at all, or the answer broke off.
    #[error("{what}")]
    Transport {
        what: String,
        #[source]
        source: reqwest::Error,
    },
}

impl DropboxError {
    /// No answer, or Dropbox asked to come back later (after this client's own retries).
    pub fn is_retryable(&self) -> bool {
        match self {
            DropboxError::Transport { .. } => true,
            DropboxError::Route { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            _ => false,
        }
    }
}

pub type Result<T, E = DropboxError> = std::result::Result<T, E>;

/// The app's credentials, from `.env`.
pub struct DropboxApp {
    pub app_key: String,
    pub app_secret: String,
    pub refresh_token: String,
}

/// Where Dropbox is: its three hosts (the simulator's, in tests).
pub struct DropboxUrls {
    pub api: String,
    pub content: String,
    pub token: String,
}

pub struct DropboxClient {
    http: reqwest::Client,
    app: DropboxApp,
    api_url: String,
    content_url: String,
    token_url: String,
    /// `""` (the app folder's root) or `/data`.
    folder: String,
    access: Option<(String, Instant)>,
}

impl fmt::Debug for DropboxClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropboxClient")
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

/// How a route takes its argument and gives its result.
enum Style<'a> {
    Rpc(Value),
    Download(Value),
    Upload(Value, &'a [u8]),
}

impl DropboxClient {
    /// A client for `folder` (`""` or `/data`) in the app folder.
    pub fn new(http: reqwest::Client, app: DropboxApp, urls: DropboxUrls, folder: &str) -> Self {
        DropboxClient {
            http,
            app,
            api_url: urls.api.trim_end_matches('/').into(),
            content_url: urls.content.trim_end_matches('/').into(),
            token_url: urls.token,
            folder: folder.trim_end_matches('/').into(),
            access: None,
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.folder)
    }

    async fn access_token(&mut self) -> Result<String> {
        if let Some((token, until)) = &self.access {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", self.app.refresh_token.as_str()),
            ("client_id", self.app.app_key.as_str()),
            ("client_secret", self.app.app_secret.as_str()),
        ];
        let (status, body) = post_token_form(&self.http, &self.token_url, &form)
            .await
            .map_err(|source| DropboxError::Transport {
                what: "refreshing the Dropbox access token".into(),
                source,
            })?;
        if !status.is_success() {
            let error = body["error"]
                .as_str()
                .unwrap_or("no error code")
                .to_string();
            if error == "invalid_grant" || error == "invalid_client" {
                return Err(DropboxError::CredentialsRefused(error));
            }
            return Err(DropboxError::TokenEndpoint { status, error });
        }
        let token = body["access_token"]
            .as_str()
            .ok_or(DropboxError::NoAccessToken)?
            .to_string();
        let lifetime = body["expires_in"].as_u64().unwrap_or(14_400);
        // Renew 5 minutes early (a quarter of the lifetime for short-lived tokens).
        let usable = lifetime.saturating_sub(300).max(lifetime * 3 / 4);
        self.access = Some((token.clone(), Instant::now() + Duration::from_secs(usable)));
        Ok(token)
    }

    /// Calls a route; the answer's status and body.
    async fn call(
        &mut self,
        route: &'static str,
        style: Style<'_>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.access_token().await?;
            let req = match &style {
                Style::Rpc(arg) => self
                    .http
                    .post(format!("{}/2/{route}", self.api_url))
                    .json(arg),
                Style::Download(arg) => self
                    .http
                    .post(format!("{}/2/{route}", self.content_url))
                    .header("Dropbox-API-Arg", ascii_json(arg)),
                Style::Upload(arg, bytes) => self
                    .http
                    .post(format!("{}/2/{route}", self.content_url))
                    .header("Dropbox-API-Arg", ascii_json(arg))
                    .header("Content-Type", "application/octet-stream")
                    .body(bytes.to_vec()),
            };
            let resp =
                req.bearer_auth(token)
                    .send()
                    .await
                    .map_err(|source| DropboxError::Transport {
                        what: format!("calling Dropbox {route}"),
                        source,
                    })?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body = resp
                .bytes()
                .await
                .map_err(|source| DropboxError::Transport {
                    what: format!("reading Dropbox {route}"),
                    source,
                })?
                .to_vec();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                // Expired (or revoked) mid-run: a new access token, then the same call once more.
                tracing::info!(route, "Dropbox access token expired: refreshing");
                self.access = None;
                refreshed = true;
                continue;
            }
            if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) && attempt <= 4
            {
                let wait = retry_after
                    .map(Duration::from_secs)
                    .unwrap_or_else(|| RETRY.delay(attempt - 1, 0.0))
                    .min(RETRY.cap);
                tracing::warn!(route, %status, wait = wait.as_secs(), "Dropbox asks to retry later");
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok((status, body));
        }
    }
}

/// A route error (409) whose `error` union says "not found" (`path` or `path_lookup`).
fn is_not_found(status: StatusCode, body: &[u8]) -> bool {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = &v["error"];
    status == StatusCode::CONFLICT && e[e[".tag"].as_str().unwrap_or("path")][".tag"] == "not_found"
}

fn failure(route: &'static str, status: StatusCode, body: &[u8]) -> DropboxError {
    let text = String::from_utf8_lossy(body);
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let what = v["error_summary"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(300).collect());
    DropboxError::Route {
        route,
        status,
        what,
    }
}

/// JSON for an HTTP header: non-ASCII as `\uXXXX`, as Dropbox requires.
fn ascii_json(v: &Value) -> String {
    v.to_string()
        .encode_utf16()
        .map(|u| {
            if u < 0x80 {
                (u as u8 as char).to_string()
            } else {
                format!("\\u{u:04x}")
            }
        })
        .collect()
}

impl DropboxClient {
    pub fn describe(&self) -> String {
        format!("Dropbox folder {:?}", self.folder)
    }

    /// Names of the files in the folder: the whole listing, however many pages.
    pub async fn list(&mut self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let (mut route, mut arg) = (
            "files/list_folder",
            json!({"path": self.folder, "recursive": false}),
        );
        loop {
            let (status, body) = self.call(route, Style::Rpc(arg)).await?;
            if route == "files/list_folder" && is_not_found(status, &body) {
                return Ok(names);
            }
            if !status.is_success() {
                return Err(failure(route, status, &body));
            }
            let page: Value = serde_json::from_slice(&body)
                .map_err(|e| DropboxError::NotJson("list_folder", e))?;
            for e in page["entries"].as_array().into_iter().flatten() {
                if e[".tag"] == "file" {
                    names.extend(e["name"].as_str().map(str::to_string));
                }
            }
            // The whole listing: a large folder comes in several pages.
            if page["has_more"] != true {
                return Ok(names);
            }
            (route, arg) = (
                "files/list_folder/continue",
                json!({"cursor": page["cursor"]}),
            );
        }
    }

    pub async fn download(&mut self, name: &str) -> Result<Vec<u8>> {
        let route = "files/download";
        let (status, body) = self
            .call(route, Style::Download(json!({"path": self.path(name)})))
            .await?;
        if !status.is_success() {
            return Err(failure(route, status, &body));
        }
        Ok(body)
    }

    /// Creates or replaces the file.
    pub async fn upload(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let route = "files/upload";
        let arg = json!({"path": self.path(name), "mode": "overwrite", "autorename": false, "mute": true});
        let (status, body) = self.call(route, Style::Upload(arg, bytes)).await?;
        if !status.is_success() {
            return Err(failure(route, status, &body));
        }
        Ok(())
    }

    /// Deletes the file; one already gone is fine.
    pub async fn delete(&mut self, name: &str) -> Result<()> {
        let route = "files/delete_v2";
        let (status, body) = self
            .call(route, Style::Rpc(json!({"path": self.path(name)})))
            .await?;
        if status.is_success() || is_not_found(status, &body) {
            return Ok(());
        }
        Err(failure(route, status, &body))
    }
}
