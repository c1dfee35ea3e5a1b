//! The SKSTACK-IP module: commands and their `OK`/`FAIL ERnn` answers, the asynchronous EVENT
//! and ERXUDP lines, scanning, joining and one ECHONET Lite request/response over UDP 3610.
//! Echo lines are skipped; a line that fits no known form is logged and skipped.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::echonet::{self, Frame};
use super::port::{LinePort, PortLost};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
const REAUTH_TIMEOUT: Duration = Duration::from_secs(60);
/// ECHONET Lite's UDP port, 0E1A.
const ECHONET_PORT: &str = "0E1A";

/// How the module dialect differs: C-style modules add a SIDE token to several commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    A1,
    C,
}

/// What a scan found: enough to join again without scanning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pan {
    pub channel: String,
    pub pan_id: String,
    /// The meter's MAC address (EPANDESC `Addr`).
    pub addr: String,
}

/// A line the module printed on its own.
#[derive(Debug, Clone, PartialEq)]
enum Notice {
    Event {
        code: u8,
        addr: String,
        rest: Vec<String>,
    },
    PanDesc(Pan),
    Udp(Udp),
}

#[derive(Debug, Clone, PartialEq)]
struct Udp {
    sender: String,
    rport: String,
    lport: String,
    data: Vec<u8>,
}

/// What one line is.
#[derive(Debug, PartialEq)]
enum Line {
    Ok(String),
    Fail(String),
    Notice(Notice),
    PanDescStart,
    PanField(String, String),
    Text(String),
    Echo,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    PortLost(#[from] PortLost),
    #[error("the PANA session is gone ({0})")]
    SessionLost(String),
    #[error("no answer from the meter")]
    NoAnswer,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub struct Module {
    port: LinePort,
    notices: VecDeque<Notice>,
    /// A line read past the end of an EPANDESC block.
    peeked: Option<String>,
    pub family: Family,
    /// The family was not configured: learn it from the scan.
    detect_family: bool,
}

impl Module {
    pub fn new(port: LinePort, family: Family, detect_family: bool) -> Module {
        Module {
            port,
            notices: VecDeque::new(),
            peeked: None,
            family,
            detect_family,
        }
    }

    /// Clears whatever the module printed before we came, and makes ERXUDP data hex.
    pub async fn start(&mut self) -> Result<()> {
        self.port.write(b"\r\n").await?;
        let drain_until = Instant::now() + Duration::from_millis(300);
        while self.port.next_line(drain_until).await?.is_some() {}
        // BP35A1 may print ERXUDP data as binary; switch it to hex once (kept in flash). Other
        // modules answer FAIL ER04 and always print hex.
        match self.command_cr("ROPT").await? {
            Line::Ok(mode) if mode == "00" => {
                tracing::info!("switching the module's ERXUDP output to hex (WOPT 01)");
                self.expect_ok_cr("WOPT 01").await?;
            }
            Line::Ok(_) | Line::Fail(_) => {}
            other => bail!("unexpected answer to ROPT: {other:?}"),
        }
        let (_, text) = self.command("SKVER", COMMAND_TIMEOUT).await?;
        tracing::info!(version = %text.join(" "), "module answers");
        Ok(())
    }

    pub async fn set_credentials(&mut self, id: &str, password: &str) -> Result<()> {
        self.expect_ok(&format!("SKSETPWD {:X} {password}", password.len()))
            .await
            .map_err(|_| anyhow!("the module refused the B-route password"))?;
        self.expect_ok(&format!("SKSETRBID {id}"))
            .await
            .map_err(|_| anyhow!("the module refused the B-route ID"))?;
        Ok(())
    }

    /// Active scan with growing durations; `None` if no meter answered.
    pub async fn scan(&mut self, duration: u8) -> Result<Option<Pan>, RequestError> {
        let side = match self.family {
            Family::A1 => "",
            Family::C => " 0",
        };
        let cmd = format!("SKSCAN 2 FFFFFFFF {duration}{side}");
        match self.command(&cmd, COMMAND_TIMEOUT).await?.0 {
            Line::Fail(code)
                if code == "ER05" && self.detect_family && self.family == Family::A1 =>
            {
                // A C-style module wants the SIDE token: learn that once, then scan again.
                tracing::info!("SKSCAN without SIDE was refused (ER05): the module is C-style");
                self.family = Family::C;
                return Box::pin(self.scan(duration)).await;
            }
            Line::Fail(code) => return Err(anyhow!("SKSCAN failed: FAIL {code}").into()),
            _ => {}
        }
        // 28 channels, 0.01 s x (2^D + 1) each.
        let scan_secs = 28.0 * 0.01 * (2f64.powi(duration as i32) + 1.0);
        let deadline = Instant::now() + Duration::from_secs_f64(scan_secs + 10.0);
        let mut found = None;
        while let Some(notice) = self.next_notice(deadline).await? {
            match notice {
                Notice::PanDesc(pan) => found = Some(pan),
                Notice::Event { code: 0x22, .. } => return Ok(found),
                other => tracing::debug!(?other, "ignored during the scan"),
            }
        }
        Err(anyhow!("the scan did not finish (no EVENT 22) within {scan_secs:.0} s + 10 s").into())
    }

    /// Joins the PAN; returns the meter's link-local address.
    pub async fn join(&mut self, pan: &Pan) -> Result<String, RequestError> {
        let (_, text) = self
            .command(&format!("SKLL64 {}", pan.addr), COMMAND_TIMEOUT)
            .await?;
        let meter = text
            .into_iter()
            .find(|t| is_ipv6(t))
            .ok_or_else(|| anyhow!("SKLL64 gave no address"))?;
        self.expect_ok(&format!("SKSREG S2 {}", pan.channel))
            .await?;
        self.expect_ok(&format!("SKSREG S3 {}", pan.pan_id)).await?;
        self.notices.clear();
        self.expect_ok(&format!("SKJOIN {meter}")).await?;
        let deadline = Instant::now() + JOIN_TIMEOUT;
        while let Some(notice) = self.next_notice(deadline).await? {
            match notice {
                Notice::Event { code: 0x25, .. } => return Ok(meter),
                Notice::Event { code: 0x24, .. } => {
                    return Err(anyhow!(
                        "PANA authentication failed (EVENT 24): check the B-route ID and password"
                    )
                    .into())
                }
                _ => {} // PANA chatter
            }
        }
        Err(anyhow!("no EVENT 25/24 within {JOIN_TIMEOUT:?} after SKJOIN").into())
    }

    /// Ends the session; errors are of no interest (the session may be gone already).
    pub async fn terminate(&mut self) -> Result<(), PortLost> {
        match self.command("SKTERM", COMMAND_TIMEOUT).await {
            Err(RequestError::PortLost(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Sends one ECHONET Lite request and waits for the meter's answer to it.
    pub async fn request(
        &mut self,
        meter: &str,
        frame: &Frame,
        timeout: Duration,
    ) -> Result<Frame, RequestError> {
        for _ in 0..3 {
            if let Some(answer) = self.send_once(meter, frame, timeout).await? {
                return Ok(answer);
            }
        }
        Err(RequestError::SessionLost(
            "the session keeps expiring".into(),
        ))
    }

    /// `None` when the session expired and was renewed meanwhile: send again.
    async fn send_once(
        &mut self,
        meter: &str,
        frame: &Frame,
        timeout: Duration,
    ) -> Result<Option<Frame>, RequestError> {
        let data = frame.encode();
        let side = match self.family {
            Family::A1 => "",
            Family::C => " 0",
        };
        let mut bytes = format!(
            "SKSENDTO 1 {meter} {ECHONET_PORT} 1{side} {:04X} ",
            data.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&data);
        self.port.write(&bytes).await?;
        match self
            .wait_status(Instant::now() + Duration::from_secs(10))
            .await?
        {
            Some(Line::Ok(_)) => {}
            Some(Line::Fail(code)) => {
                return Err(RequestError::SessionLost(format!("SKSENDTO: FAIL {code}")))
            }
            _ => return Err(RequestError::NoAnswer),
        }
        let deadline = Instant::now() + timeout;
        while let Some(notice) = self.next_notice(deadline).await? {
            match notice {
                Notice::Udp(udp) => {
                    if let Some(answer) = answer_to(frame, meter, &udp) {
                        return Ok(Some(answer));
                    }
                }
                Notice::Event {
                    code: 0x21, rest, ..
                } if rest.last().is_some_and(|p| p == "01") => {
                    return Err(RequestError::NoAnswer);
                }
                Notice::Event { code: 0x29, .. } => {
                    // The module re-authenticates by itself; our request was lost with the session.
                    self.await_reauth().await?;
                    return Ok(None);
                }
                Notice::Event {
                    code: c @ (0x24 | 0x26 | 0x27 | 0x28),
                    ..
                } => {
                    return Err(RequestError::SessionLost(format!("EVENT {c:02X}")));
                }
                _ => {}
            }
        }
        Err(RequestError::NoAnswer)
    }

    /// Reads what the module says while nothing is asked of it, until `deadline`; tells if the
    /// session ended meanwhile.
    pub async fn idle(&mut self, deadline: Instant) -> Result<(), RequestError> {
        while let Some(notice) = self.next_notice(deadline).await? {
            match notice {
                Notice::Event { code: 0x29, .. } => self.await_reauth().await?,
                Notice::Event {
                    code: c @ (0x24 | 0x26 | 0x27 | 0x28),
                    ..
                } => {
                    return Err(RequestError::SessionLost(format!("EVENT {c:02X}")));
                }
                Notice::Udp(udp) => {
                    tracing::debug!(from = %udp.sender, bytes = udp.data.len(), "unsolicited frame ignored")
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// After EVENT 29 (lifetime expired): wait for the module's own re-authentication.
    async fn await_reauth(&mut self) -> Result<(), RequestError> {
        tracing::info!("PANA session lifetime expired (EVENT 29): waiting for re-authentication");
        let deadline = Instant::now() + REAUTH_TIMEOUT;
        while let Some(notice) = self.next_notice(deadline).await? {
            match notice {
                Notice::Event { code: 0x25, .. } => {
                    tracing::info!("session re-established (EVENT 25)");
                    return Ok(());
                }
                Notice::Event {
                    code: c @ (0x24 | 0x26 | 0x27 | 0x28),
                    ..
                } => {
                    return Err(RequestError::SessionLost(format!(
                        "EVENT {c:02X} after EVENT 29"
                    )));
                }
                _ => {}
            }
        }
        Err(RequestError::SessionLost(
            "no re-authentication after EVENT 29".into(),
        ))
    }

    async fn expect_ok(&mut self, cmd: &str) -> Result<(), RequestError> {
        match self.command(cmd, COMMAND_TIMEOUT).await? {
            (Line::Ok(_), _) => Ok(()),
            (Line::Fail(code), _) => Err(anyhow!("{} failed: FAIL {code}", verb(cmd)).into()),
            (other, _) => Err(anyhow!("{} failed: {other:?}", verb(cmd)).into()),
        }
    }

    async fn expect_ok_cr(&mut self, cmd: &str) -> Result<()> {
        match self.command_cr(cmd).await? {
            Line::Ok(_) => Ok(()),
            other => bail!("{} failed: {other:?}", verb(cmd)),
        }
    }

    /// ROPT/WOPT are ended by CR alone.
    async fn command_cr(&mut self, cmd: &str) -> Result<Line> {
        self.port.write(format!("{cmd}\r").as_bytes()).await?;
        self.wait_status(Instant::now() + COMMAND_TIMEOUT)
            .await?
            .ok_or_else(|| anyhow!("no answer to {cmd} within {COMMAND_TIMEOUT:?}"))
    }

    /// Sends a command line and returns its status (`OK`/`FAIL`) and the text lines before it.
    /// SKLL64 has no status: its address line ends it.
    async fn command(
        &mut self,
        cmd: &str,
        timeout: Duration,
    ) -> Result<(Line, Vec<String>), RequestError> {
        self.port.write(format!("{cmd}\r\n").as_bytes()).await?;
        let deadline = Instant::now() + timeout;
        let mut text = Vec::new();
        loop {
            match self.next_line(deadline).await? {
                None => return Err(anyhow!("no answer to {} within {timeout:?}", verb(cmd)).into()),
                Some(status @ (Line::Ok(_) | Line::Fail(_))) => return Ok((status, text)),
                Some(Line::Notice(n)) => self.notices.push_back(n),
                Some(Line::Text(t)) => {
                    let done = cmd.starts_with("SKLL64") && is_ipv6(&t);
                    text.push(t);
                    if done {
                        return Ok((Line::Ok(String::new()), text));
                    }
                }
                Some(_) => {}
            }
        }
    }

    async fn wait_status(&mut self, deadline: Instant) -> Result<Option<Line>, PortLost> {
        loop {
            match self.next_line(deadline).await? {
                None => return Ok(None),
                Some(status @ (Line::Ok(_) | Line::Fail(_))) => return Ok(Some(status)),
                Some(Line::Notice(n)) => self.notices.push_back(n),
                Some(_) => {}
            }
        }
    }

    async fn next_notice(&mut self, deadline: Instant) -> Result<Option<Notice>, PortLost> {
        if let Some(n) = self.notices.pop_front() {
            return Ok(Some(n));
        }
        loop {
            match self.next_line(deadline).await? {
                None => return Ok(None),
                Some(Line::Notice(n)) => return Ok(Some(n)),
                Some(other) => {
                    tracing::debug!(?other, "ignoring a line that answers nothing we asked")
                }
            }
        }
    }

    /// The next meaningful line: echo is dropped, garbage logged and dropped, an EPANDESC
    /// block read whole.
    async fn next_line(&mut self, deadline: Instant) -> Result<Option<Line>, PortLost> {
        loop {
            let raw = match self.peeked.take() {
                Some(l) => l,
                None => match self.port.next_line(deadline).await? {
                    Some(l) => l,
                    None => return Ok(None),
                },
            };
            match classify(&raw) {
                None => {
                    tracing::warn!(line = %printable(&raw), "skipping a line that is not SKSTACK-IP output")
                }
                Some(Line::Echo) => {}
                Some(Line::PanDescStart) => {
                    if let Some(pan) = self.read_pan_desc(deadline).await? {
                        return Ok(Some(Line::Notice(Notice::PanDesc(pan))));
                    }
                }
                Some(Line::PanField(..)) => {
                    tracing::warn!(line = %printable(&raw), "skipping an EPANDESC field outside a block")
                }
                Some(line) => return Ok(Some(line)),
            }
        }
    }

    async fn read_pan_desc(&mut self, deadline: Instant) -> Result<Option<Pan>, PortLost> {
        let (mut channel, mut pan_id, mut addr) = (None, None, None);
        while let Some(raw) = self.port.next_line(deadline).await? {
            match classify(&raw) {
                Some(Line::PanField(key, value)) => match key.as_str() {
                    "Channel" => channel = Some(value),
                    "Pan ID" => pan_id = Some(value),
                    "Addr" => addr = Some(value),
                    _ => {}
                },
                _ => {
                    self.peeked = Some(raw);
                    break;
                }
            }
        }
        match (channel, pan_id, addr) {
            (Some(channel), Some(pan_id), Some(addr)) => Ok(Some(Pan {
                channel,
                pan_id,
                addr,
            })),
            _ => {
                tracing::warn!("skipping an incomplete EPANDESC block");
                Ok(None)
            }
        }
    }
}

/// The answer to `request` in `udp`, if it is one; anything else is logged and dropped.
fn answer_to(request: &Frame, meter: &str, udp: &Udp) -> Option<Frame> {
    if udp.rport != ECHONET_PORT || udp.lport != ECHONET_PORT {
        return None; // PANA (02CC) or other traffic
    }
    let frame = match Frame::decode(&udp.data) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(from = %udp.sender, "skipping an undecodable ECHONET Lite frame: {e}");
            return None;
        }
    };
    let answers = matches!(
        (request.esv, frame.esv),
        (
            echonet::ESV_GET,
            echonet::ESV_GET_RES | echonet::ESV_GET_SNA
        ) | (
            echonet::ESV_SETC,
            echonet::ESV_SET_RES | echonet::ESV_SETC_SNA
        )
    );
    let same_epcs = frame
        .props
        .iter()
        .map(|p| p.epc)
        .eq(request.props.iter().map(|p| p.epc));
    let ok = udp.sender == meter
        && frame.tid == request.tid
        && frame.seoj == echonet::SMART_METER
        && frame.deoj == echonet::CONTROLLER
        && answers
        && same_epcs;
    if !ok {
        tracing::debug!(
            tid = frame.tid,
            esv = frame.esv,
            "dropping a frame that is not the answer"
        );
    }
    ok.then_some(frame)
}

fn classify(line: &str) -> Option<Line> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let first = *tokens.first()?;
    if line.starts_with("  ") {
        let (key, value) = line.trim().split_once(':')?;
        return Some(Line::PanField(key.to_string(), value.to_string()));
    }
    match first {
        "OK" => Some(Line::Ok(tokens.get(1).unwrap_or(&"").to_string())),
        "FAIL" => Some(Line::Fail(tokens.get(1)?.to_string())),
        "EPANDESC" => Some(Line::PanDescStart),
        "EVENT" => {
            let code = u8::from_str_radix(tokens.get(1)?, 16).ok()?;
            let addr = tokens.get(2)?.to_string();
            let rest = tokens[3..].iter().map(|s| s.to_string()).collect();
            Some(Line::Notice(Notice::Event { code, addr, rest }))
        }
        "ERXUDP" => parse_erxudp(&tokens).map(|u| Line::Notice(Notice::Udp(u))),
        "EVER" | "EINFO" | "ESREG" => Some(Line::Text(line.to_string())),
        _ if first.starts_with("SK") || first == "ROPT" || first == "WOPT" => Some(Line::Echo),
        _ if tokens.len() == 1 && is_ipv6(first) => Some(Line::Text(first.to_string())),
        _ => None,
    }
}

/// A1: ERXUDP SENDER DEST RPORT LPORT SENDERLLA SECURED DATALEN DATA (9 tokens);
/// C: ... SENDERLLA [LQI] SECURED SIDE DATALEN DATA (10 or 11).
fn parse_erxudp(tokens: &[&str]) -> Option<Udp> {
    if !(9..=11).contains(&tokens.len()) || !is_ipv6(tokens[1]) {
        return None;
    }
    let len = usize::from_str_radix(tokens[tokens.len() - 2], 16).ok()?;
    let data = echonet::from_hex(tokens[tokens.len() - 1])?;
    if data.len() != len {
        return None;
    }
    Some(Udp {
        sender: tokens[1].to_string(),
        rport: tokens[3].to_string(),
        lport: tokens[4].to_string(),
        data,
    })
}

fn is_ipv6(s: &str) -> bool {
    let groups: Vec<&str> = s.split(':').collect();
    groups.len() == 8
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn verb(cmd: &str) -> &str {
    cmd.split(' ').next().unwrap_or(cmd)
}

/// Garbage can hold control characters; keep the log readable and short.
fn printable(line: &str) -> String {
    line.chars()
        .take(120)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const METER: &str = "FE80:0000:0000:0000:021C:6400:6014:21A3";

    #[test]
    fn erxudp_lines_of_both_families() {
        let a1 = "ERXUDP FE80:0000:0000:0000:021C:6400:6014:21A3 FE80:0000:0000:0000:021D:1290:0005:747B 0E1A 0E1A 001C6400601421A3 1 0012 1081000302880105FF017201E70400000278";
        let Some(Line::Notice(Notice::Udp(u))) = classify(a1) else {
            panic!()
        };
        assert_eq!((u.sender.as_str(), u.data.len()), (METER, 18));
        let c = "ERXUDP FE80:0000:0000:0000:021C:6400:6014:21A3 FE80:0000:0000:0000:021D:1290:0005:747B 0E1A 0E1A 001C6400601421A3 E1 1 0 0012 1081000302880105FF017201E70400000278";
        assert!(matches!(classify(c), Some(Line::Notice(Notice::Udp(_)))));
        let request = Frame::get(3, echonet::EPC_POWER);
        assert!(answer_to(&request, METER, &u).is_some());
        assert!(answer_to(&Frame::get(4, echonet::EPC_POWER), METER, &u).is_none());
        assert!(answer_to(&Frame::get(3, echonet::EPC_CUMULATIVE), METER, &u).is_none());
    }

    #[test]
    fn garbage_and_damaged_lines_are_not_accepted() {
        for line in [
            "\u{1}\u{2}xx!!",
            "ERXUDP FE80:0000:0000:0000:021C:6400:6014:21A3 FE80:0000:0000:0000:021D:1290:0005:747B 0E1A 0E1A 001C6400601421A3 1 0012 1081000302880105FF017201E704000002",
            "ERXUDP FE80:0000:0000:0000:021C:6400:6014:21A3 FE80:0000:0000:0000:021D:1290:0005:747B 0E1A 0E1A 001C6400601421A3 1 0012 1081000302880105FF017201E7040000027",
            "EVENT ZZ FE80",
            "FAIL",
            "ERXUDP FE80",
        ] {
            assert_eq!(classify(line), None, "{line}");
        }
    }

    #[test]
    fn module_lines() {
        assert_eq!(classify("OK"), Some(Line::Ok(String::new())));
        assert_eq!(classify("OK 01"), Some(Line::Ok("01".into())));
        assert_eq!(classify("FAIL ER04"), Some(Line::Fail("ER04".into())));
        assert_eq!(
            classify("SKSENDTO 1 FE80:0000:0000:0000:021C:6400:6014:21A3 0E1A 1 000E "),
            Some(Line::Echo)
        );
        assert_eq!(
            classify("  Pan ID:8888"),
            Some(Line::PanField("Pan ID".into(), "8888".into()))
        );
        assert_eq!(classify(METER), Some(Line::Text(METER.into())));
        assert_eq!(
            classify("EVENT 21 FE80:0000:0000:0000:021C:6400:6014:21A3 0 00"),
            Some(Line::Notice(Notice::Event {
                code: 0x21,
                addr: METER.into(),
                rest: vec!["0".into(), "00".into()]
            }))
        );
    }
}
