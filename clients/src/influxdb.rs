//! A client of InfluxDB's InfluxQL endpoint `/query` (1.x, and 2.x through its v1-compatible
//! API): statements in, series out, times as nanoseconds (`epoch=ns`). Used by the `influxdb`
//! source. It never logs a token or a password.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

/// How the server wants to be asked.
pub enum Auth {
    None,
    /// 1.x users (and 2.x's v1 authorizations).
    Basic {
        username: String,
        password: String,
    },
    /// 2.x API tokens: `Authorization: Token ...`.
    Token(String),
}

#[derive(Debug, thiserror::Error)]
pub enum InfluxError {
    #[error("InfluxDB refused the credentials (HTTP {0})")]
    Unauthorized(StatusCode),
    #[error("InfluxDB answered HTTP {status}: {message}")]
    Status { status: StatusCode, message: String },
    #[error("InfluxDB refused the query: {0}")]
    Query(String),
    #[error("InfluxDB's answer is not InfluxQL JSON: {0}")]
    Shape(String),
    #[error("reaching InfluxDB: {0}")]
    Http(#[from] reqwest::Error),
}

impl InfluxError {
    /// Whether trying again later may help (the server or the network, not the request).
    pub fn is_transient(&self) -> bool {
        match self {
            InfluxError::Http(_) => true,
            InfluxError::Status { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

/// One series of a statement's result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Series {
    #[serde(rename = "name")]
    pub measurement: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub columns: Vec<String>,
    #[serde(default)]
    pub values: Vec<Vec<Value>>,
    /// The server cut this series short (its `max-row-limit`).
    #[serde(default)]
    pub partial: bool,
}

/// What one statement answered.
#[derive(Debug, Default)]
pub struct Answer {
    pub series: Vec<Series>,
    /// The server cut the answer short: ask for less.
    pub partial: bool,
}

pub struct Influx {
    http: reqwest::Client,
    url: String,
    auth: Auth,
}

impl Influx {
    pub fn new(url: &str, auth: Auth, timeout: Duration) -> Result<Influx, InfluxError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()?;
        Ok(Influx {
            http,
            url: format!("{}/query", url.trim_end_matches('/')),
            auth,
        })
    }

    /// Runs one read statement against `database` (and `rp`, if given).
    pub async fn query(
        &self,
        database: &str,
        rp: Option<&str>,
        statement: &str,
    ) -> Result<Answer, InfluxError> {
        let mut params = vec![("db", database), ("q", statement), ("epoch", "ns")];
        if let Some(rp) = rp {
            params.push(("rp", rp));
        }
        let mut request = self.http.get(&self.url).query(&params);
        request = match &self.auth {
            Auth::None => request,
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::Token(token) => request.header(AUTHORIZATION, format!("Token {token}")),
        };
        let response = request.send().await?;
        let status = response.status();
        let body = response.text().await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(InfluxError::Unauthorized(status));
        }
        let reply: Reply = serde_json::from_str(&body).map_err(|e| {
            if status.is_success() {
                InfluxError::Shape(format!("{e}: {}", excerpt(&body)))
            } else {
                InfluxError::Status {
                    status,
                    message: excerpt(&body),
                }
            }
        })?;
        if let Some(message) = reply.error {
            return Err(
                if status.is_success() || status == StatusCode::BAD_REQUEST {
                    InfluxError::Query(message)
                } else {
                    InfluxError::Status { status, message }
                },
            );
        }
        if !status.is_success() {
            return Err(InfluxError::Status {
                status,
                message: excerpt(&body),
            });
        }
        let Some(result) = reply.results.into_iter().next() else {
            return Err(InfluxError::Shape("no result".into()));
        };
        if let Some(message) = result.error {
            return Err(InfluxError::Query(message));
        }
        let partial = result.partial || result.series.iter().any(|s| s.partial);
        Ok(Answer {
            series: result.series,
            partial,
        })
    }
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    results: Vec<StatementResult>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct StatementResult {
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    partial: bool,
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &body[..i]),
        None => body.to_string(),
    }
}

/// An InfluxQL identifier in double quotes (`m³`, `a"b`).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An InfluxQL string literal in single quotes.
pub fn quote_str(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_so_units_and_quotes_pass() {
        assert_eq!(quote_ident("m³"), "\"m³\"");
        assert_eq!(quote_ident("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote_str("it's"), "'it\\'s'");
    }

    #[test]
    fn a_series_reads_as_influxql_writes_it() {
        let r: Reply = serde_json::from_str(
            r#"{"results":[{"statement_id":0,"series":[{"name":"kWh","tags":{"entity_id":"x"},"columns":["time","value"],"values":[[1,2.5]],"partial":true}]}]}"#,
        )
        .unwrap();
        let s = &r.results[0].series[0];
        assert_eq!(
            (s.measurement.as_str(), s.tags["entity_id"].as_str()),
            ("kWh", "x")
        );
        assert_eq!(s.values[0][1], 2.5);
        assert!(s.partial);
    }
}
