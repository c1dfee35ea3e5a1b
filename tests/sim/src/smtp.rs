//! A strict, minimal SMTP server (RFC 5321) for the e-mail notification tests and the demo:
//! EHLO/HELO, optional AUTH PLAIN and LOGIN (RFC 4954), MAIL FROM, RCPT TO, DATA with
//! dot-stuffing undone, RSET, NOOP, QUIT. Commands out of order get `503` as from a real
//! server, unknown ones `500`, bad arguments `501`; lines longer than 1000 octets `500`.
//! Each accepted message is written to `<maildir>/<n>.eml` (through a temporary file, so a
//! reader never sees half a message), preceded by `X-Envelope-From:` and `X-Envelope-To:`
//! lines. With `--user NAME --password-file FILE` MAIL needs AUTH first (`530`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Where messages are written, one file each.
    #[arg(long)]
    pub maildir: PathBuf,
    /// Require AUTH with this user ...
    #[arg(long, requires = "password_file")]
    pub user: Option<String>,
    /// ... and the password in this file (its first line).
    #[arg(long, requires = "user")]
    pub password_file: Option<PathBuf>,
}

/// RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF.
const MAX_LINE: usize = 1000;
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

struct Server {
    maildir: PathBuf,
    credentials: Option<(String, String)>,
    next: AtomicU64,
}

pub async fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.maildir)
        .with_context(|| format!("creating {}", args.maildir.display()))?;
    let credentials = match (args.user, args.password_file) {
        (Some(user), Some(file)) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            Some((user, text.lines().next().unwrap_or("").to_string()))
        }
        _ => None,
    };
    let server = Arc::new(Server {
        maildir: args.maildir,
        credentials,
        next: AtomicU64::new(1),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    println!("LISTENING smtp://{}", listener.local_addr()?);
    let accept = async {
        loop {
            let (stream, _) = listener.accept().await?;
            let server = server.clone();
            tokio::spawn(async move {
                if let Err(e) = session(&server, stream).await {
                    tracing::warn!("smtp session: {e:#}");
                }
            });
        }
    };
    tokio::select! {
        r = accept => r,
        () = crate::common::stdin_closed() => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Greeting sent; EHLO or HELO first.
    Connected,
    /// Greeted: AUTH, MAIL.
    Ready,
    /// MAIL given: RCPT.
    Mail,
    /// At least one RCPT: more RCPT, or DATA.
    Rcpt,
}

struct Line {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
}

impl Line {
    /// The next line without CRLF; `Ok(None)` at EOF; `Err` text when too long.
    async fn next(&mut self) -> Result<Option<Result<String, &'static str>>> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        if !buf.ends_with(b"\n") {
            // Drain the rest of the overlong line.
            let mut rest = Vec::new();
            self.reader.read_until(b'\n', &mut rest).await?;
            return Ok(Some(Err("500 5.5.2 Line too long")));
        }
        buf.pop();
        if buf.ends_with(b"\r") {
            buf.pop();
        }
        Ok(Some(Ok(String::from_utf8_lossy(&buf).into_owned())))
    }
}

async fn session(server: &Server, stream: TcpStream) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = Line {
        reader: BufReader::new(read),
    };
    let reply = |text: String| {
        let mut t = text;
        t.push_str("\r\n");
        t
    };
    write
        .write_all(reply("220 hemflux-sim ESMTP ready".into()).as_bytes())
        .await?;
    let mut stage = Stage::Connected;
    let mut authed = false;
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    while let Some(line) = lines.next().await? {
        let line = match line {
            Ok(l) => l,
            Err(too_long) => {
                write.write_all(reply(too_long.into()).as_bytes()).await?;
                continue;
            }
        };
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (line.to_ascii_uppercase(), String::new()),
        };
        let bad_sequence = || "503 5.5.1 Bad sequence of commands".to_string();
        let answer = match verb.as_str() {
            "EHLO" | "HELO" if arg.is_empty() => "501 5.5.4 Syntax: EHLO domain".to_string(),
            "EHLO" => {
                stage = Stage::Ready;
                from.clear();
                to.clear();
                let auth = if server.credentials.is_some() {
                    "250-AUTH PLAIN LOGIN\r\n"
                } else {
                    ""
                };
                format!(
                    "250-hemflux-sim greets {arg}\r\n{auth}250-SIZE {MAX_MESSAGE}\r\n250 8BITMIME"
                )
            }
            "HELO" => {
                stage = Stage::Ready;
                from.clear();
                to.clear();
                format!("250 hemflux-sim greets {arg}")
            }
            "AUTH" => match (&server.credentials, stage, authed) {
                (None, _, _) => "502 5.5.1 AUTH not offered".into(),
                (_, Stage::Connected, _) | (_, Stage::Mail | Stage::Rcpt, _) | (_, _, true) => {
                    bad_sequence()
                }
                (Some((user, pass)), Stage::Ready, false) => {
                    match auth(&mut lines, &mut write, &arg).await? {
                        None => "501 5.5.4 Syntax: AUTH PLAIN|LOGIN".into(),
                        Some((u, p)) if &u == user && &p == pass => {
                            authed = true;
                            "235 2.7.0 Authentication successful".into()
                        }
                        Some(_) => "535 5.7.8 Authentication credentials invalid".into(),
                    }
                }
            },
            "MAIL" => {
                if stage != Stage::Ready {
                    bad_sequence()
                } else if server.credentials.is_some() && !authed {
                    "530 5.7.0 Authentication required".into()
                } else {
                    match path(&arg, "FROM:") {
                        Some(p) => {
                            from = p;
                            stage = Stage::Mail;
                            "250 2.1.0 Ok".into()
                        }
                        None => "501 5.5.4 Syntax: MAIL FROM:<address>".into(),
                    }
                }
            }
            "RCPT" => {
                if !matches!(stage, Stage::Mail | Stage::Rcpt) {
                    bad_sequence()
                } else {
                    match path(&arg, "TO:").filter(|p| !p.is_empty()) {
                        Some(p) => {
                            to.push(p);
                            stage = Stage::Rcpt;
                            "250 2.1.5 Ok".into()
                        }
                        None => "501 5.5.4 Syntax: RCPT TO:<address>".into(),
                    }
                }
            }
            "DATA" if !arg.is_empty() => "501 5.5.4 DATA takes no argument".into(),
            "DATA" => {
                if stage != Stage::Rcpt {
                    bad_sequence()
                } else {
                    write
                        .write_all(reply("354 End data with <CR><LF>.<CR><LF>".into()).as_bytes())
                        .await?;
                    let answer = match data(&mut lines).await? {
                        Some(body) => {
                            let n = server.next.fetch_add(1, Ordering::SeqCst);
                            store(server, n, &from, &to, &body)?;
                            format!("250 2.0.0 Ok: queued as {n}")
                        }
                        None => format!(
                            "552 5.3.4 Message larger than {MAX_MESSAGE} octets or a line longer than {MAX_LINE}"
                        ),
                    };
                    stage = Stage::Ready;
                    from.clear();
                    to.clear();
                    answer
                }
            }
            "RSET" => {
                if stage != Stage::Connected {
                    stage = Stage::Ready;
                }
                from.clear();
                to.clear();
                "250 2.0.0 Ok".into()
            }
            "NOOP" => "250 2.0.0 Ok".into(),
            "QUIT" => {
                write
                    .write_all(reply("221 2.0.0 Bye".into()).as_bytes())
                    .await?;
                return Ok(());
            }
            "STARTTLS" | "VRFY" | "EXPN" | "BDAT" => "502 5.5.1 Command not implemented".into(),
            _ => "500 5.5.2 Command not recognized".into(),
        };
        write.write_all(reply(answer).as_bytes()).await?;
    }
    Ok(())
}

/// The address of `MAIL FROM:<a>` / `RCPT TO:<a>` (parameters after it are ignored).
fn path(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    let addr = &inner[..end];
    if addr.chars().any(|c| c.is_whitespace()) {
        return None;
    }
    Some(addr.to_string())
}

/// Reads the AUTH exchange; the user and password, or `None` for a malformed one.
async fn auth(
    lines: &mut Line,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    arg: &str,
) -> Result<Option<(String, String)>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |s: &str| {
        b64.decode(s.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let (mech, initial) = match arg.split_once(' ') {
        Some((m, i)) => (m.to_ascii_uppercase(), Some(i.to_string())),
        None => (arg.to_ascii_uppercase(), None),
    };
    match mech.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(i) => Some(i),
                None => ask(lines, write, "").await?,
            };
            let Some(text) = response.as_deref().and_then(decode) else {
                return Ok(None);
            };
            let mut parts = text.split('\0');
            let (_authzid, user, pass) = (parts.next(), parts.next(), parts.next());
            Ok(user.zip(pass).map(|(u, p)| (u.to_string(), p.to_string())))
        }
        "LOGIN" => {
            let user = match initial {
                Some(i) => Some(i),
                None => ask(lines, write, &b64.encode("Username:")).await?,
            };
            let Some(user) = user.as_deref().and_then(decode) else {
                return Ok(None);
            };
            let pass = ask(lines, write, &b64.encode("Password:")).await?;
            Ok(pass.as_deref().and_then(decode).map(|p| (user, p)))
        }
        _ => Ok(None),
    }
}

/// A `334` challenge and the client's answer line.
async fn ask(
    lines: &mut Line,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    prompt: &str,
) -> Result<Option<String>> {
    write
        .write_all(format!("334 {prompt}\r\n").as_bytes())
        .await?;
    Ok(lines.next().await?.and_then(|l| l.ok()))
}

/// The message up to the lone `.`, dot-stuffing undone; `None` when too large or a line is.
async fn data(lines: &mut Line) -> Result<Option<String>> {
    let mut body = String::new();
    let mut too_large = false;
    loop {
        let Some(line) = lines.next().await? else {
            anyhow::bail!("connection closed inside DATA");
        };
        let Ok(line) = line else {
            too_large = true;
            continue;
        };
        if line == "." {
            return Ok((!too_large).then_some(body));
        }
        let line = line.strip_prefix('.').unwrap_or(&line);
        if body.len() + line.len() + 2 > MAX_MESSAGE {
            too_large = true;
        } else {
            body.push_str(line);
            body.push_str("\r\n");
        }
    }
}

fn store(server: &Server, n: u64, from: &str, to: &[String], body: &str) -> Result<()> {
    let text = format!(
        "X-Envelope-From: <{from}>\r\nX-Envelope-To: {}\r\n{body}",
        to.iter()
            .map(|t| format!("<{t}>"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let tmp = server.maildir.join(format!(".{n}.tmp"));
    let path = server.maildir.join(format!("{n}.eml"));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(path("FROM:<a@b.c>", "FROM:").as_deref(), Some("a@b.c"));
        assert_eq!(
            path("from: <a@b.c> SIZE=10", "FROM:").as_deref(),
            Some("a@b.c")
        );
        assert_eq!(path("FROM:<>", "FROM:").as_deref(), Some(""));
        assert_eq!(path("FROM:a@b.c", "FROM:"), None);
        assert_eq!(path("TO:<a@b.c>", "FROM:"), None);
    }
}
