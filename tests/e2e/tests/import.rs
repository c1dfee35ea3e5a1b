//! `hemflux import` with the real binary: an `influx_inspect export`-style file (gzip) in, the
//! same store again after a `hemflux query` CSV round trip, idempotence, what a bad line does to
//! the good ones, and an import beside a running orchestrator whose sink forwards the history.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use hemflux_e2e::{bin, wait_for, Orchestrator};
use serde_json::Value;

const EXPORT: &str = r#"# INFLUXDB EXPORT: 1677-09-21T00:12:43Z - 2262-04-11T23:47:16Z
# DDL
CREATE DATABASE energy WITH NAME autogen
# DML
# CONTEXT-DATABASE:energy
# CONTEXT-RETENTION-POLICY:autogen
# writing tsm data
energy_meter,house_id=villa_1,meter_id=735 consumption=1.0,meter_reading=1000i,volume=0.25 1704067200000000000
energy_meter,house_id=villa_1,meter_id=735 consumption=2.5,meter_reading=1002i 1704070800123456789
energy_meter,house_id=villa\ 2,meter_id=736 consumption=3 1704067200000000000
site_notes,site=north\,east ok=true,note="said \"hi\", left",level=-4i 1704067200000000000
site_notes,site=south ok=false,level=7i 1704070800000000000
"#;

fn hemflux(args: &[&str], data: &Path) -> Output {
    Command::new(bin("hemflux"))
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run hemflux")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "hemflux failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every measurement with its points, as `hemflux query --format json` prints them.
fn snapshot(data: &Path) -> Vec<(String, Value)> {
    ok(hemflux(&["query", "--list"], data))
        .lines()
        .map(|l| {
            let m = l.split('\t').next().unwrap().to_string();
            let json = ok(hemflux(&["query", &m, "--format", "json"], data));
            (m, serde_json::from_str(&json).unwrap())
        })
        .collect()
}

fn gzip(path: &Path, text: &str) {
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
}

#[test]
fn an_export_in_then_query_csv_back_in_gives_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let export = dir.path().join("export.lp.gz");
    gzip(&export, EXPORT);

    let out = ok(hemflux(&["import", export.to_str().unwrap()], &a));
    assert!(
        out.contains("imported 5 points") && out.contains("energy_meter 3, site_notes 2"),
        "{out}"
    );
    let first = snapshot(&a);
    assert_eq!(first.len(), 2);
    let energy = first[0].1.as_array().unwrap();
    let last = &energy[2]; // in time order
    assert_eq!(last["time"], "2024-01-01T01:00:00.123456789Z");
    assert_eq!(last["fields"]["meter_reading"], 1002);
    assert!(energy.iter().any(|p| p["tags"]["house_id"] == "villa 2"));

    // Idempotent: a second import overwrites the same series and times.
    ok(hemflux(&["import", export.to_str().unwrap()], &a));
    assert_eq!(snapshot(&a), first);

    // `hemflux query` CSV, one file per measurement, into an empty store.
    for (m, _) in &first {
        let csv = dir.path().join(format!("{m}.csv"));
        std::fs::write(&csv, ok(hemflux(&["query", m], &a))).unwrap();
        let mut args = vec!["import", csv.to_str().unwrap(), "--measurement", m];
        if m == "site_notes" {
            args.extend(["--tags", "site"]); // not a tag name hemflux knows
        }
        ok(hemflux(&args, &b));
    }
    assert_eq!(snapshot(&b), first);
}

#[test]
fn a_bad_line_stops_the_import_and_skip_bad_imports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = dir.path().join("good.lp");
    std::fs::write(&good, "m v=0.5 0\n").unwrap();
    ok(hemflux(&["import", good.to_str().unwrap()], &data));
    let before = snapshot(&data);

    let bad = dir.path().join("bad.lp");
    std::fs::write(&bad, "m v=1 1\nm v= 2\nm v=3i 3\nm v=4 4\nm,t=x v=5\n").unwrap();
    let out = hemflux(&["import", bad.to_str().unwrap()], &data);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let name = bad.display().to_string();
    assert!(
        stderr.contains(&format!("{name}:2: not line protocol")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{name}:3: field v of m is integer here but float in file 1 line 1"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:5: no timestamp")),
        "{stderr}"
    );
    assert!(
        stderr.contains("3 bad line(s): nothing imported"),
        "{stderr}"
    );
    assert_eq!(
        snapshot(&data),
        before,
        "the good lines were not imported either"
    );

    let out = ok(hemflux(
        &["import", "--dry-run", "--skip-bad", bad.to_str().unwrap()],
        &data,
    ));
    assert!(out.contains("would import 2 points (m 2)"), "{out}");
    assert_eq!(snapshot(&data), before);

    let out = ok(hemflux(
        &["import", "--skip-bad", bad.to_str().unwrap()],
        &data,
    ));
    assert!(out.contains("imported 2 points"), "{out}");
    let after = snapshot(&data);
    assert_eq!(after[0].1.as_array().unwrap().len(), 3); // t=0 from before, lines 1 and 4
}

#[test]
fn an_import_beside_a_running_orchestrator_is_stored_and_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("forwarded.jsonl");
    let o = Orchestrator::new(&format!(
        "[[sinks]]\ntype = \"file\"\nname = \"copy\"\npath = \"{}\"\nformat = \"json\"\n",
        sink.display()
    ))
    .start();
    o.write_profile(
        "live.json",
        r#"{"synthetic": {"interval_ms": 20, "points_per_batch": 5, "series": 2}}"#,
    );
    o.wait_state("synthetic:live", "running", Duration::from_secs(20));
    wait_for(Duration::from_secs(20), "live points", || {
        (!o.query("synthetic", &[]).is_empty()).then_some(())
    });

    let history = dir.path().join("history.lp");
    let lines: String = (0..20_000)
        .map(|i| {
            format!(
                "history,meter=m{} kwh={}.5 {}\n",
                i % 7,
                i,
                1_600_000_000_000_000_000i64 + i * 1_000_000_000
            )
        })
        .collect();
    std::fs::write(&history, lines).unwrap();
    let out = ok(hemflux(
        &["import", history.to_str().unwrap()],
        &o.path("data"),
    ));
    assert!(out.contains("imported 20000 points"), "{out}");

    // The running orchestrator's sink forwards all of it, and its worker kept writing.
    // How many lines the sink's file holds with `"<measurement>"` in them.
    let forwarded = |measurement: &str| {
        let text = std::fs::read_to_string(&sink).unwrap_or_default();
        let quoted = format!("\"{measurement}\"");
        text.lines().filter(|l| l.contains(&quoted)).count()
    };
    let live_before = o.query("synthetic", &[]).len();
    wait_for(
        Duration::from_secs(30),
        "the sink to forward the history",
        || (forwarded("history") == 20_000).then_some(()),
    );
    assert_eq!(o.query("history", &[]).len(), 20_000);
    // Live points written after the import get seqs after the history's, so the sink, whose
    // cursor is now past the history, forwards them too.
    wait_for(Duration::from_secs(10), "more live points", || {
        (o.query("synthetic", &[]).len() > live_before + 20).then_some(())
    });
    let live_now = o.query("synthetic", &[]).len();
    wait_for(
        Duration::from_secs(30),
        "the sink to forward the live points",
        || (forwarded("synthetic") >= live_now).then_some(()),
    );
    assert_eq!(o.worker("synthetic:live").unwrap()["state"], "running");
}
