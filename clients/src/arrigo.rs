//! A client of the Arrigo BMS API (../shared/protocols/arrigo.md): login, token refresh on
//! expiry (both tokens rotate), GraphQL with signal discovery, current values and paged history.
//! Used by the `building` worker and by `hemflux add-building`, so it
//! depends on nothing but the crates both have. It never logs a token or a password.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use jiff::Timestamp;
use reqwest::header::{AUTHORIZATION, DATE};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The server refused the username or password (HTTP 401 on login).
    #[error("Arrigo refused the username or password")]
    BadCredentials,
    /// No answer, or one that is not a login.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl LoginError {
    /// Worth trying again: anything but refused credentials.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LoginError::Other(_))
    }
}

struct Tokens {
    auth: String,
    refresh: String,
}

pub struct Arrigo {
    http: reqwest::Client,
    base: String,
    username: String,
    password: String,
    tokens: Option<Tokens>,
    /// Set once the server rejected `timeLengthComparer`; history is then asked without it.
    no_comparer: bool,
}

/// One analog signal as `analogs` lists it.
#[derive(Debug, Clone)]
pub struct Analog {
    pub id: String,
    pub name: String,
    pub value: Option<f64>,
    pub unit: String,
}

/// Current values, stamped with the server's clock (its `Date` header) when it answered.
/// One digital signal as `digitals` lists it.
#[derive(Debug, Clone)]
pub struct Digital {
    pub id: String,
    pub name: String,
}

pub struct Reading {
    pub time: Timestamp,
    pub analogs: Vec<Analog>,
}

pub struct HistoryRow {
    pub signal_id: String,
    pub time: Timestamp,
    pub value: Option<f64>,
}

pub struct HistoryPage {
    pub rows: Vec<HistoryRow>,
    /// The cursor to ask for the next page with, if there is one.
    pub next: Option<String>,
}

const ANALOGS_QUERY: &str =
    "query($first: Int, $after: String) { analogs(first: $first, after: $after) { \
     totalCount pageInfo { hasNextPage endCursor } items { id name value unit } } }";

const DIGITALS_QUERY: &str =
    "query($first: Int, $after: String) { digitals(first: $first, after: $after) { \
     totalCount pageInfo { hasNextPage endCursor } items { id name } } }";

const ALARMS_QUERY: &str =
    "query($first: Int, $after: String) { alarms(first: $first, after: $after) { \
     totalCount pageInfo { hasNextPage endCursor } items { status } } }";

const HISTORY_QUERY: &str = "query($first: Int!, $after: String, $filter: AnalogEventFilter) { \
     analogsHistory(first: $first, after: $after, filter: $filter) { \
     totalCount pageInfo { hasNextPage endCursor } items { signalId time value } } }";

impl Arrigo {
    /// `base_url` is the API root, such as `https://host/arrigo/api`; `timeout` bounds each request.
    pub fn new(
        base_url: &str,
        username: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Arrigo> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Arrigo {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            username: username.to_string(),
            password: password.to_string(),
            tokens: None,
            no_comparer: false,
        })
    }

    pub async fn login(&mut self) -> Result<(), LoginError> {
        let url = format!("{}/login", self.base);
        let res = self
            .http
            .post(&url)
            .json(&json!({"username": self.username, "password": self.password}))
            .send()
            .await
            .with_context(|| format!("logging in at {url}"))?;
        if res.status() == StatusCode::UNAUTHORIZED {
            return Err(LoginError::BadCredentials);
        }
        let body = json_of(res, &url).await?;
        self.tokens = Some(tokens_of(&body).context("the login answer")?);
        tracing::info!("logged in to Arrigo");
        Ok(())
    }

    /// Trades the (expired) auth token and the refresh token for a new pair.
    async fn refresh(&mut self) -> Result<()> {
        let tokens = self
            .tokens
            .as_ref()
            .ok_or_else(|| anyhow!("not logged in"))?;
        let url = format!("{}/login/refresh", self.base);
        let res = self
            .http
            .post(&url)
            .header(AUTHORIZATION, format!("Bearer {}", tokens.auth))
            .json(&json!({"refreshToken": tokens.refresh}))
            .send()
            .await
            .with_context(|| format!("refreshing the token at {url}"))?;
        let body = json_of(res, &url).await?;
        self.tokens = Some(tokens_of(&body).context("the refresh answer")?);
        tracing::info!("Arrigo token refreshed");
        Ok(())
    }

    /// Gets a fresh auth token after a 401: a refresh when the token merely expired, else (or
    /// if the refresh fails) a new login.
    async fn renew(&mut self, expired: bool) -> Result<()> {
        if expired && self.tokens.is_some() {
            match self.refresh().await {
                Ok(()) => return Ok(()),
                Err(e) => tracing::warn!("token refresh failed, logging in again: {e:#}"),
            }
        }
        Ok(self.login().await?)
    }

    /// Runs a GraphQL query and returns its `data` and the server's `Date`.
    pub async fn query(
        &mut self,
        query: &str,
        variables: Value,
    ) -> Result<(Value, Option<Timestamp>)> {
        if self.tokens.is_none() {
            self.login().await?;
        }
        let url = format!("{}/graphql", self.base);
        let body = json!({"query": query, "variables": variables});
        let mut renewed = false;
        loop {
            let auth = &self.tokens.as_ref().expect("logged in").auth;
            let res = self
                .http
                .post(&url)
                .header(AUTHORIZATION, format!("Bearer {auth}"))
                .json(&body)
                .send()
                .await
                .with_context(|| format!("calling {url}"))?;
            if res.status() == StatusCode::UNAUTHORIZED && !renewed {
                let expired = res
                    .headers()
                    .get("token-expired")
                    .is_some_and(|v| v == "true");
                tracing::info!(expired, "Arrigo answered 401: renewing the token");
                self.renew(expired).await?;
                renewed = true;
                continue;
            }
            let date = res
                .headers()
                .get(DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| {
                    jiff::fmt::rfc2822::DateTimeParser::new()
                        .parse_timestamp(s)
                        .ok()
                });
            let answer = json_of(res, &url).await?;
            if let Some(errors) = answer.get("errors").and_then(Value::as_array) {
                let messages: Vec<&str> = errors
                    .iter()
                    .filter_map(|e| e["message"].as_str())
                    .collect();
                bail!("GraphQL error from {url}: {}", messages.join("; "));
            }
            return Ok((answer["data"].clone(), date));
        }
    }

    /// Every item of a root connection (`analogs`, `alarms`), following pages if the server has
    /// many, with the server's `Date` of the first answer.
    async fn all_items(
        &mut self,
        query: &str,
        field: &str,
    ) -> Result<(Vec<Value>, Option<Timestamp>)> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        let mut time = None;
        loop {
            let (data, date) = self
                .query(query, json!({"first": 500, "after": after}))
                .await?;
            time = time.or(date);
            let conn = &data[field];
            let items = conn["items"]
                .as_array()
                .ok_or_else(|| anyhow!("the {field} answer has no items"))?;
            all.extend(items.iter().cloned());
            match next_cursor(conn) {
                Some(c) if !items.is_empty() => after = Some(c),
                _ => return Ok((all, time)),
            }
        }
    }

    /// Every analog signal with its current value.
    pub async fn analogs(&mut self) -> Result<Reading> {
        let (items, time) = self.all_items(ANALOGS_QUERY, "analogs").await?;
        let analogs = items
            .iter()
            .map(|item| {
                Ok(Analog {
                    id: str_field(item, "id")?,
                    name: str_field(item, "name")?,
                    value: item["value"].as_f64(),
                    unit: item["unit"].as_str().unwrap_or_default().to_string(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let time = time.unwrap_or_else(|| {
            tracing::warn!("Arrigo sent no Date header: stamping values with this machine's clock");
            Timestamp::now()
        });
        Ok(Reading { time, analogs })
    }

    /// Every digital signal (pumps running, alarms, switches): what discovery lists.
    pub async fn digitals(&mut self) -> Result<Vec<Digital>> {
        let (items, _) = self.all_items(DIGITALS_QUERY, "digitals").await?;
        items
            .iter()
            .map(|item| {
                Ok(Digital {
                    id: str_field(item, "id")?,
                    name: str_field(item, "name")?,
                })
            })
            .collect()
    }

    /// How many alarms the server lists in each status (`ALARMED`, `RETURNED`, ...).
    pub async fn alarm_counts(&mut self) -> Result<BTreeMap<String, u64>> {
        let (items, _) = self.all_items(ALARMS_QUERY, "alarms").await?;
        let mut counts = BTreeMap::new();
        for item in &items {
            *counts.entry(str_field(item, "status")?).or_default() += 1;
        }
        Ok(counts)
    }

    /// One page of one signal's history over [from, to) at `time_length` seconds per bucket.
    pub async fn history_page(
        &mut self,
        signal_id: &str,
        (from, to): (Timestamp, Timestamp),
        time_length: u64,
        after: Option<&str>,
    ) -> Result<HistoryPage> {
        let mut filter = json!({"signalId": [signal_id],
            "ranges": [{"from": from.to_string(), "to": to.to_string()}],
            "timeLength": time_length, "timeLengthComparer": "equal"});
        if self.no_comparer {
            filter
                .as_object_mut()
                .expect("object")
                .remove("timeLengthComparer");
        }
        let vars = json!({"first": 20_000, "after": after, "filter": filter});
        let data = match self.query(HISTORY_QUERY, vars.clone()).await {
            Err(e) if !self.no_comparer && format!("{e:#}").contains("timeLengthComparer") => {
                tracing::info!("this Arrigo rejects timeLengthComparer: asking without it");
                self.no_comparer = true;
                return Box::pin(self.history_page(signal_id, (from, to), time_length, after))
                    .await;
            }
            other => other?.0,
        };
        let conn = &data["analogsHistory"];
        let items = conn["items"]
            .as_array()
            .ok_or_else(|| anyhow!("the history answer has no items"))?;
        let rows = items
            .iter()
            .map(|item| {
                Ok(HistoryRow {
                    signal_id: str_field(item, "signalId")?,
                    time: parse_time(&str_field(item, "time")?)?,
                    value: item["value"].as_f64(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = next_cursor(conn).filter(|_| !rows.is_empty());
        Ok(HistoryPage { rows, next })
    }
}

fn next_cursor(conn: &Value) -> Option<String> {
    if conn["pageInfo"]["hasNextPage"].as_bool() == Some(true) {
        conn["pageInfo"]["endCursor"].as_str().map(str::to_string)
    } else {
        None
    }
}

fn str_field(item: &Value, key: &str) -> Result<String> {
    item[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("an item without {key:?}: {item}"))
}

/// Arrigo's times come with `Z`, with an offset, or naive (taken as UTC).
fn parse_time(s: &str) -> Result<Timestamp> {
    s.parse::<Timestamp>()
        .or_else(|_| {
            s.parse::<jiff::civil::DateTime>()
                .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC))
                .map(|z| z.timestamp())
        })
        .with_context(|| format!("{s:?} is not a time"))
}

fn tokens_of(body: &Value) -> Result<Tokens> {
    match (body["authToken"].as_str(), body["refreshToken"].as_str()) {
        (Some(a), Some(r)) => Ok(Tokens {
            auth: a.to_string(),
            refresh: r.to_string(),
        }),
        _ => bail!("no authToken/refreshToken in it"),
    }
}

/// The JSON of a 2xx answer; anything else (a 500, an HTML page, cut-off JSON) is an error
/// that says what came back, briefly.
async fn json_of(res: reqwest::Response, url: &str) -> Result<Value> {
    let status = res.status();
    let is_html = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("html"));
    let text = res
        .text()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    if !status.is_success() {
        let what = if is_html { "an HTML page" } else { "an error" };
        bail!(
            "{url} answered HTTP {status} with {what}: {}",
            snippet(&text)
        );
    }
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{url} answered HTTP {status} with {} bytes that are not JSON (cut off?)",
            text.len()
        )
    })
}

fn snippet(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_z_offset_or_none_are_utc() {
        let want: Timestamp = "2026-02-01T00:05:00Z".parse().unwrap();
        for s in [
            "2026-02-01T00:05:00Z",
            "2026-02-01T01:05:00+01:00",
            "2026-02-01T00:05:00",
        ] {
            assert_eq!(parse_time(s).unwrap(), want, "{s}");
        }
        assert!(parse_time("yesterday").is_err());
    }
}
