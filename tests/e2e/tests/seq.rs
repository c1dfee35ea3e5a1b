//! The Seq shipper (`hemflux::logging`) against the real Seq simulator process
//! (`hemflux-sim seq`): CLEF content and properties, API keys, retry on 5xx, split on 413,
//! `MinimumLevelAccepted`, and Seq down or slow: logging never blocks and losses are counted.
//! The last test runs the real orchestrator with `SEQ_URL` in its `.env`.
//! Build the binaries first (`cargo build --workspace`, as `cargo test --workspace` does).

use std::time::{Duration, Instant};

use hemflux::logging::{SeqConfig, SeqLayer, SeqShipper};
use hemflux_e2e::{free_port, wait_for, Orchestrator, Sim};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

/// `hemflux-sim seq` with `args`, on a free loopback port unless `args` names one.
fn seq_sim(args: &[&str]) -> Sim {
    Sim::start("seq", args)
}

/// What the simulator accepted: `{"requests": n, "events": [...]}`.
fn received(sim: &Sim) -> Value {
    reqwest::blocking::Client::new()
        .get(format!("{}/sim/received", sim.address))
        .timeout(Duration::from_secs(5))
        .send()
        .and_then(|r| r.json())
        .expect("GET /sim/received")
}

fn events(sim: &Sim) -> Vec<Value> {
    received(sim)["events"].as_array().unwrap().clone()
}

/// A config with short retries so that the tests are quick.
fn config(url: &str, key: Option<&str>) -> SeqConfig {
    let mut cfg = SeqConfig::new(url, key.map(str::to_owned)).unwrap();
    cfg.retry_min = Duration::from_millis(50);
    cfg.retry_max = Duration::from_millis(200);
    cfg.request_timeout = Duration::from_secs(5);
    cfg
}

/// Runs `f` with only the Seq layer installed (on this thread), returns the shipper.
fn with_seq(cfg: SeqConfig, f: impl FnOnce()) -> SeqShipper {
    let (layer, shipper): (SeqLayer, SeqShipper) = hemflux::logging::start_seq(cfg).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    shipper
}

fn flushed(shipper: &SeqShipper, secs: u64) {
    assert!(
        shipper.flush(Duration::from_secs(secs)),
        "still pending after {secs} s: {:?}",
        shipper.counters()
    );
}

#[test]
fn worker_lines_arrive_as_clef_with_worker_kind_and_span_fields() {
    let sim = seq_sim(&["--require-api-key", "--api-key", "K1"]);
    let shipper = with_seq(config(&sim.address, Some("K1")), || {
        tracing::info!(
            worker = "house:villa_12",
            kind = "house",
            "polled 14 variables"
        );
        let span = tracing::info_span!("import", EventType = "EnergyImport");
        let _entered = span.enter();
        tracing::error!(
            worker = "meter:villa_12/el",
            kind = "meter",
            records = 48_i64,
            "token refresh failed"
        );
    });
    flushed(&shipper, 10);
    assert_eq!(shipper.counters().sent, 2);
    assert_eq!(shipper.counters().dropped, 0);
    let events = events(&sim);
    assert_eq!(events.len(), 2, "{events:#?}");
    let first = &events[0];
    assert_eq!(first["message"], "polled 14 variables");
    assert_eq!(first["level"], "Information");
    assert_eq!(first["format"], "clef");
    assert_eq!(first["known_api_key"], true);
    assert_eq!(first["properties"]["worker"], "house:villa_12");
    assert_eq!(first["properties"]["kind"], "house");
    assert_eq!(first["properties"]["Application"], "HomeSide", "the seed's");
    let second = &events[1];
    assert_eq!(second["level"], "Error");
    assert_eq!(second["properties"]["kind"], "meter");
    assert_eq!(second["properties"]["ClientId"], "villa_12");
    assert_eq!(second["properties"]["records"], 48);
    assert_eq!(second["properties"]["EventType"], "EnergyImport");
}

#[test]
fn a_wrong_api_key_is_refused_and_counted_as_dropped() {
    let sim = seq_sim(&["--require-api-key", "--api-key", "K1"]);
    let shipper = with_seq(config(&sim.address, Some("not-the-key")), || {
        for i in 0..5 {
            tracing::info!(i, "event");
        }
    });
    flushed(&shipper, 10);
    let c = shipper.counters();
    assert_eq!((c.sent, c.dropped), (0, 5), "{c:?}");
    assert!(events(&sim).is_empty());
}

#[test]
fn server_errors_are_retried_until_seq_accepts() {
    let sim = seq_sim(&["--fail-status", "500", "--fail-count", "3"]);
    let shipper = with_seq(config(&sim.address, None), || {
        for i in 0..10 {
            tracing::warn!(i, "survives three 500s");
        }
    });
    flushed(&shipper, 15);
    let c = shipper.counters();
    assert_eq!((c.sent, c.dropped), (10, 0), "{c:?}");
    let received = received(&sim);
    assert_eq!(received["events"].as_array().unwrap().len(), 10);
    assert!(received["requests"].as_u64().unwrap() >= 4);
}

#[test]
fn batches_over_the_payload_limit_are_split() {
    let sim = seq_sim(&["--max-payload-bytes", "2000"]);
    let shipper = with_seq(config(&sim.address, None), || {
        for i in 0..40 {
            tracing::info!(i, padding = "p".repeat(150).as_str(), "sized event");
        }
    });
    flushed(&shipper, 15);
    let c = shipper.counters();
    assert_eq!((c.sent, c.dropped), (40, 0), "{c:?}");
    let received = received(&sim);
    let mut seen: Vec<i64> = received["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["properties"]["i"].as_i64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, (0..40).collect::<Vec<_>>());
    assert!(received["requests"].as_u64().unwrap() > 4);
}

#[test]
fn minimum_level_accepted_stops_lower_levels_at_the_source() {
    let sim = seq_sim(&["--api-key", "K2=Warning"]);
    let (layer, shipper) = hemflux::logging::start_seq(config(&sim.address, Some("K2"))).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // Before Seq has answered, the level is unknown: this one is shipped.
        tracing::info!("first");
        flushed(&shipper, 10);
        tracing::info!("filtered at the source");
        tracing::warn!("kept");
    });
    flushed(&shipper, 10);
    let messages: Vec<String> = events(&sim)
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages, ["first", "kept"]);
}

#[test]
fn seq_down_drops_oldest_with_a_counter_never_blocks_and_recovers() {
    // A port where nothing listens: connections are refused, as when Seq is down.
    let port = free_port();
    let mut cfg = config(&format!("http://127.0.0.1:{port}"), None);
    cfg.queue_capacity = 100;
    let total = 20_000;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    let shipper = with_seq(cfg, || {
        for i in 0..total {
            let t = Instant::now();
            tracing::info!(
                i,
                worker = "synthetic:bench",
                kind = "synthetic",
                "while Seq is down"
            );
            slowest = slowest.max(t.elapsed());
        }
    });
    let elapsed = started.elapsed();
    eprintln!("{total} events with Seq down: {elapsed:?} in all, slowest {slowest:?}");
    assert!(
        elapsed < Duration::from_secs(5),
        "logging blocked: {elapsed:?}"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "one event took {slowest:?}"
    );
    let c = shipper.counters();
    // At most the queue plus one batch in flight survive.
    assert!(c.pending <= 200, "{c:?}");
    assert_eq!(c.dropped + c.pending, total, "{c:?}");
    assert_eq!(c.sent, 0);

    // Seq comes back on the same address: what was kept is delivered, the newest events.
    let sim = seq_sim(&["--listen", &format!("127.0.0.1:{port}")]);
    flushed(&shipper, 15);
    let after = shipper.counters();
    assert_eq!(after.sent + after.dropped, total, "{after:?}");
    assert_eq!(after.sent, c.pending);
    let events = events(&sim);
    assert_eq!(events.len() as u64, after.sent);
    let last = events
        .iter()
        .map(|e| e["properties"]["i"].as_i64().unwrap())
        .max();
    assert_eq!(
        last,
        Some(total as i64 - 1),
        "the newest event must survive"
    );
}

#[test]
fn a_slow_seq_does_not_block_logging_and_shutdown_is_bounded() {
    let sim = seq_sim(&["--delay-ms", "3000"]);
    let mut cfg = config(&sim.address, None);
    cfg.request_timeout = Duration::from_millis(300);
    cfg.queue_capacity = 50;
    cfg.shutdown_grace = Duration::from_millis(500);
    let started = Instant::now();
    let shipper = with_seq(cfg, || {
        for i in 0..5000 {
            tracing::info!(i, "while Seq is slow");
        }
    });
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(700));
    let c = shipper.counters();
    assert_eq!(c.sent, 0, "{c:?}");
    assert!(c.dropped >= 5000 - 100, "{c:?}");
    let t = Instant::now();
    drop(shipper);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "shutdown took {:?}",
        t.elapsed()
    );
}

#[test]
fn the_orchestrator_ships_worker_lines_tagged_with_worker_and_kind() {
    let key = "seq-key-7f3a9c";
    let sim = seq_sim(&["--require-api-key", "--api-key", key]);
    let o = Orchestrator::new("");
    // As our users have it: with `/api`, in `.env`.
    std::fs::write(
        o.path(".env"),
        format!("SEQ_URL={}/api\nSEQ_API_KEY={key}\n", sim.address),
    )
    .unwrap();
    let o = o.start();
    o.write_profile(
        "HEM_FJV_Villa_1.json",
        r#"{"name": "Villa Ett", "synthetic": {"interval_ms": 100, "exit_after_ms": 300}}"#,
    );
    let worker = "synthetic:HEM_FJV_Villa_1";
    let event = wait_for(
        Duration::from_secs(20),
        "the worker's error line in Seq",
        || {
            events(&sim)
                .into_iter()
                .find(|e| e["properties"]["worker"] == worker && e["level"] == "Error")
        },
    );
    assert_eq!(event["properties"]["kind"], "synthetic");
    // The seed's properties, so that saved Seq queries keep matching.
    let props = &event["properties"];
    assert_eq!(props["Application"], "HomeSide");
    assert_eq!(props["ClientId"], "HEM_FJV_Villa_1");
    assert_eq!(props["ClientIdShort"], "Villa_1");
    assert_eq!(props["FriendlyName"], "Villa Ett");
    assert_eq!(props["DisplayName"], "Villa Ett");
    let crashed = wait_for(Duration::from_secs(20), "the crash event in Seq", || {
        events(&sim)
            .into_iter()
            .find(|e| e["properties"]["EventType"] == "WorkerCrashed")
    });
    assert_eq!(crashed["properties"]["worker"], worker);
    assert_eq!(event["known_api_key"], true);
    assert!(
        event["message"].as_str().unwrap().contains("exit_after_ms"),
        "{event:#}"
    );
    let log = o.log();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v["worker"] == worker
                && v["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("exit_after_ms")
        })
        .expect("the worker's stderr line as a JSON log line");
    assert_eq!(line["kind"], "synthetic");
    assert!(!log.contains(key), "the Seq API key was logged");
    let metrics = o.get("/metrics").unwrap();
    let sent: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("hemflux_seq_events_total{outcome=\"sent\"} "))
        .expect("the Seq counters in /metrics")
        .parse()
        .unwrap();
    assert!(sent >= 1.0, "{metrics}");
}

#[test]
fn the_simulator_is_as_strict_as_seq() {
    let sim = seq_sim(&["--require-api-key", "--api-key", "K3=Warning"]);
    let client = reqwest::blocking::Client::new();
    let post = |path: &str, content_type: &str, key: Option<&str>, body: &str| {
        let mut req = client
            .post(format!("{}{path}", sim.address))
            .header("content-type", content_type)
            .timeout(Duration::from_secs(5))
            .body(body.to_string());
        if let Some(k) = key {
            req = req.header("X-Seq-ApiKey", k);
        }
        let resp = req.send().unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    };
    let clef =
        "{\"@t\":\"2026-01-15T13:00:00.1234567Z\",\"@mt\":\"Fetched {Count}\",\"Count\":2}\n";
    // The seed's classic envelope, with a charset parameter and the key in the query.
    let classic = r#"{"Events":[{"Timestamp":"2026-01-15T13:00:00.123456+00:00","Level":"Warning","MessageTemplate":"🔥 API down {x}","Properties":{"EventType":"HomeSideAPIDown"}}]}"#;
    assert_eq!(
        post(
            "/api/events/raw?apiKey=K3",
            "application/json; charset=utf-8",
            None,
            classic
        ),
        (201, r#"{"MinimumLevelAccepted":"Warning"}"#.to_string())
    );
    // CLEF by content type, by `?clef`, and on /ingest/clef.
    let clef_type = "application/vnd.serilog.clef";
    assert_eq!(post("/api/events/raw", clef_type, Some("K3"), clef).0, 201);
    assert_eq!(
        post("/api/events/raw?clef", "text/plain", Some("K3"), clef).0,
        201
    );
    assert_eq!(
        post("/ingest/clef", "application/json", Some("K3"), clef).0,
        201
    );
    // Refusals: nothing of a refused batch is stored.
    assert_eq!(post("/api/events/raw", clef_type, None, clef).0, 401);
    assert_eq!(
        post("/api/events/raw", clef_type, Some("other"), clef).0,
        401
    );
    let (status, body) = post(
        "/api/events/raw",
        clef_type,
        Some("K3"),
        &format!("{clef}{{\"@m\":\"no timestamp\"}}\n"),
    );
    assert_eq!(status, 400);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["Error"].is_string());
    // CLEF sent without saying so is read as the classic envelope, and refused.
    assert_eq!(
        post("/api/events/raw", "application/json", Some("K3"), clef).0,
        400
    );
    let get = client
        .get(format!("{}/api/events/raw", sim.address))
        .send()
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);

    let events = events(&sim);
    assert_eq!(events.len(), 4, "{events:#?}");
    assert_eq!(events[0]["format"], "classic");
    assert_eq!(events[0]["message"], "🔥 API down {x}");
    assert_eq!(events[0]["properties"]["EventType"], "HomeSideAPIDown");
    assert!(events[1..].iter().all(|e| e["message"] == "Fetched 2"));
}
