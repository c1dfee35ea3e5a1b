//! The `constant` kind, added by following `docs/adding-a-kind.md` once: the worker binary runs
//! it from nothing but its registration line and its module, and speaks the protocol.

use std::process::Stdio;
use std::time::Duration;

use hemflux_e2e::WorkerProcess;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// A `constant:t` worker, sent its `init` with `config`.
fn started(stderr: Stdio, config: Value) -> WorkerProcess {
    let mut w = WorkerProcess::spawn("constant", "constant:t", stderr, &[]);
    w.send(
        json!({"type": "init", "version": 1, "id": "constant:t", "kind": "constant",
        "config": config, "heartbeat_ms": 1000}),
    );
    w
}

#[test]
fn a_constant_worker_delivers_its_value_and_declines_sync() {
    let mut w = started(
        Stdio::null(),
        json!({"source": "test", "value": 21.5, "interval_ms": 20}),
    );
    assert_eq!(w.next_of("ready", WAIT)["version"], 1);
    for _ in 0..2 {
        let batch = w.next_of("points", WAIT);
        let point = &batch["points"][0];
        assert_eq!(point["measurement"], "constant", "{batch}");
        assert_eq!(point["tags"]["source"], "test", "{batch}");
        assert_eq!(point["fields"]["value"], 21.5, "{batch}");
        w.send(json!({"type": "ack", "seq": batch["seq"]}));
    }
    w.send(json!({"type": "sync", "id": 9, "from": "2024-01-01T00:00:00Z", "to": "2024-01-02T00:00:00Z"}));
    let reply = w.next_of("reply", WAIT);
    assert_eq!(
        (reply["id"].clone(), reply["ok"].clone()),
        (json!(9), json!(false))
    );
    drop(w.stdin);
    let status = w.child.wait().unwrap();
    assert!(status.success(), "exits when stdin closes: {status}");
}

#[test]
fn a_config_that_is_not_the_kinds_is_refused_naming_the_kind() {
    let w = started(
        Stdio::piped(),
        json!({"source": "test", "valeu": 1, "interval_ms": 20}),
    );
    let out = w.child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the constant worker's config") && stderr.contains("valeu"),
        "{stderr}"
    );
}
