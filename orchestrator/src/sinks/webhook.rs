//! `type = "webhook"`: each point POSTed as one JSON object (the collector's record: `timestamp`
//! first, then measurement, tags and fields), in store order. While the endpoint is down the
//! runner retries with backoff and the store keeps everything, so nothing is lost; a batch that
//! failed half-way resumes after the objects already accepted, so none is posted twice.

use std::time::Duration;

use anyhow::{Context, Result};
use hemflux_shared::Point;
use serde::Deserialize;

use super::file::{json_object, record};
use super::{KindConfig, SendError, Sink};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Only points of these measurements (all when empty), e.g. `["smart_meter"]`.
    #[serde(default)]
    pub measurements: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
    measurements: Vec<String>,
    /// (time, series) of the first point of a batch that failed half-way, and how many of its
    /// wanted points the endpoint had accepted: the runner sends the same batch again.
    resume: Option<((i64, String), usize)>,
}

impl KindConfig for WebhookConfig {
    type Sink = WebhookSink;

    fn build(&self) -> Result<WebhookSink> {
        let url = reqwest::Url::parse(&self.url).with_context(|| format!("url {:?}", self.url))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(self.timeout_ms))
            .build()?;
        Ok(WebhookSink {
            client,
            url: url.to_string(),
            measurements: self.measurements.clone(),
            resume: None,
        })
    }
}

impl WebhookSink {

    async fn post(&self, p: &Point) -> Result<(), SendError> {
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(json_object(&record(p)))
            .send()
            .await
            .map_err(|e| SendError::Failed(format!("POST {}: {e}", self.url)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let message = format!(
            "POST {}: {status} {}",
            self.url,
            body.chars().take(200).collect::<String>()
        );
        // The endpoint refuses the object itself: sending it again cannot help.
        if matches!(status.as_u16(), 400 | 413 | 422) {
            Err(SendError::Rejected(message))
        } else {
            Err(SendError::Failed(message))
        }
    }
}

fn identity(p: &Point) -> (i64, String) {
    (p.time, format!("{}{:?}", p.measurement, p.tags))
}

impl Sink for WebhookSink {
    async fn send(&mut self, points: &[Point]) -> Result<(), SendError> {
        let wanted: Vec<&Point> = points
            .iter()
            .filter(|p| self.measurements.is_empty() || self.measurements.contains(&p.measurement))
            .collect();
        let first = points.first().map(identity);
        let done = match (&self.resume, &first) {
            (Some((id, n)), Some(f)) if id == f => *n,
            _ => 0,
        };
        for (i, p) in wanted.iter().enumerate().skip(done) {
            if let Err(e) = self.post(p).await {
                self.resume = first.clone().map(|f| (f, i));
                return Err(e);
            }
        }
        self.resume = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::StatusCode;
    use serde_json::Value;

    use super::super::file::tests::reading;
    use crate::sinks::{SinkConfig, Sinks};
    use crate::store::{Store, StoreConfig};

    const T0: i64 = 1_700_000_000_000_000_000;
    const SEC: i64 = 1_000_000_000;

    /// A webhook endpoint that can be down (503) or flaky (every third POST fails with 500).
    #[derive(Default)]
    struct Endpoint {
        up: AtomicBool,
        flaky: AtomicBool,
        calls: AtomicUsize,
        received: Mutex<Vec<Value>>,
    }

    async fn receive(State(e): State<Arc<Endpoint>>, body: String) -> StatusCode {
        let n = e.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if !e.up.load(Ordering::SeqCst) {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        if e.flaky.load(Ordering::SeqCst) && n % 3 == 0 {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        let Ok(object) = serde_json::from_str::<Value>(&body) else {
            return StatusCode::BAD_REQUEST;
        };
        e.received.lock().unwrap().push(object);
        StatusCode::OK
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while !f() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn kwh(e: &Endpoint) -> Vec<f64> {
        let received = e.received.lock().unwrap();
        received
            .iter()
            .map(|v| v["cumulative_power_kwh"].as_f64().unwrap())
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_is_lost_or_posted_twice_while_the_endpoint_is_down_or_flaky() {
        let endpoint = Arc::new(Endpoint::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(endpoint.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let config: SinkConfig = toml::from_str(&format!(
            "type = \"webhook\"\nname = \"hems\"\nurl = \"{url}\"\nmeasurements = [\"smart_meter\"]\nbatch_size = 7\nflush_interval_ms = 20"
        ))
        .unwrap();
        let readings = |from: i64| {
            (from..from + 20)
                .map(|i| reading(T0 + i * SEC, i as f64))
                .collect()
        };
        store
            .write("serial:home/broute", readings(0), None)
            .await
            .unwrap();
        let other = hemflux_shared::Point::new("synthetic", T0).field("n", 1.0);
        store.write("synthetic:x", vec![other], None).await.unwrap();
        let sinks = Sinks::start(&store, &[config]).unwrap();

        // Down: nothing arrives, and the sink says why.
        until("a failed POST", || {
            endpoint.calls.load(Ordering::SeqCst) >= 2
        })
        .await;
        let status = sinks.status().remove(0);
        assert_eq!(status.kind, "webhook");
        assert!(status.error.unwrap().contains("503"));
        assert!(status.last_error.unwrap().contains("503"));
        assert!(kwh(&endpoint).is_empty());

        // Back: everything, once, in order; only smart_meter points. The status says the problem
        // is over, and keeps what it was and when.
        endpoint.up.store(true, Ordering::SeqCst);
        until("20 objects", || kwh(&endpoint).len() >= 20).await;
        let status = sinks.status().remove(0);
        assert_eq!(status.error, None);
        assert!(status.last_error.unwrap().contains("503"));
        assert!(status.last_error_at.is_some());
        // Flaky: batches fail half-way and are sent again, without duplicates.
        endpoint.flaky.store(true, Ordering::SeqCst);
        store
            .write("serial:home/broute", readings(20), None)
            .await
            .unwrap();
        until("40 objects", || kwh(&endpoint).len() >= 40).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let expected: Vec<f64> = (0..40).map(|i| i as f64).collect();
        assert_eq!(kwh(&endpoint), expected);
        let first = endpoint.received.lock().unwrap()[0].clone();
        assert_eq!(first["timestamp"], "2023-11-14T22:13:20+00:00");
        assert_eq!(
            (first["measurement"].as_str(), first["house_id"].as_str()),
            (Some("smart_meter"), Some("home"))
        );
        sinks.shutdown().await;
    }
}
