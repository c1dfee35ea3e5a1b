//! Shipping log events to Seq: CLEF lines in batches to `<SEQ_URL>/api/events/raw`, following
//! `../shared/protocols/seq.md` (≤ 1000 events and ≤ 1 MiB per request, events ≤ 256 KiB, drop on
//! 400/401/403, split on 413, back off on 5xx and network errors, honour `MinimumLevelAccepted`).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hemflux_shared::retry::RetryPolicy;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tracing::field::{Field, Visit};
use tracing::{span, Event, Level, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The shipper's own target: its warnings go to stderr only, never back into the queue.
const SHIPPER_TARGET: &str = "hemflux::logging::seq";
/// Events from these targets are not shipped: the shipper itself and the HTTP client it uses.
const NOT_SHIPPED: &[&str] = &["hemflux::logging", "hyper", "reqwest", "h2", "rustls"];

/// The seed's `Application` property.
const SEED_APPLICATION: &str = "HomeSide";

/// Where and how to ship. The API key is never printed (see the `Debug` impl).
#[derive(Clone)]
pub struct SeqConfig {
    /// The ingestion endpoint, `<SEQ_URL without /api>/api/events/raw`.
    pub endpoint: String,
    pub api_key: Option<String>,
    /// Every event's `Application` property: the seed's `HomeSide` unless `SEQ_APPLICATION`
    /// says otherwise, so that saved queries on it keep matching.
    pub application: String,
    /// Events kept while Seq is slow or down; the oldest is dropped when full.
    pub queue_capacity: usize,
    pub request_timeout: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub event_max_bytes: usize,
    /// How long dropping the shipper may take to send what is queued.
    pub shutdown_grace: Duration,
}

impl SeqConfig {
    /// `seq_url` as users have it in `SEQ_URL` (with or without a trailing `/api`, as the seed
    /// client accepted it).
    pub fn new(seq_url: &str, api_key: Option<String>) -> Result<SeqConfig> {
        let base = seq_url.trim().trim_end_matches('/');
        let base = base.strip_suffix("/api").unwrap_or(base);
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "SEQ_URL {seq_url:?} is not an http(s) URL"
        );
        Ok(SeqConfig {
            endpoint: format!("{base}/api/events/raw"),
            api_key: api_key.filter(|k| !k.trim().is_empty()),
            application: SEED_APPLICATION.into(),
            queue_capacity: 10_000,
            request_timeout: Duration::from_secs(10),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            batch_max_events: 1000,
            batch_max_bytes: 1024 * 1024,
            event_max_bytes: 256 * 1024,
            shutdown_grace: Duration::from_secs(2),
        })
    }

    /// From `SEQ_URL`, `SEQ_API_KEY` and `SEQ_APPLICATION` as `lookup` resolves them (the `.env` file or the
    /// environment); `None` when `SEQ_URL` is unset or empty.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<SeqConfig>> {
        match lookup("SEQ_URL").filter(|u| !u.trim().is_empty()) {
            Some(url) => {
                let mut cfg = SeqConfig::new(&url, lookup("SEQ_API_KEY"))?;
                if let Some(app) = lookup("SEQ_APPLICATION").filter(|a| !a.trim().is_empty()) {
                    cfg.application = app.trim().to_string();
                }
                Ok(Some(cfg))
            }
            None => Ok(None),
        }
    }
}

impl fmt::Debug for SeqConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeqConfig")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("queue_capacity", &self.queue_capacity)
            .finish_non_exhaustive()
    }
}

/// What the shipper has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqCounters {
    /// Accepted by Seq.
    pub sent: u64,
    /// Lost: queue full while Seq was slow or down, refused by Seq (400/401/403/413), or still
    /// unsent at shutdown.
    pub dropped: u64,
    /// Waiting in the queue or in a request that has not been answered.
    pub pending: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    pending: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> SeqCounters {
        SeqCounters {
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
        }
    }

    fn done(&self, n: usize, delivered: bool) {
        let counter = if delivered { &self.sent } else { &self.dropped };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        self.pending.fetch_sub(n as u64, Ordering::Relaxed);
    }
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
    stop: Notify,
    counters: Arc<Counters>,
    /// Seq's `MinimumLevelAccepted` as a [`level_rank`]; 0 accepts everything.
    min_rank: AtomicU8,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<String>,
    stopping: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent: keep going.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Never waits on Seq: a full queue drops its oldest line.
    fn push(&self, line: String, capacity: usize) {
        let mut q = self.lock();
        if q.lines.len() >= capacity.max(1) {
            q.lines.pop_front();
            self.counters.done(1, false);
        }
        q.lines.push_back(line);
        self.counters.pending.fetch_add(1, Ordering::Relaxed);
        drop(q);
        self.wake.notify_one();
    }

    /// Takes the next batch within the limits; `None` when the queue is empty and stopping.
    fn next_batch(&self, cfg: &SeqConfig) -> Option<Vec<String>> {
        let mut q = self.lock();
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(line) = q.lines.front() {
            let full = batch.len() >= cfg.batch_max_events
                || (!batch.is_empty() && bytes + line.len() + 1 > cfg.batch_max_bytes);
            if full {
                break;
            }
            bytes += line.len() + 1;
            batch.extend(q.lines.pop_front());
        }
        (!batch.is_empty() || !q.stopping).then_some(batch)
    }

    fn stopping(&self) -> bool {
        self.lock().stopping
    }
}

/// The running shipper. Dropping it ships what is queued, within `shutdown_grace`, and stops.
pub struct SeqShipper {
    shared: Arc<Shared>,
    finished: std::sync::mpsc::Receiver<()>,
    grace: Duration,
}

impl SeqShipper {
    pub fn counters(&self) -> SeqCounters {
        self.shared.counters.snapshot()
    }

    pub(super) fn counters_handle(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }

    /// Waits until nothing is pending (true) or `timeout` passes (false).
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.counters().pending > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

impl Drop for SeqShipper {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        self.shared.stop.notify_one();
        let _ = self
            .finished
            .recv_timeout(self.grace + Duration::from_millis(500));
    }
}

/// Starts the shipper thread; the layer feeds it. Usable on its own (tests) or through `init`.
pub fn start(cfg: SeqConfig) -> Result<(SeqLayer, SeqShipper)> {
    let client = reqwest::Client::builder()
        .timeout(cfg.request_timeout)
        .build()
        .context("building the Seq HTTP client")?;
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        wake: Notify::new(),
        stop: Notify::new(),
        counters: Arc::default(),
        min_rank: AtomicU8::new(0),
    });
    let (finished_tx, finished) = std::sync::mpsc::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the Seq shipper's runtime")?;
    let shipper = Shipper {
        shared: shared.clone(),
        cfg: cfg.clone(),
        client,
    };
    std::thread::Builder::new()
        .name("seq-shipper".into())
        .spawn(move || {
            runtime.block_on(shipper.run());
            let _ = finished_tx.send(());
        })
        .context("starting the Seq shipper thread")?;
    let layer = SeqLayer {
        shared: shared.clone(),
        application: cfg.application.clone(),
        capacity: cfg.queue_capacity,
        event_max_bytes: cfg.event_max_bytes,
    };
    Ok((
        layer,
        SeqShipper {
            shared,
            finished,
            grace: cfg.shutdown_grace,
        },
    ))
}

enum Outcome {
    /// 200/201, with Seq's minimum level.
    Accepted(Option<String>),
    TooLarge,
    /// Refused for good (bad payload or API key): retrying cannot help.
    Refused(String),
    /// Seq is down, slow or failing: try again later.
    Retry(String),
}

struct Shipper {
    shared: Arc<Shared>,
    cfg: SeqConfig,
    client: reqwest::Client,
}

impl Shipper {
    async fn run(self) {
        let retry = RetryPolicy {
            initial: self.cfg.retry_min,
            factor: 2,
            cap: self.cfg.retry_max,
            jitter: 0.0,
        };
        let mut backoff = retry.backoff();
        let mut outage: Option<u64> = None; // dropped count when the outage began
        let mut stop_deadline: Option<tokio::time::Instant> = None;
        loop {
            let Some(batch) = self.shared.next_batch(&self.cfg) else {
                return;
            };
            if batch.is_empty() {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), self.shared.wake.notified()).await;
                continue;
            }
            let mut parts = vec![batch];
            loop {
                if self.shared.stopping() {
                    let deadline = *stop_deadline.get_or_insert_with(|| {
                        tokio::time::Instant::now() + self.cfg.shutdown_grace
                    });
                    match tokio::time::timeout_at(deadline, self.deliver(&mut parts)).await {
                        Ok(Ok(())) => {}
                        _ => {
                            self.drop_all(parts);
                            self.drop_all(vec![self.take_all()]);
                            return;
                        }
                    }
                    break;
                }
                match self.deliver(&mut parts).await {
                    Ok(()) => {
                        if let Some(at_start) = outage.take() {
                            let lost = self.shared.counters.snapshot().dropped - at_start;
                            tracing::warn!(target: SHIPPER_TARGET, lost, "Seq is reachable again");
                        }
                        backoff = retry.backoff();
                        break;
                    }
                    Err(reason) => {
                        if outage.is_none() {
                            outage = Some(self.shared.counters.snapshot().dropped);
                            tracing::warn!(target: SHIPPER_TARGET, %reason, endpoint = %self.cfg.endpoint,
                                "Seq is not accepting logs; retrying with backoff, dropping the oldest when the queue is full");
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(backoff.next_delay()) => {}
                            _ = self.shared.stop.notified() => {}
                        }
                    }
                }
            }
        }
    }

    fn take_all(&self) -> Vec<String> {
        self.shared.lock().lines.drain(..).collect()
    }

    fn drop_all(&self, parts: Vec<Vec<String>>) {
        let n: usize = parts.iter().map(Vec::len).sum();
        self.shared.counters.done(n, false);
    }

    /// Sends `parts` (last first), splitting on 413. On a retryable failure the unsent parts stay
    /// in `parts` and the reason is returned.
    async fn deliver(&self, parts: &mut Vec<Vec<String>>) -> Result<(), String> {
        while let Some(part) = parts.pop() {
            match self.post(&part).await {
                Outcome::Accepted(level) => {
                    let rank = level.as_deref().map_or(0, level_rank);
                    self.shared.min_rank.store(rank, Ordering::Relaxed);
                    self.shared.counters.done(part.len(), true);
                }
                Outcome::TooLarge if part.len() > 1 => {
                    let mut first = part;
                    let second = first.split_off(first.len() / 2);
                    parts.push(second);
                    parts.push(first);
                }
                Outcome::TooLarge => self.refused(part, "413 Payload Too Large".into()),
                Outcome::Refused(reason) => self.refused(part, reason),
                Outcome::Retry(reason) => {
                    parts.push(part);
                    return Err(reason);
                }
            }
        }
        Ok(())
    }

    fn refused(&self, part: Vec<String>, reason: String) {
        tracing::warn!(target: SHIPPER_TARGET, events = part.len(), %reason, "Seq refused a batch of log events; dropped");
        self.shared.counters.done(part.len(), false);
    }

    async fn post(&self, lines: &[String]) -> Outcome {
        let mut body = lines.join("\n");
        body.push('\n');
        let mut req = self
            .client
            .post(&self.cfg.endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/vnd.serilog.clef",
            )
            .body(body);
        if let Some(key) = &self.cfg.api_key {
            req = req.header("X-Seq-ApiKey", key);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(describe_reqwest_error(&e)),
        };
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match status.as_u16() {
            200 | 201 => Outcome::Accepted(minimum_level(&text)),
            413 => Outcome::TooLarge,
            400 | 401 | 403 => Outcome::Refused(format!("HTTP {status}: {}", excerpt(&text))),
            _ => Outcome::Retry(format!("HTTP {status}: {}", excerpt(&text))),
        }
    }
}

fn describe_reqwest_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "request timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.to_string() // the key travels in a header, never in the URL
    }
}

fn excerpt(text: &str) -> &str {
    let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// `MinimumLevelAccepted` from a 201 body such as `{"MinimumLevelAccepted":"Warning"}`.
fn minimum_level(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v.get("MinimumLevelAccepted")?.as_str().map(str::to_owned)
}

/// Seq's level names in order; unknown names rank as Information.
fn level_rank(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "verbose" | "trace" => 0,
        "debug" => 1,
        "warning" | "warn" => 3,
        "error" => 4,
        "fatal" | "critical" => 5,
        _ => 2,
    }
}

fn seq_level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "Verbose",
        Level::DEBUG => "Debug",
        Level::INFO => "Information",
        Level::WARN => "Warning",
        Level::ERROR => "Error",
    }
}

/// The `tracing` layer that renders events as CLEF and queues them for the shipper.
pub struct SeqLayer {
    shared: Arc<Shared>,
    application: String,
    capacity: usize,
    event_max_bytes: usize,
}

/// Fields of a span, kept so that events inside it carry them as properties.
struct SpanFields(Map<String, Value>);

impl<S> Layer<S> for SeqLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: LayerContext<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut Properties(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: LayerContext<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(SpanFields(fields)) = span.extensions_mut().get_mut::<SpanFields>() {
                values.record(&mut Properties(fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let meta = event.metadata();
        if NOT_SHIPPED.iter().any(|t| meta.target().starts_with(t)) {
            return;
        }
        let level = seq_level(meta.level());
        if level_rank(level) < self.shared.min_rank.load(Ordering::Relaxed) {
            return;
        }
        let mut props = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    props.extend(fields.clone());
                }
            }
        }
        event.record(&mut Properties(&mut props));
        let line = clef_line(
            level,
            meta.target(),
            &self.application,
            props,
            self.event_max_bytes,
        );
        self.shared.push(line, self.capacity);
    }
}

/// One CLEF line: reified `@` keys, then every field as a property (`message` becomes `@m`).
fn clef_line(
    level: &str,
    target: &str,
    application: &str,
    mut props: Map<String, Value>,
    max: usize,
) -> String {
    let now = jiff::Timestamp::now();
    let time = now.round(jiff::Unit::Microsecond).unwrap_or(now);
    let message = match props.remove("message") {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let mut event = Map::new();
    event.insert("@t".into(), time.to_string().into());
    event.insert("@l".into(), level.into());
    event.insert("@m".into(), message.clone().into());
    event.insert("Application".into(), application.into());
    event.insert("Component".into(), target.into());
    // The seed's saved Seq queries select a house by `ClientId`, `FriendlyName`, ...
    if let Some(Value::String(worker)) = props.get("worker") {
        super::seed_props::add(&mut event, worker);
    }
    for (name, value) in props {
        // CLEF reserves names starting with `@`: such a property is escaped as `@@`.
        let name = if name.starts_with('@') {
            format!("@{name}")
        } else {
            name
        };
        event.insert(name, value);
    }
    let line = Value::Object(event).to_string();
    if line.len() <= max {
        return line;
    }
    // As Serilog's Seq sink does: a placeholder that says what was lost, instead of the event.
    let start: String = message.chars().take(1024).collect();
    serde_json::json!({
        "@t": time.to_string(),
        "@l": level,
        "@mt": "Log event of {EventBytes} bytes was too large for Seq; it began: {MessageStart}",
        "EventBytes": line.len(),
        "MessageStart": start,
        "Application": application,
        "Component": target,
    })
    .to_string()
}

/// Records `tracing` fields as JSON values.
struct Properties<'a>(&'a mut Map<String, Value>);

impl Visit for Properties<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name().starts_with("log.") {
            return; // `tracing-log`'s metadata for events bridged from `log`
        }
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_url_is_normalised_like_the_seed_client() {
        for url in [
            "http://seq:5341",
            "http://seq:5341/",
            "http://seq:5341/api",
            "http://seq:5341/api/",
        ] {
            let cfg = SeqConfig::new(url, None).unwrap();
            assert_eq!(cfg.endpoint, "http://seq:5341/api/events/raw", "{url}");
        }
        assert!(SeqConfig::new("seq:5341", None).is_err());
    }

    #[test]
    fn api_key_never_shows_in_debug_output() {
        let cfg = SeqConfig::new("http://seq:5341", Some("Zk3qSecretKey".into())).unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("Zk3q"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn lookup_without_seq_url_disables_shipping() {
        assert!(SeqConfig::from_lookup(|_| None).unwrap().is_none());
        let with = |vars: &[(&str, &str)]| {
            let get = |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            };
            SeqConfig::from_lookup(get).unwrap().unwrap()
        };
        let cfg = with(&[
            ("SEQ_URL", "https://logs.example/api"),
            ("SEQ_API_KEY", "k"),
        ]);
        assert_eq!(cfg.endpoint, "https://logs.example/api/events/raw");
        assert_eq!(cfg.api_key.as_deref(), Some("k"));
        assert_eq!(
            cfg.application, "HomeSide",
            "the seed's, unless SEQ_APPLICATION is set"
        );
        let cfg = with(&[
            ("SEQ_URL", "https://logs.example"),
            ("SEQ_APPLICATION", "hemflux"),
        ]);
        assert_eq!(cfg.application, "hemflux");
    }

    #[test]
    fn minimum_level_is_read_from_the_201_body() {
        assert_eq!(minimum_level(r#"{"MinimumLevelAccepted":null}"#), None);
        assert_eq!(
            minimum_level(r#"{"MinimumLevelAccepted":"Warning"}"#).as_deref(),
            Some("Warning")
        );
        assert!(level_rank("Warning") > level_rank("Information"));
        assert!(level_rank("Error") > level_rank("Warning"));
    }

    #[test]
    fn clef_line_has_reified_keys_escapes_at_names_and_replaces_huge_events() {
        super::super::set_seq_entities(
            [(
                "villa_12".to_string(),
                super::super::EntityInfo {
                    name: "Villa 12".into(),
                    username: Some("FC2000000001".into()),
                },
            )]
            .into(),
        );
        let mut props = Map::new();
        props.insert("message".into(), "worker said hi".into());
        props.insert("worker".into(), "house:villa_12".into());
        props.insert("@odd".into(), 1.into());
        let line = clef_line("Warning", "t", "HomeSide", props, 1000);
        let line: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(line["@m"], "worker said hi");
        assert_eq!(line["@l"], "Warning");
        assert_eq!(line["worker"], "house:villa_12");
        assert_eq!(line["ClientId"], "villa_12");
        assert_eq!(line["Application"], "HomeSide");
        assert_eq!(line["FriendlyName"], "Villa 12");
        assert_eq!(line["DisplayName"], "Villa 12");
        assert_eq!(line["ClientIdShort"], "villa_12");
        assert_eq!(line["Username"], "FC2000000001");
        assert_eq!(line["@@odd"], 1);
        assert!(line["@t"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok());

        let mut props = Map::new();
        props.insert("message".into(), "x".repeat(5000).into());
        let line = clef_line("Error", "t", "HomeSide", props, 2000);
        assert!(line.len() < 2000, "{}", line.len());
        let line: Value = serde_json::from_str(&line).unwrap();
        assert!(line["EventBytes"].as_u64().unwrap() > 5000);
    }
}
