//! Every HTTP simulator binds the address it is given (port 0: a free one), says where with a
//! `LISTENING` line, and stops when its stdin closes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn every_http_simulator_announces_its_address_and_stops_with_stdin() {
    for (vendor, args) in [
        ("homeside", &["--house", "HEM_FJV_Villa_1:FC1:pw"][..]),
        ("arrigo", &["--username", "u", "--password", "p"][..]),
        ("smhi", &[][..]),
        ("wattivahti", &["--refresh-token", "t"][..]),
        ("tibber", &["--token", "t"][..]),
        ("dropbox", &[][..]),
        ("seq", &[][..]),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hemflux-sim"))
            .arg(vendor)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .strip_prefix("LISTENING http://127.0.0.1:")
            .unwrap_or_else(|| panic!("{vendor}: {first:?}"));
        assert!(
            url.trim().parse::<u16>().is_ok_and(|p| p > 0),
            "{vendor}: {first:?}"
        );
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "{vendor} did not stop when its stdin closed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
