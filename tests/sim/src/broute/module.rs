//! The SKSTACK-IP module as seen on its serial line: command parsing from raw bytes (SKSENDTO
//! carries DATALEN raw bytes), echo, `OK`/`FAIL ERnn`, EVENT lines, the EPANDESC block, ERXUDP,
//! PANA join and session lifetime, and the ECHONET Lite meter behind it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::{Family, Sim};

pub const OWN_IP: &str = "FE80:0000:0000:0000:021D:1290:0005:747B";
const OWN_MAC: &str = "001D12900005747B";
const MULTICAST: &str = "FF02:0000:0000:0000:0000:0000:0000:0001";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    None,
    Joining,
    Up,
    /// After EVENT 29, until the module's own re-authentication ends.
    Reauth,
}

/// Everything a reset (or a power cycle) forgets.
struct State {
    echo: bool,
    rbid: Option<String>,
    password: Option<String>,
    channel: Option<u8>,
    pan_id: Option<String>,
    lqi_in_erxudp: bool,
    session: Session,
    /// E5: which day E2 returns.
    history_day: u8,
    answered: u64,
    requests: u64,
    last_answer: Option<Vec<u8>>,
}

impl State {
    fn new() -> State {
        State {
            echo: true,
            rbid: None,
            password: None,
            channel: None,
            pan_id: None,
            lqi_in_erxudp: false,
            session: Session::None,
            history_day: 0,
            answered: 0,
            requests: 0,
            last_answer: None,
        }
    }
}

/// One power cycle of the module on one pty.
pub struct Module {
    sim: Arc<Sim>,
    state: Mutex<State>,
    out: UnboundedSender<Vec<u8>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Module {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// What the host sent: a line, or a SKSENDTO with its raw data.
#[derive(Debug, PartialEq)]
pub enum Input {
    Line {
        text: String,
        terminator: &'static str,
    },
    SendTo {
        header: String,
        data: Vec<u8>,
    },
}

/// Splits the host's bytes into inputs; keeps what is not complete yet.
pub fn parse_input(buf: &mut Vec<u8>, family: Family) -> Option<Input> {
    let header_tokens = match family {
        Family::C => 7,
        _ => 6,
    };
    if buf.starts_with(b"SKSENDTO ") {
        let spaces: Vec<usize> = buf
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b' ')
            .map(|(i, _)| i)
            .take(header_tokens)
            .collect();
        let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n');
        if spaces.len() == header_tokens && line_end.is_none_or(|e| e > spaces[header_tokens - 1]) {
            let header_end = spaces[header_tokens - 1];
            let header = String::from_utf8_lossy(&buf[..header_end]).into_owned();
            let len_token = header.rsplit(' ').next().unwrap_or("");
            let len = usize::from_str_radix(len_token, 16).unwrap_or(0);
            if buf.len() < header_end + 1 + len {
                return None;
            }
            let data = buf[header_end + 1..header_end + 1 + len].to_vec();
            buf.drain(..header_end + 1 + len);
            return Some(Input::SendTo { header, data });
        }
        // A SKSENDTO line that ends before its header does: a plain line, refused as such.
    }
    let end = buf.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let mut consumed = end + 1;
    let terminator = if buf[end] == b'\r' && buf.get(end + 1) == Some(&b'\n') {
        consumed += 1;
        "\r\n"
    } else if buf[end] == b'\r' {
        "\r"
    } else {
        "\n"
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..consumed);
    Some(Input::Line { text, terminator })
}

impl Module {
    pub fn new(sim: Arc<Sim>, out: UnboundedSender<Vec<u8>>) -> Arc<Module> {
        let m = Arc::new(Module {
            sim,
            state: Mutex::new(State::new()),
            out,
            tasks: Mutex::default(),
        });
        let inf = m.clone();
        m.spawn(async move { inf.notify_boundaries().await });
        m
    }

    fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.lock().unwrap().push(tokio::spawn(f));
    }

    fn raw(&self, bytes: impl Into<Vec<u8>>) {
        let _ = self.out.send(bytes.into());
    }

    fn line(&self, text: &str) {
        self.raw(format!("{text}\r\n"));
    }

    fn fail(&self, code: &str) {
        self.line(&format!("FAIL {code}"));
    }

    fn meter_ip(&self) -> String {
        super::link_local(&self.sim.opts.meter_mac)
    }

    /// `EVENT hh <ip>` (+ SIDE on C-style, + PARAM for EVENT 21).
    fn event(&self, code: u8, ip: &str, param: Option<&str>) {
        let side = if self.sim.opts.family == Family::C {
            " 0"
        } else {
            ""
        };
        let param = param.map(|p| format!(" {p}")).unwrap_or_default();
        self.line(&format!("EVENT {code:02X} {ip}{side}{param}"));
    }

    fn erxudp(&self, sender: &str, dest: &str, port: &str, secured: bool, data: &[u8]) {
        let st = self.state.lock().unwrap();
        let mac = &self.sim.opts.meter_mac;
        let sec = if secured { "1" } else { "0" };
        let middle = match self.sim.opts.family {
            Family::C if st.lqi_in_erxudp => format!("{mac} E1 {sec} 0"),
            Family::C => format!("{mac} {sec} 0"),
            _ => format!("{mac} {sec}"),
        };
        drop(st);
        let head = format!(
            "ERXUDP {sender} {dest} {port} {port} {middle} {:04X} ",
            data.len()
        );
        let mut bytes = head.into_bytes();
        if self.sim.hex.load(std::sync::atomic::Ordering::Relaxed) {
            bytes.extend_from_slice(hex(data).as_bytes());
        } else {
            bytes.extend_from_slice(data);
        }
        bytes.extend_from_slice(b"\r\n");
        self.raw(bytes);
    }

    pub fn handle(self: &Arc<Self>, input: Input) {
        match input {
            Input::SendTo { header, data } => {
                if self.state.lock().unwrap().echo {
                    self.line(&format!("{header} "));
                }
                self.send_to(&header, &data);
            }
            Input::Line { text, terminator } => {
                if text.is_empty() {
                    return;
                }
                if self.state.lock().unwrap().echo {
                    self.raw(format!("{text}{terminator}"));
                }
                self.command(&text);
            }
        }
    }

    fn command(self: &Arc<Self>, text: &str) {
        let tokens: Vec<&str> = text.split(' ').collect();
        let (cmd, args) = (tokens[0], &tokens[1..]);
        let family = self.sim.opts.family;
        let argc = |n: usize| args.len() == n;
        match cmd {
            "SKVER" if argc(0) => {
                self.line("EVER 1.2.10");
                self.line("OK");
            }
            "SKINFO" if argc(0) => {
                let o = &self.sim.opts;
                let st = self.state.lock().unwrap();
                let ch = st
                    .channel
                    .map(|c| format!("{c:02X}"))
                    .unwrap_or("21".into());
                let pan = st.pan_id.clone().unwrap_or("FFFF".into());
                drop(st);
                // The last token: an A1-style module has no side and answers FFFE; a BP35C2
                // answers the side it works on (clients tell the families apart by it).
                let last = if o.family == Family::C { "0" } else { "FFFE" };
                self.line(&format!("EINFO {OWN_IP} {OWN_MAC} {ch} {pan} {last}"));
                self.line("OK");
            }
            "SKRESET" if argc(0) => {
                *self.state.lock().unwrap() = State::new();
                self.line("OK");
            }
            "SKSETPWD" if argc(2) => {
                let len = usize::from_str_radix(args[0], 16).ok();
                if len != Some(args[1].len()) || !(1..=32).contains(&args[1].len()) {
                    return self.fail("ER06");
                }
                self.state.lock().unwrap().password = Some(args[1].to_string());
                self.line("OK");
            }
            "SKSETRBID" if argc(1) => {
                if args[0].len() != 32 {
                    return self.fail("ER06");
                }
                self.state.lock().unwrap().rbid = Some(args[0].to_string());
                self.line("OK");
            }
            "SKSREG" if argc(1) || argc(2) => self.sreg(args),
            "SKSCAN" if (family == Family::C && argc(4)) || (family != Family::C && argc(3)) => {
                self.scan(args)
            }
            "SKLL64" if argc(1) => {
                if args[0].len() != 16 || !is_hex(args[0]) {
                    return self.fail("ER06");
                }
                self.line(&super::link_local(args[0]));
            }
            "SKJOIN" if argc(1) => self.join(args[0]),
            "SKTERM" if argc(0) => {
                let mut st = self.state.lock().unwrap();
                if matches!(st.session, Session::None | Session::Joining) {
                    drop(st);
                    return self.fail("ER10");
                }
                st.session = Session::None;
                drop(st);
                self.line("OK");
                self.event(0x27, &self.meter_ip(), None);
            }
            "ROPT" | "WOPT" if family != Family::Bp35a1 => self.fail("ER04"),
            "ROPT" if argc(0) => {
                let hex = self.sim.hex.load(std::sync::atomic::Ordering::Relaxed);
                self.raw(if hex { "OK 01\r" } else { "OK 00\r" });
            }
            "WOPT" if argc(1) => match args[0] {
                "00" | "01" => {
                    self.sim
                        .hex
                        .store(args[0] == "01", std::sync::atomic::Ordering::Relaxed);
                    self.raw("OK\r");
                }
                _ => self.fail("ER06"),
            },
            "SKVER" | "SKINFO" | "SKRESET" | "SKSETPWD" | "SKSETRBID" | "SKSREG" | "SKSCAN"
            | "SKLL64" | "SKJOIN" | "SKTERM" | "ROPT" | "WOPT" => self.fail("ER05"),
            _ => self.fail("ER04"),
        }
    }

    fn sreg(&self, args: &[&str]) {
        let mut st = self.state.lock().unwrap();
        let value = args.get(1).copied();
        let ok = match (args[0], value) {
            ("S2", Some(v)) => match u8::from_str_radix(v, 16) {
                Ok(c @ 0x21..=0x3C) if v.len() <= 2 => {
                    st.channel = Some(c);
                    true
                }
                _ => false,
            },
            ("S3", Some(v)) if v.len() == 4 && is_hex(v) => {
                st.pan_id = Some(v.to_uppercase());
                true
            }
            ("SFE", Some(v @ ("0" | "1"))) => {
                st.echo = v == "1";
                true
            }
            // Every family accepts it (clients send it right after SKRESET); only C-style
            // modules then put the LQI in ERXUDP.
            ("SA2", Some(v @ ("0" | "1"))) => {
                st.lqi_in_erxudp = v == "1";
                true
            }
            ("S2", None) => {
                let v = st
                    .channel
                    .map(|c| format!("{c:02X}"))
                    .unwrap_or("21".into());
                drop(st);
                self.line(&format!("ESREG {v}"));
                self.line("OK");
                return;
            }
            _ => false,
        };
        drop(st);
        if ok {
            self.line("OK")
        } else {
            self.fail("ER06")
        }
    }

    fn scan(self: &Arc<Self>, args: &[&str]) {
        let duration = args[2].parse::<u32>().ok().filter(|d| *d <= 14);
        let mask = u32::from_str_radix(args[1], 16)
            .ok()
            .filter(|_| args[1].len() == 8);
        let (Some(duration), Some(mask), "2" | "3") = (duration, mask, args[0]) else {
            return self.fail("ER06");
        };
        self.line("OK");
        let o = &self.sim.opts;
        let channels = mask.count_ones().max(1) as f64;
        let secs = channels * 0.01 * (2f64.powi(duration as i32) + 1.0) * o.scan_time_scale;
        let scan_no = self
            .sim
            .scans
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let in_mask = mask & (1 << (o.channel - 0x21)) != 0;
        let paired = self
            .state
            .lock()
            .unwrap()
            .rbid
            .as_ref()
            .is_some_and(|id| id[24..].eq_ignore_ascii_case(&o.rbid[24..]));
        let beacon = in_mask && paired && scan_no >= o.fail_scans;
        let me = self.clone();
        self.spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(secs / 2.0)).await;
            let o = &me.sim.opts;
            if beacon {
                me.event(0x20, &me.meter_ip(), None);
                me.line("EPANDESC");
                me.line(&format!("  Channel:{:02X}", o.channel));
                me.line("  Channel Page:09");
                me.line(&format!("  Pan ID:{}", o.pan_id));
                me.line(&format!("  Addr:{}", o.meter_mac));
                me.line("  LQI:E1");
                me.line(&format!("  PairID:{}", &o.rbid[24..]));
                if o.family == Family::C {
                    me.line("  Side:0");
                }
            }
            tokio::time::sleep(Duration::from_secs_f64(secs / 2.0)).await;
            me.event(0x22, OWN_IP, None);
            super::report(if beacon {
                "scan found the meter"
            } else {
                "scan found nothing"
            });
        });
    }

    fn join(self: &Arc<Self>, target: &str) {
        if !is_ipv6(target) {
            return self.fail("ER06");
        }
        let meter = self.meter_ip();
        let o = &self.sim.opts;
        let mut st = self.state.lock().unwrap();
        if st.session != Session::None {
            drop(st);
            return self.fail("ER10");
        }
        let accepted = target == meter
            && st.channel == Some(o.channel)
            && st.pan_id.as_deref() == Some(o.pan_id.as_str())
            && st.rbid.as_deref() == Some(o.rbid.as_str())
            && st.password.as_deref() == Some(o.password.as_str());
        st.session = Session::Joining;
        drop(st);
        self.line("OK");
        let me = self.clone();
        let delay = Duration::from_millis(o.join_delay_ms / 4);
        self.spawn(async move {
            // PANA chatter, a few lines a second apart as on a real module.
            me.event(0x21, &meter, Some("02"));
            tokio::time::sleep(delay).await;
            me.event(0x02, &meter, None);
            me.erxudp(&meter, OWN_IP, "02CC", false, &[0x00; 40]);
            tokio::time::sleep(delay).await;
            me.event(0x21, &meter, Some("00"));
            tokio::time::sleep(delay * 2).await;
            if accepted {
                me.session_up(&meter);
            } else {
                me.state.lock().unwrap().session = Session::None;
                me.event(0x24, &meter, None);
                super::report("join refused (EVENT 24)");
            }
        });
    }

    fn session_up(self: &Arc<Self>, meter: &str) {
        self.state.lock().unwrap().session = Session::Up;
        self.event(0x25, meter, None);
        // The node profile's instance list, to all nodes.
        let inf = [
            0x10, 0x81, 0, 0, 0x0E, 0xF0, 0x01, 0x0E, 0xF0, 0x01, 0x73, 0x01, 0xD5, 0x04, 0x01,
            0x02, 0x88, 0x01,
        ];
        self.erxudp(meter, MULTICAST, "0E1A", true, &inf);
        super::report("joined (EVENT 25)");
        if let Some(lifetime) = self.sim.opts.session_lifetime_secs {
            let me = self.clone();
            let meter = meter.to_string();
            self.spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(lifetime)).await;
                if me.state.lock().unwrap().session != Session::Up {
                    return;
                }
                me.state.lock().unwrap().session = Session::Reauth;
                me.event(0x29, &meter, None);
                super::report("session lifetime expired (EVENT 29)");
                tokio::time::sleep(Duration::from_millis(300)).await;
                if me.sim.opts.reauth_fails {
                    me.state.lock().unwrap().session = Session::None;
                    me.event(0x24, &meter, None);
                    super::report("re-authentication failed (EVENT 24)");
                } else {
                    me.session_up(&meter);
                }
            });
        }
    }

    fn send_to(self: &Arc<Self>, header: &str, data: &[u8]) {
        let t: Vec<&str> = header.split(' ').collect();
        let family = self.sim.opts.family;
        // SKSENDTO HANDLE IP PORT SEC [SIDE] LEN
        let (handle, ip, port, sec, len) = (t[1], t[2], t[3], t[4], t[t.len() - 1]);
        let valid = matches!(handle, "1" | "2" | "3" | "4" | "5" | "6")
            && is_ipv6(ip)
            && port.len() == 4
            && is_hex(port)
            && matches!(sec, "0" | "1" | "2")
            && (family != Family::C || t[5] == "0" || t[5] == "1")
            && len.len() == 4
            && usize::from_str_radix(len, 16).is_ok_and(|n| (1..=0x4D0).contains(&n));
        if !valid {
            return self.fail("ER06");
        }
        let session = self.state.lock().unwrap().session;
        match session {
            Session::None | Session::Joining => return self.fail("ER10"),
            Session::Reauth => {
                self.event(0x21, ip, Some("01"));
                return self.line("OK");
            }
            Session::Up => {}
        }
        let meter = self.meter_ip();
        if ip != meter {
            self.event(0x21, ip, Some("01"));
            return self.line("OK");
        }
        self.event(0x21, ip, Some("00"));
        self.line("OK");
        // The meter accepts ECHONET Lite on 3610 only, and only encrypted.
        if port != "0E1A" || sec == "0" {
            return;
        }
        let Some(answer) = self.answer(data) else {
            return;
        };
        let (requests, stale) = {
            let mut st = self.state.lock().unwrap();
            st.requests += 1;
            (st.requests, st.last_answer.replace(answer.clone()))
        };
        if crate::common::every(requests, self.sim.opts.drop_every).is_some() {
            super::report("dropped a request");
            return;
        }
        let stale = stale.filter(|_| self.sim.opts.stale_replies);
        let me = self.clone();
        self.spawn(async move {
            tokio::time::sleep(Duration::from_millis(me.sim.opts.reply_delay_ms)).await;
            if me.state.lock().unwrap().session != Session::Up {
                return;
            }
            // The previous answer again first: a duplicate with a stale transaction id.
            if let Some(stale) = stale {
                me.erxudp(&meter, OWN_IP, "0E1A", true, &stale);
            }
            me.erxudp(&meter, OWN_IP, "0E1A", true, &answer);
            me.maybe_garbage(&meter);
        });
    }

    /// The meter's answer to one ECHONET Lite frame, or `None` if it ignores it.
    fn answer(&self, frame: &[u8]) -> Option<Vec<u8>> {
        if frame.len() < 12 || frame[..2] != [0x10, 0x81] || frame[7..10] != [0x02, 0x88, 0x01] {
            return None;
        }
        let esv = frame[10];
        let mut props = Vec::new();
        let mut at = 12;
        for _ in 0..frame[11] {
            let epc = *frame.get(at)?;
            let pdc = *frame.get(at + 1)? as usize;
            props.push((epc, frame.get(at + 2..at + 2 + pdc)?.to_vec()));
            at += 2 + pdc;
        }
        if at != frame.len() || props.is_empty() {
            return None;
        }
        let now = self.sim.clock.now();
        let (res_esv, out): (u8, Vec<(u8, Vec<u8>)>) = match esv {
            0x62 => {
                let values: Vec<(u8, Option<Vec<u8>>)> = props
                    .iter()
                    .map(|(epc, _)| (*epc, self.property(*epc, now)))
                    .collect();
                let all = values.iter().all(|(_, v)| v.is_some());
                let esv = if all { 0x72 } else { 0x52 };
                (
                    esv,
                    values
                        .into_iter()
                        .map(|(e, v)| (e, v.unwrap_or_default()))
                        .collect(),
                )
            }
            0x61 => {
                let all = props
                    .iter()
                    .all(|(epc, edt)| *epc == 0xE5 && edt.len() == 1 && edt[0] <= 0x63);
                if all {
                    self.state.lock().unwrap().history_day = props.last().unwrap().1[0];
                    (0x71, props.iter().map(|(e, _)| (*e, vec![])).collect())
                } else {
                    (0x51, props)
                }
            }
            _ => return None,
        };
        let mut res = vec![0x10, 0x81, frame[2], frame[3], 0x02, 0x88, 0x01];
        res.extend_from_slice(&frame[4..7]);
        res.push(res_esv);
        res.push(out.len() as u8);
        for (epc, edt) in out {
            res.push(epc);
            res.push(edt.len() as u8);
            res.extend(edt);
        }
        Some(res)
    }

    fn property(&self, epc: u8, now: jiff::Timestamp) -> Option<Vec<u8>> {
        let m = &self.sim.meter;
        if self.sim.opts.sna.contains(&epc) {
            return None;
        }
        Some(match epc {
            0x80 => vec![0x30],
            0xD3 => m.coefficient?.to_be_bytes().to_vec(),
            0xD7 => vec![m.digits],
            0xE1 => vec![m.unit],
            0xE0 => m.raw(now).to_be_bytes().to_vec(),
            0xE7 => (m.power_w(now).round() as i32).to_be_bytes().to_vec(),
            0xE8 => {
                let (r, t) = m.currents(now);
                [r.to_be_bytes(), t.to_be_bytes()].concat()
            }
            0xEA => {
                let (at, raw) = m.fixed_time(now);
                fixed_time_value(&at, raw)
            }
            0xE5 => vec![self.state.lock().unwrap().history_day],
            0xE2 => {
                let day = self.state.lock().unwrap().history_day;
                let mut v = (day as u16).to_be_bytes().to_vec();
                for slot in m.history(now, day) {
                    v.extend(slot.to_be_bytes());
                }
                v
            }
            _ => return None,
        })
    }

    /// After every Nth answer, one line of the kinds a flaky serial link produces.
    fn maybe_garbage(&self, meter: &str) {
        let n = {
            let mut st = self.state.lock().unwrap();
            st.answered += 1;
            st.answered
        };
        let Some(hit) = crate::common::every(n, self.sim.opts.garbage_every) else {
            return;
        };
        let head = format!(
            "ERXUDP {meter} {OWN_IP} 0E1A 0E1A {} 1",
            self.sim.opts.meter_mac
        );
        let garbage = match hit % 5 {
            0 => b"\x15\xfe\x00~~}{noise\xff\r\n".to_vec(),
            1 => format!("{head} 0012 1081000302880105FF0172\r\n").into_bytes(), // truncated
            2 => format!("{head} 0012 1081000302880105FF017201E7040000027\r\n").into_bytes(), // odd
            3 => format!("{head} 0010 1081000302880105FF017201E70400000278\r\n").into_bytes(), // DATALEN
            _ => b"EVENT 2\r\nEVE".to_vec(), // a cut-off event, and a fragment glued to the next line
        };
        super::report("sent a garbage line");
        self.raw(garbage);
    }

    /// Unsolicited EA notification at each :00/:30 of the meter clock, as real meters do.
    async fn notify_boundaries(self: Arc<Self>) {
        let mut last = self.sim.meter.fixed_time(self.sim.clock.now()).0;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (at, raw) = self.sim.meter.fixed_time(self.sim.clock.now());
            if at == last || self.state.lock().unwrap().session != Session::Up {
                last = at;
                continue;
            }
            last = at.clone();
            let mut f = vec![
                0x10, 0x81, 0, 0, 0x02, 0x88, 0x01, 0x05, 0xFF, 0x01, 0x73, 0x01, 0xEA, 0x0B,
            ];
            f.extend(fixed_time_value(&at, raw));
            self.erxudp(&self.meter_ip(), OWN_IP, "0E1A", true, &f);
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// EA's 11 bytes: the fixed time (year, month, day, hour, minute, second 0) and the register.
fn fixed_time_value(at: &jiff::Zoned, raw: u32) -> Vec<u8> {
    let mut v = (at.year() as u16).to_be_bytes().to_vec();
    v.extend([
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        0,
    ]);
    v.extend(raw.to_be_bytes());
    v
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_ipv6(s: &str) -> bool {
    let groups: Vec<&str> = s.split(':').collect();
    groups.len() == 8 && groups.iter().all(|g| g.len() == 4 && is_hex(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendto_data_is_read_by_length_not_by_line() {
        let mut buf =
            b"SKSENDTO 1 FE80:0000:0000:0000:021C:6400:6014:21A3 0E1A 1 0003 \r\n\x01SKVER\r\n"
                .to_vec();
        let first = parse_input(&mut buf, Family::Ips).unwrap();
        assert_eq!(
            first,
            Input::SendTo {
                header: "SKSENDTO 1 FE80:0000:0000:0000:021C:6400:6014:21A3 0E1A 1 0003".into(),
                data: b"\r\n\x01".to_vec()
            }
        );
        assert_eq!(
            parse_input(&mut buf, Family::Ips),
            Some(Input::Line {
                text: "SKVER".into(),
                terminator: "\r\n"
            })
        );
        let mut partial =
            b"SKSENDTO 1 FE80:0000:0000:0000:021C:6400:6014:21A3 0E1A 1 0003 \x01".to_vec();
        assert_eq!(parse_input(&mut partial, Family::Ips), None);
        let mut cr = b"ROPT\r".to_vec();
        assert_eq!(
            parse_input(&mut cr, Family::Bp35a1),
            Some(Input::Line {
                text: "ROPT".into(),
                terminator: "\r"
            })
        );
    }

    /// A module of `family` with fast scans; what it writes comes out of the receiver.
    fn module(family: &str) -> (Arc<Module>, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
        let args: super::super::Args = crate::common::parse_args(&[
            "broute",
            "--family",
            family,
            "--scan-time-scale",
            "0.001",
        ]);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Module::new(Arc::new(Sim::new(args).unwrap()), tx), rx)
    }

    /// Sends one command line; the lines written until one starts with `until`.
    async fn ask(
        m: &Arc<Module>,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        command: &str,
        until: &str,
    ) -> Vec<String> {
        m.handle(Input::Line {
            text: command.into(),
            terminator: "\r\n",
        });
        let mut text = String::new();
        let mut lines = Vec::new();
        while !lines.last().is_some_and(|l: &String| l.starts_with(until)) {
            let chunk = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("an answer")
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\r\n") {
                lines.push(text[..end].to_string());
                text.drain(..end + 2);
            }
        }
        lines
    }

    /// Clients (momonga) send `SKSREG SA2 1` between SKRESET and SKSCAN; every module says OK.
    #[tokio::test]
    async fn every_family_accepts_sreg_sa2() {
        for family in ["ips", "bp35a1", "c"] {
            let (m, mut rx) = module(family);
            let lines = ask(&m, &mut rx, "SKSREG SA2 1", "OK").await;
            assert_eq!(lines, ["SKSREG SA2 1", "OK"], "{family}");
            let lines = ask(&m, &mut rx, "SKSREG SA2 2", "FAIL").await;
            assert_eq!(lines.last().unwrap(), "FAIL ER06", "{family}");
        }
    }

    /// SKINFO's last token tells the families apart: FFFE on A1-style modules, the side (0 or
    /// 1) on a BP35C2; and a BP35C2's EPANDESC ends with its `Side:` line.
    #[tokio::test]
    async fn a_bp35c2_reports_its_side_in_skinfo_and_epandesc() {
        for (family, last, side_line) in [
            ("ips", "FFFE", false),
            ("bp35a1", "FFFE", false),
            ("c", "0", true),
        ] {
            let (m, mut rx) = module(family);
            let lines = ask(&m, &mut rx, "SKINFO", "OK").await;
            assert_eq!(
                lines[1].rsplit(' ').next(),
                Some(last),
                "{family}: {lines:?}"
            );
            ask(
                &m,
                &mut rx,
                "SKSETRBID 00112233445566778899AABBCCDDEEFF",
                "OK",
            )
            .await;
            let scan = if family == "c" {
                "SKSCAN 2 FFFFFFFF 6 0"
            } else {
                "SKSCAN 2 FFFFFFFF 6"
            };
            let lines = ask(&m, &mut rx, scan, "EVENT 22").await;
            let desc = lines
                .iter()
                .position(|l| l == "EPANDESC")
                .expect("a beacon");
            assert_eq!(lines[desc + 6], "  PairID:CCDDEEFF", "{family}: {lines:?}");
            assert_eq!(
                lines[desc + 7] == "  Side:0",
                side_line,
                "{family}: {lines:?}"
            );
        }
    }
}
