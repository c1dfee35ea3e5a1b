//! A Tibber GraphQL client (`../shared/protocols/tibber.md`): today's and tomorrow's prices
//! (hourly and quarter-hourly, in one request) and hourly consumption, paged with cursors.
//! Used by the `meter` worker. Requests are spaced by at least `min_interval`: Tibber bans an IP
//! for ~10 minutes after about 100 requests in 5 minutes.
//!
//! The token never appears in `Debug` output or in errors.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::time::Instant;

const PRICE_FIELDS: &str = "total energy tax startsAt currency level";
const PRICES: &str = "query($id: ID!) { viewer { home(id: $id) { currentSubscription {
  hourly: priceInfo(resolution: HOURLY) { today { PRICE } tomorrow { PRICE } }
  quarterly: priceInfo(resolution: QUARTER_HOURLY) { today { PRICE } tomorrow { PRICE } } } } } }";
const CONSUMPTION: &str = "query($id: ID!, $after: String, $first: Int) { viewer { home(id: $id) {
  consumption(resolution: HOURLY, first: $first, after: $after) {
    pageInfo { endCursor hasNextPage }
    nodes { from cost unitPrice consumption currency } } } } }";

#[derive(Debug, thiserror::Error)]
pub enum TibberError {
    /// 429: the IP is banned for a while, and each request renews the ban.
    #[error("Tibber's rate limit was hit (429, the IP is banned for a while): pausing 15 minutes")]
    RateLimited,
    #[error("Tibber refused the token ({message}): check {token_env} in .env (a token from developer.tibber.com)")]
    Unauthenticated { message: String, token_env: String },
    #[error("Tibber answered {status}: {message} ({code})")]
    Graphql {
        status: reqwest::StatusCode,
        message: String,
        code: String,
    },
    #[error("Tibber answered {status} with no JSON: {snippet}")]
    NotJson {
        status: reqwest::StatusCode,
        snippet: String,
    },
    #[error("Tibber answered {0}")]
    Http(reqwest::StatusCode),
    #[error("Tibber home {0} has no current subscription (or is not this token's)")]
    NoSubscription(String),
    /// No answer at all, or the answer broke off.
    #[error("{what}")]
    Transport {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
}

impl TibberError {
    /// No answer at all: worth trying again soon. Errors Tibber answered wait for the next poll,
    /// since retrying them sooner would only spend the rate limit.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TibberError::Transport { .. })
    }

    pub fn is_rate_limited(&self) -> bool {
        matches!(self, TibberError::RateLimited)
    }
}

pub type Result<T, E = TibberError> = std::result::Result<T, E>;

pub struct TibberClient {
    http: reqwest::Client,
    url: String,
    token: String,
    /// The `.env` key the token came from, named when Tibber refuses it.
    token_env: String,
    min_interval: Duration,
    last_request: Option<Instant>,
}

impl fmt::Debug for TibberClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TibberClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// One page of hourly consumption.
#[derive(Debug, Clone)]
pub struct ConsumptionPage {
    /// `{from, cost, unitPrice, consumption, currency}` each, oldest first.
    pub nodes: Vec<Value>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

impl TibberClient {
    /// `http` should carry a User-Agent: Tibber refuses requests without one.
    pub fn new(
        http: reqwest::Client,
        url: &str,
        token: String,
        token_env: String,
        min_interval: Duration,
    ) -> Self {
        TibberClient {
            http,
            url: url.to_string(),
            token,
            token_env,
            min_interval,
            last_request: None,
        }
    }

    /// The home's `currentSubscription` with `hourly` and `quarterly` price lists, each with
    /// `today` and `tomorrow` arrays of `{total, energy, tax, startsAt, currency, level}`.
    pub async fn prices(&mut self, home_id: &str) -> Result<Value> {
        let query = PRICES.replace("PRICE", PRICE_FIELDS);
        let data = self.query(&query, json!({"id": home_id})).await?;
        let sub = &data["viewer"]["home"]["currentSubscription"];
        if sub.is_null() {
            return Err(TibberError::NoSubscription(home_id.to_string()));
        }
        Ok(sub.clone())
    }

    /// Up to `first` hours of consumption after `cursor` (exclusive; see [`cursor_at`]).
    pub async fn consumption(
        &mut self,
        home_id: &str,
        cursor: &str,
        first: u32,
    ) -> Result<ConsumptionPage> {
        let vars = json!({"id": home_id, "after": cursor, "first": first});
        let data = self.query(CONSUMPTION, vars).await?;
        let conn = &data["viewer"]["home"]["consumption"];
        let nodes = conn["nodes"].as_array().cloned().unwrap_or_default();
        let next = match conn["pageInfo"]["endCursor"].as_str() {
            Some(end) if conn["pageInfo"]["hasNextPage"] == true => Some(end.to_string()),
            _ => None,
        };
        Ok(ConsumptionPage { nodes, next })
    }

    /// One GraphQL request, spaced from the previous one; the `data` of the answer.
    async fn query(&mut self, query: &str, variables: Value) -> Result<Value> {
        if let Some(last) = self.last_request {
            tokio::time::sleep_until(last + self.min_interval).await;
        }
        self.last_request = Some(Instant::now());
        let transport = |what| move |source| TibberError::Transport { what, source };
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .map_err(transport("calling Tibber"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(TibberError::RateLimited);
        }
        let text = resp
            .text()
            .await
            .map_err(transport("reading Tibber's answer"))?;
        let body: Value = serde_json::from_str(&text).map_err(|_| TibberError::NotJson {
            status,
            snippet: text.chars().take(200).collect(),
        })?;
        if let Some(e) = body["errors"].get(0) {
            let message = e["message"].as_str().unwrap_or("no message").to_string();
            let code = e["extensions"]["code"].as_str().unwrap_or("no code");
            if code == "UNAUTHENTICATED" {
                return Err(TibberError::Unauthenticated {
                    message,
                    token_env: self.token_env.clone(),
                });
            }
            return Err(TibberError::Graphql {
                status,
                message,
                code: code.to_string(),
            });
        }
        if !status.is_success() {
            return Err(TibberError::Http(status));
        }
        Ok(body["data"].clone())
    }
}

/// The cursor (base64 of an ISO date-time) whose next page starts at `time`'s hour, inclusive:
/// a cursor is exclusive, so it names one second earlier.
pub fn cursor_at(time: jiff::Timestamp) -> String {
    let before = time - jiff::SignedDuration::from_secs(1);
    base64::engine::general_purpose::STANDARD.encode(before.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_base64_of_the_second_before() {
        let t: jiff::Timestamp = "2026-01-15T00:00:01Z".parse().unwrap();
        assert_eq!(cursor_at(t), "MjAyNi0wMS0xNVQwMDowMDowMFo=");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(cursor_at(t))
            .unwrap();
        assert_eq!(decoded, b"2026-01-15T00:00:00Z");
    }
}
