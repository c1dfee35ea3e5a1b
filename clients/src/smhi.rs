//! An SMHI open-data client (`../shared/protocols/smhi.md`): metobs station lists and
//! observations, snow1g point forecasts. No auth. Observation values come as strings with
//! epoch-millisecond dates; forecasts mark missing values with 9999, which are dropped here.
//! Used by the `weather` worker.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum SmhiError {
    #[error("GET {url}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: HTTP {status}: {start:?}")]
    Http {
        url: String,
        status: reqwest::StatusCode,
        start: String,
    },
    #[error("GET {url}: the answer is not JSON; it starts {start:?}")]
    NotJson {
        url: String,
        start: String,
        #[source]
        source: serde_json::Error,
    },
    /// 404 where a document must exist; `hint` says what that likely means.
    #[error("GET {url}: 404{hint}")]
    NotFound { url: String, hint: &'static str },
    /// The document is JSON but not shaped as expected.
    #[error("GET {url}: {what}")]
    Shape { url: String, what: &'static str },
    #[error("GET {url}: {what}")]
    Decode {
        url: String,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl SmhiError {
    /// No answer, or a server error: worth asking again.
    pub fn is_retryable(&self) -> bool {
        match self {
            SmhiError::Transport { .. } => true,
            SmhiError::Http { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

pub type Result<T, E = SmhiError> = std::result::Result<T, E>;

pub struct SmhiClient {
    http: reqwest::Client,
    observations_url: String,
    forecast_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Station {
    pub id: u64,
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub active: bool,
}

/// One forecast step: its valid time, the start of its accumulation interval, and its values.
#[derive(Debug, Clone)]
pub struct Step {
    pub time: Timestamp,
    pub start: Timestamp,
    pub data: BTreeMap<String, f64>,
}

/// SMHI's in-band "missing" value.
const MISSING: f64 = 9999.0;

impl SmhiClient {
    pub fn new(
        observations_url: &str,
        forecast_url: &str,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(SmhiClient {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            observations_url: observations_url.trim_end_matches('/').into(),
            forecast_url: forecast_url.trim_end_matches('/').into(),
        })
    }

    /// GET a JSON document; `None` for a 404 (an unknown station, or a parameter it lacks).
    async fn get(&self, url: &str) -> Result<Option<Value>> {
        let transport = |source| SmhiError::Transport {
            url: url.into(),
            source,
        };
        let resp = self.http.get(url).send().await.map_err(transport)?;
        let status = resp.status();
        let text = resp.text().await.map_err(transport)?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let start = || text.chars().take(120).collect();
        if !status.is_success() {
            return Err(SmhiError::Http {
                url: url.into(),
                status,
                start: start(),
            });
        }
        let value = serde_json::from_str(&text).map_err(|source| SmhiError::NotJson {
            url: url.into(),
            start: start(),
            source,
        })?;
        Ok(Some(value))
    }

    /// Every station listed for an observation parameter, active or not.
    pub async fn stations(&self, parameter: u32) -> Result<Vec<Station>> {
        let url = format!("{}/parameter/{parameter}.json", self.observations_url);
        let Some(doc) = self.get(&url).await? else {
            return Err(SmhiError::NotFound { url, hint: "" });
        };
        serde_json::from_value(doc["station"].clone()).map_err(|source| SmhiError::Decode {
            url,
            what: "no usable station list",
            source,
        })
    }

    /// Hourly observations of one parameter at one station, oldest first: (epoch ms, value).
    /// `None` when the station does not measure the parameter. Rows whose quality is neither
    /// `G` (checked) nor `Y` (not yet checked), or whose value is empty, are skipped.
    pub async fn observations(
        &self,
        parameter: u32,
        station: u64,
        period: &str,
    ) -> Result<Option<Vec<(i64, f64)>>> {
        let url = format!(
            "{}/parameter/{parameter}/station/{station}/period/{period}/data.json",
            self.observations_url
        );
        let Some(doc) = self.get(&url).await? else {
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct Row {
            date: i64,
            value: Option<String>,
            #[serde(default)]
            quality: String,
        }
        let rows: Vec<Row> = match &doc["value"] {
            Value::Null => Vec::new(),
            v => serde_json::from_value(v.clone()).map_err(|source| SmhiError::Decode {
                url,
                what: "rows are not {date, value, quality}",
                source,
            })?,
        };
        Ok(Some(
            rows.into_iter()
                .filter(|r| matches!(r.quality.as_str(), "G" | "Y"))
                .filter_map(|r| Some((r.date, r.value?.trim().parse::<f64>().ok()?)))
                .collect(),
        ))
    }

    /// The snow1g point forecast (lon before lat in the path).
    pub async fn forecast(&self, lat: f64, lon: f64) -> Result<Vec<Step>> {
        let url = format!(
            "{}/geotype/point/lon/{lon:.6}/lat/{lat:.6}/data.json",
            self.forecast_url
        );
        let Some(doc) = self.get(&url).await? else {
            return Err(SmhiError::NotFound {
                url,
                hint: " (outside the forecast area?)",
            });
        };
        let shape = |what| SmhiError::Shape {
            url: url.clone(),
            what,
        };
        let series = doc["timeSeries"]
            .as_array()
            .ok_or_else(|| shape("no timeSeries"))?;
        let time = |v: &Value| v.as_str().and_then(|s| s.parse::<Timestamp>().ok());
        series
            .iter()
            .map(|s| {
                let t = time(&s["time"]).ok_or_else(|| shape("a step without time"))?;
                let data = s["data"]
                    .as_object()
                    .map(|d| {
                        d.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                            .filter(|(_, v)| *v != MISSING)
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Step {
                    time: t,
                    start: time(&s["intervalParametersStartTime"])
                        .unwrap_or(t - jiff::SignedDuration::from_hours(1)),
                    data,
                })
            })
            .collect()
    }
}
