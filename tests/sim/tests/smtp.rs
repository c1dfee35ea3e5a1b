//! `hemflux-sim smtp` spoken to over raw TCP, as a strict server must answer: the greeting,
//! EHLO, commands out of order (503), AUTH PLAIN and LOGIN, DATA with dot-stuffing, QUIT, and
//! each message in its own file.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use hemflux_e2e::Sim;

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(address: &str) -> Client {
        let addr = address.strip_prefix("smtp://").unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut c = Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        assert!(c.reply().starts_with("220 "));
        c
    }

    /// One reply, all its lines (`250-...` continued, `250 ...` last).
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            assert!(line.ends_with("\r\n"), "CRLF: {line:?}");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    fn send(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }

    /// Sends `line` and asserts the reply's code.
    fn expect(&mut self, line: &str, want: &str, why: &str) {
        let reply = self.send(line);
        assert_eq!(code(&reply), want, "{line:?} ({why}): {reply}");
    }
}

fn code(reply: &str) -> &str {
    &reply[..3]
}

#[test]
fn a_strict_server_in_order_with_dot_stuffing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start("smtp", &["--maildir", dir.path().to_str().unwrap()]);
    let mut c = Client::connect(&sim.address);
    c.expect("MAIL FROM:<a@example.com>", "503", "EHLO first");
    c.expect("EHLO", "501", "EHLO needs a domain");
    let ehlo = c.send("EHLO client.example");
    assert!(
        ehlo.starts_with("250-") && ehlo.contains("8BITMIME"),
        "{ehlo}"
    );
    assert!(
        !ehlo.contains("AUTH"),
        "no AUTH offered without --user: {ehlo}"
    );
    c.expect("RCPT TO:<b@example.com>", "503", "MAIL first");
    c.expect("DATA", "503", "RCPT first");
    c.expect("MAIL FROM:a@example.com", "501", "angle brackets");
    c.expect("MAIL FROM:<a@example.com> SIZE=100", "250", "");
    c.expect("MAIL FROM:<again@example.com>", "503", "one MAIL");
    c.expect("DATA", "503", "no recipient yet");
    c.expect("RCPT TO:<b@example.com>", "250", "");
    c.expect("rcpt to:<c@example.com>", "250", "verbs in any case");
    c.expect("DATA", "354", "");
    c.writer
        .write_all(b"Subject: hi\r\n\r\n..leading dot\r\nline\r\n.\r\n")
        .unwrap();
    assert_eq!(code(&c.reply()), "250");
    c.expect("RCPT TO:<d@example.com>", "503", "a new MAIL first");
    c.expect("HELP", "500", "");
    assert_eq!(
        code(&c.send(&format!("NOOP {}", "x".repeat(1200)))),
        "500",
        "line too long"
    );
    c.expect("NOOP", "250", "still in step after the long line");
    c.expect("QUIT", "221", "");
    let text = std::fs::read_to_string(dir.path().join("1.eml")).unwrap();
    assert_eq!(
        text,
        "X-Envelope-From: <a@example.com>\r\nX-Envelope-To: <b@example.com>, <c@example.com>\r\n\
         Subject: hi\r\n\r\n.leading dot\r\nline\r\n"
    );
}

#[test]
fn auth_plain_and_login_before_mail() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let maildir = dir.path().join("mail");
    let sim = Sim::start(
        "smtp",
        &[
            "--maildir",
            maildir.to_str().unwrap(),
            "--user",
            "u",
            "--password-file",
            secret.to_str().unwrap(),
        ],
    );
    let mut c = Client::connect(&sim.address);
    c.expect("AUTH PLAIN AHUAczNjcmV0", "503", "EHLO first");
    assert!(c.send("EHLO x").contains("250-AUTH PLAIN LOGIN"));
    c.expect("MAIL FROM:<a@example.com>", "530", "AUTH first");
    // base64("\0u\0wrong")
    c.expect("AUTH PLAIN AHUAd3Jvbmc=", "535", "");
    // base64("\0u\0s3cret")
    c.expect("AUTH PLAIN AHUAczNjcmV0", "235", "");
    c.expect("AUTH PLAIN AHUAczNjcmV0", "503", "once");
    c.expect("MAIL FROM:<a@example.com>", "250", "");

    let mut c = Client::connect(&sim.address);
    c.send("HELO x");
    assert_eq!(c.send("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.send("dQ=="), "334 UGFzc3dvcmQ6\r\n");
    c.expect("czNjcmV0", "235", "");
    c.expect("MAIL FROM:<a@example.com>", "250", "");
}
