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

/// Peak resident memory of a process, from /proc (Linux).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_over_long_line_is_skipped_without_holding_it() {
    // One batch at start, then nothing for an hour: the test answers only what it asks.
    let mut child = worker(&INIT.replace(r#""interval_ms":50"#, r#""interval_ms":3600000"#));
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_message = |kind: &str| loop {
        let line = lines.next().unwrap().unwrap();
        let msg: serde_json::Value = serde_json::from_str(&line).unwrap();
        if msg["type"] == kind {
            return msg;
        }
    };
    let points = next_message("points");
    writeln!(stdin, r#"{{"type":"ack","seq":{}}}"#, points["seq"]).unwrap();

    // 64 MiB without a newline in sight: eight times the longest line the protocol allows.
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..64 {
        stdin.write_all(&chunk).unwrap();
    }
    writeln!(stdin).unwrap();
    writeln!(
        stdin,
        r#"{{"type":"sync","id":7,"from":"2024-01-01T00:00:00Z","to":"2024-01-02T00:00:00Z"}}"#
    )
    .unwrap();
    let reply = next_message("reply");
    assert_eq!(reply["id"], 7, "the worker reads on after the long line");
    let peak_mib = peak_rss_kib(child.id()) / 1024;
    assert!(
        peak_mib < 40,
        "peak RSS {peak_mib} MiB: the long line was held in memory"
    );
    drop(stdin);
    assert!(wait(&mut child).success());
}

/// A worker's exit cannot hang on its own log line. Its stderr here is a full pipe that is still
/// held open and never read, so the "stdin closed: exiting" it writes first blocks; a closed
/// stdin must still end it, by the kernel's stop deadline (SIGALRM) at the latest.
#[test]
fn exits_when_stdin_closes_even_with_its_stderr_pipe_full() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::process::ExitStatusExt;

    let (read_end, write_end) = std::io::pipe().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hemflux-worker"))
        .args(["synthetic", "synthetic:t"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(write_end.try_clone().unwrap())
        .spawn()
        .unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "{INIT}").unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        r#"{"type":"ready","version":1}"#
    );

    // Fill the pipe through an open file of our own, non-blocking: only the worker's writes block.
    let mut filler = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(format!("/proc/self/fd/{}", write_end.as_raw_fd()))
        .unwrap();
    for chunk in [4096, 1] {
        while filler.write(&vec![b'x'; chunk]).is_ok() {}
    }
    drop((filler, write_end));

    let closed = Instant::now();
    drop(child.stdin.take());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if closed.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("the worker still runs 20 s after stdin closed, stuck writing to stderr");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.signal(), Some(libc::SIGALRM), "{status}");
    eprintln!("exited {:?} after stdin closed", closed.elapsed());
    drop(read_end);
}
