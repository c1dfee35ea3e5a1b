//! The worker binary as the orchestrator sees it: it answers `init` with `ready`, and it exits
//! when its stdin closes (which is how it dies with the orchestrator, even after `kill -9`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn worker(init: &str) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hemflux-worker"))
        .args(["synthetic", "synthetic:t"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "{init}").unwrap();
    child
}

fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the worker did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const INIT: &str = r#"{"type":"init","version":1,"id":"synthetic:t","kind":"synthetic","config":{"house_id":"t","synthetic":{"interval_ms":50}},"heartbeat_ms":100}"#;

#[test]
fn answers_ready_and_exits_when_stdin_closes() {
    let mut child = worker(INIT);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        r#"{"type":"ready","version":1}"#
    );
    drop(child.stdin.take());
    assert!(wait(&mut child).success());
}

#[test]
fn refuses_another_protocol_version() {
    let mut child = worker(&INIT.replace(r#""version":1"#, r#""version":99"#));
    let status = wait(&mut child);
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("protocol version 99"), "{stderr}");
}
