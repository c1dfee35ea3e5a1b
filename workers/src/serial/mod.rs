//! The `serial` kind: a Wi-SUN B-route smart meter read through a SKSTACK-IP USB module.
//! Opens the port, scans (once: the PAN is cached in the worker state), joins, then reads the
//! meter on a schedule. A lost session is re-joined, a vanished port is reopened when it comes
//! back, and a reading that failed half-way is retried as soon as the link is back.

pub mod echonet;
mod port;
mod reading;
mod skstack;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hemflux_shared::config::{ModuleFamily, ReadSchedule, SerialConfig};
use hemflux_shared::kinds::SerialWorker;
use hemflux_shared::retry::{Backoff, RetryPolicy};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};
use echonet::Frame;
use reading::{Reading, Scale};
use skstack::{Family, Module, Pan, RequestError};

/// Kept in the worker state so that a restart joins without scanning.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    pan: Option<Pan>,
    #[serde(default)]
    family: Option<Family>,
}

struct Credentials {
    id: String,
    password: String,
}

/// An open module, joined to the meter once `meter` is set.
struct Connection {
    module: Module,
    meter: Option<String>,
    scale: Option<Scale>,
}

/// How long one poll listens to the module while waiting for the next reading: commands are
/// answered between polls.
const LISTEN: Duration = Duration::from_secs(1);

pub async fn run(worker: Worker, config: SerialWorker) -> Result<()> {
    let SerialWorker { house_id, serial } = config;
    let credentials = credentials(&worker.init.secrets)?;
    let zone = TimeZone::get(&serial.timezone)
        .with_context(|| format!("time zone {:?}", serial.timezone))?;
    let schedule = Schedule::new(&serial)?;
    let state: State = worker
        .init
        .state
        .clone()
        .and_then(|s| serde_json::from_value(s).ok())
        .unwrap_or_default();
    let due = match schedule {
        Schedule::Cron(_) => schedule.next_after(Timestamp::now(), &zone)?,
        Schedule::Every(_) => Timestamp::now(),
    };
    let meter = Meter {
        reader: MeterReader {
            serial,
            credentials,
            link: worker.link.clone(),
            backoff: RETRY.backoff(),
            join_failures: 0,
            tids: Tids::default(),
        },
        conn: None,
        state,
        schedule,
        zone,
        house_id,
        due,
    };
    runtime::drive(worker, meter).await
}

/// The meter as the runtime polls it: each poll connects if need be, listens to the module for
/// up to [`LISTEN`], and reads the meter once the reading is due.
struct Meter {
    reader: MeterReader,
    conn: Option<Connection>,
    state: State,
    schedule: Schedule,
    zone: TimeZone,
    house_id: String,
    /// When the next reading is due; a reading that failed is retried as soon as the link is
    /// back (`due` stays as it is).
    due: Timestamp,
}

impl Source for Meter {
    type Error = anyhow::Error;

    async fn poll(&mut self) -> Result<String> {
        let mut c = match self.conn.take() {
            Some(c) if c.meter.is_some() => c,
            other => match self.reader.connect(other, &mut self.state).await {
                Ok(c) => c,
                Err((kept, e)) => {
                    self.conn = kept;
                    return Err(e);
                }
            },
        };
        let until_due = match self.due.duration_since(Timestamp::now()) {
            d if d.is_positive() => d.unsigned_abs().min(LISTEN),
            _ => Duration::ZERO,
        };
        if let Err(e) = c.module.idle(tokio::time::Instant::now() + until_due).await {
            self.conn = self.reader.after_failure(c, e);
            return Ok(String::new());
        }
        if Timestamp::now() < self.due {
            self.conn = Some(c);
            return Ok(String::new());
        }
        let started = Timestamp::now();
        let reading = match self.reader.read(&mut c).await {
            Ok(reading) => reading,
            Err(e) => {
                self.conn = self.reader.after_failure(c, e);
                return Ok(String::new());
            }
        };
        let point = c.scale.as_ref().and_then(|scale| {
            let name = &self.reader.serial.name;
            reading.to_point(scale, &self.zone, started, &self.house_id, name)
        });
        self.conn = Some(c);
        let next = self.schedule.next_after(self.due.max(started), &self.zone)?;
        let Some(point) = point else {
            tracing::warn!("the meter answered none of the requests");
            self.due = next;
            return Ok(String::new());
        };
        let link = &self.reader.link;
        link.send_points(vec![point], Some(json!(self.state)))
            .await?;
        self.due = next;
        Ok(format!("read the meter at {started}"))
    }

    fn next_delay(&mut self, outcome: &Result<String>) -> Duration {
        match outcome {
            Ok(_) => Duration::ZERO,
            Err(_) => self.reader.backoff.next_delay(),
        }
    }

    fn report(&mut self, error: &anyhow::Error, next: Duration) -> Option<String> {
        tracing::warn!("{error:#}; retrying in {next:?}");
        Some(format!("{error:#}"))
    }

    async fn sync(&mut self, _id: u64, _from: Timestamp, _to: Timestamp) -> Result<Reply> {
        bail!("a smart meter has no history to sync and takes no commands")
    }

    async fn command(&mut self, _name: &str, _args: serde_json::Value) -> Result<Reply> {
        bail!("a smart meter has no history to sync and takes no commands")
    }
}

struct MeterReader {
    serial: SerialConfig,
    credentials: Credentials,
    link: Arc<Link>,
    backoff: Backoff,
    join_failures: u32,
    /// Running across cycles, so that a late answer from an earlier cycle never matches.
    tids: Tids,
}

impl MeterReader {
    /// Opens the port and joins, from wherever `conn` is. A failure comes with what is still
    /// usable (the open module, unless the port is gone).
    async fn connect(
        &mut self,
        conn: Option<Connection>,
        state: &mut State,
    ) -> Result<Connection, (Option<Connection>, anyhow::Error)> {
        let mut c = match conn {
            Some(c) => c,
            None => match self.open(state).await {
                Ok(c) => c,
                Err(e) => return Err((None, e)),
            },
        };
        match self.join(&mut c, state).await {
            Ok(()) => {
                self.backoff = RETRY.backoff();
                Ok(c)
            }
            Err(e) => {
                let port_gone = matches!(e, RequestError::PortLost(_));
                Err(((!port_gone).then_some(c), e.into()))
            }
        }
    }

    async fn open(&mut self, state: &State) -> Result<Connection> {
        let s = &self.serial;
        let port = port::LinePort::open(&s.port, s.baud)?;
        let (family, detect) = match s.family {
            ModuleFamily::A1 => (Family::A1, false),
            ModuleFamily::C => (Family::C, false),
            ModuleFamily::Auto => (state.family.unwrap_or(Family::A1), state.family.is_none()),
        };
        let mut module = Module::new(port, family, detect);
        module.start().await?;
        module
            .set_credentials(&self.credentials.id, &self.credentials.password)
            .await?;
        tracing::info!(port = %s.port, "module ready");
        Ok(Connection {
            module,
            meter: None,
            scale: None,
        })
    }

    /// Joins the cached PAN, or scans for one; a cached PAN that keeps failing is scanned anew.
    async fn join(&mut self, c: &mut Connection, state: &mut State) -> Result<(), RequestError> {
        c.module.terminate().await?;
        let pan = match &state.pan {
            Some(pan) => pan.clone(),
            None => {
                let pan = self.scan(&mut c.module).await?;
                state.pan = Some(pan.clone());
                state.family = Some(c.module.family);
                // Durable before use: a restart after this point does not scan again.
                self.link.save_state(json!(state)).await?;
                pan
            }
        };
        match c.module.join(&pan).await {
            Ok(meter) => {
                tracing::info!(channel = %pan.channel, pan_id = %pan.pan_id, %meter, "joined the meter (EVENT 25)");
                self.link.status("joined the smart meter");
                self.join_failures = 0;
                c.meter = Some(meter);
                Ok(())
            }
            Err(e) => {
                self.join_failures += 1;
                if self.join_failures >= 3 && state.pan.take().is_some() {
                    tracing::warn!("the cached PAN failed 3 joins: scanning again next time");
                    self.link.save_state(json!(state)).await?;
                }
                Err(e)
            }
        }
    }

    async fn scan(&mut self, module: &mut Module) -> Result<Pan, RequestError> {
        for duration in [6, 7, 8] {
            tracing::info!(duration, "scanning for the meter");
            if let Some(pan) = module.scan(duration).await? {
                tracing::info!(channel = %pan.channel, pan_id = %pan.pan_id, addr = %pan.addr, "found the meter");
                return Ok(pan);
            }
        }
        Err(anyhow!("no meter answered the scan: is the B-route ID right and the meter in range?").into())
    }

    /// One cycle: scale (once per session), then the readings in the collector's order.
    async fn read(&mut self, c: &mut Connection) -> Result<Reading, RequestError> {
        let meter = c.meter.clone().expect("joined");
        let mut session = Requests {
            module: &mut c.module,
            meter: &meter,
            timeout: Duration::from_secs(self.serial.reply_timeout_secs),
            tids: &mut self.tids,
        };
        if c.scale.is_none() {
            let unit = session.get(echonet::EPC_UNIT).await?;
            let coefficient = session.get(echonet::EPC_COEFFICIENT).await?;
            let digits = session.get(echonet::EPC_DIGITS).await?;
            c.scale = Some(reading::scale_from(
                unit.as_deref(),
                coefficient.as_deref(),
                digits.as_deref(),
            ));
        }
        let mut r = Reading {
            cumulative: decoded(
                session.get(echonet::EPC_CUMULATIVE).await?,
                echonet::cumulative,
            ),
            power_w: decoded(session.get(echonet::EPC_POWER).await?, echonet::power),
            currents: decoded(session.get(echonet::EPC_CURRENT).await?, echonet::currents),
            fixed_time: decoded(
                session.get(echonet::EPC_FIXED_TIME).await?,
                echonet::fixed_time,
            ),
            ..Reading::default()
        };
        r.today = session.history(0).await?;
        if r.needs_yesterday() {
            r.yesterday = session.history(1).await?;
        }
        Ok(r)
    }

    /// Decides what is left of the link after a failed step.
    fn after_failure(&mut self, mut c: Connection, e: RequestError) -> Option<Connection> {
        match e {
            RequestError::PortLost(e) => {
                tracing::warn!("{e}: reopening when it is back");
                None
            }
            e => {
                tracing::warn!("{e:#}: joining again");
                c.meter = None;
                c.scale = None;
                Some(c)
            }
        }
    }
}

/// Requests of one cycle; three unanswered in a row mean the session is gone.
struct Requests<'a> {
    module: &'a mut Module,
    meter: &'a str,
    timeout: Duration,
    tids: &'a mut Tids,
}

impl Requests<'_> {
    /// One property's EDT; `None` when the meter does not have it (SNA).
    async fn get(&mut self, epc: u8) -> Result<Option<Vec<u8>>, RequestError> {
        let answer = self.ask(|tid| Frame::get(tid, epc)).await?;
        Ok((answer.esv == echonet::ESV_GET_RES).then(|| answer.props[0].edt.clone()))
    }

    /// E2 of `days_back` (0 = today), after setting E5.
    async fn history(&mut self, days_back: u8) -> Result<Option<Vec<Option<u32>>>, RequestError> {
        let set = self
            .ask(|tid| Frame::set(tid, echonet::EPC_HISTORY_DAY, vec![days_back]))
            .await?;
        if set.esv != echonet::ESV_SET_RES {
            tracing::warn!(days_back, "the meter refused the history day (E5)");
            return Ok(None);
        }
        let edt = self.get(echonet::EPC_HISTORY).await?;
        Ok(decoded(edt, echonet::history).map(|(_, slots)| slots))
    }

    async fn ask(&mut self, frame: impl Fn(u16) -> Frame) -> Result<Frame, RequestError> {
        for attempt in 1..=3 {
            match self
                .module
                .request(self.meter, &frame(self.tids.next()), self.timeout)
                .await
            {
                Err(RequestError::NoAnswer) => {
                    tracing::warn!(attempt, "no answer from the meter");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                other => return other,
            }
        }
        Err(RequestError::SessionLost(
            "3 requests in a row were not answered".into(),
        ))
    }
}

/// Decodes an EDT, logging (not failing on) a malformed one.
fn decoded<T>(
    edt: Option<Vec<u8>>,
    decode: impl Fn(&[u8]) -> Result<T, echonet::FrameError>,
) -> Option<T> {
    match decode(&edt?) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("skipping a malformed value: {e}");
            None
        }
    }
}

/// Transaction ids: a running counter that skips 0 (used by the meter's own notifications).
#[derive(Default)]
struct Tids(u16);

impl Tids {
    fn next(&mut self) -> u16 {
        self.0 = self.0.checked_add(1).unwrap_or(1);
        self.0
    }
}

enum Schedule {
    Cron(Box<croner::Cron>),
    Every(Duration),
}

impl Schedule {
    fn new(s: &SerialConfig) -> Result<Schedule> {
        Ok(match s.read_schedule() {
            ReadSchedule::Cron(expr) => {
                let cron: croner::Cron =
                    expr.parse().with_context(|| format!("schedule {expr:?}"))?;
                Schedule::Cron(Box::new(cron))
            }
            ReadSchedule::IntervalSecs(secs) => Schedule::Every(Duration::from_secs(secs)),
        })
    }

    /// The first reading time after `t`; cron expressions are read in the meter's zone.
    fn next_after(&self, t: Timestamp, zone: &TimeZone) -> Result<Timestamp> {
        Ok(match self {
            Schedule::Cron(cron) => cron
                .find_next_occurrence(&t.to_zoned(zone.clone()), false)
                .context("the schedule has no next time")?
                .timestamp(),
            Schedule::Every(d) => {
                let next = t + SignedDuration::try_from(*d)?;
                next.max(Timestamp::now())
            }
        })
    }
}

/// After a failed read or join: 1 s, doubling to 2 minutes, with jitter.
const RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_secs(1),
    factor: 2,
    cap: Duration::from_secs(120),
    jitter: 0.2,
};

fn credentials(secrets: &std::collections::BTreeMap<String, String>) -> Result<Credentials> {
    let get = |k: &str| {
        secrets
            .get(k)
            .map(|v| v.trim().to_string())
            .with_context(|| format!("the {k} secret is missing"))
    };
    let (id, password) = (get("broute_id")?, get("broute_password")?);
    // Checked here so that a typo is named plainly, without printing the values.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        bail!(
            "the B-route ID must be 32 letters and digits (it has {} characters)",
            id.len()
        );
    }
    if password.is_empty() || password.len() > 32 || !password.bytes().all(|b| b.is_ascii_graphic())
    {
        bail!("the B-route password must be 1-32 printable characters without spaces");
    }
    Ok(Credentials { id, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: serde_json::Value) -> SerialConfig {
        let mut v = json!({"name": "b", "port": "/dev/null"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn cron_schedules_run_in_the_meter_zone_and_intervals_from_the_last_due_time() {
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        let t: Timestamp = "2030-01-01T00:02:30Z".parse().unwrap();
        let every5 = Schedule::new(&config(json!({}))).unwrap();
        assert_eq!(
            every5.next_after(t, &tokyo).unwrap().to_string(),
            "2030-01-01T00:05:00Z"
        );
        // 09:00 in Tokyo is 00:00 UTC.
        let daily = Schedule::new(&config(json!({"schedule": "0 9 * * *"}))).unwrap();
        assert_eq!(
            daily.next_after(t, &tokyo).unwrap().to_string(),
            "2030-01-02T00:00:00Z"
        );
        let interval = Schedule::new(&config(json!({"interval_secs": 60}))).unwrap();
        let soon = Timestamp::now();
        let next = interval.next_after(soon, &tokyo).unwrap();
        assert!(next >= soon + Duration::from_secs(59) && next <= soon + Duration::from_secs(61));
        // A due time far in the past does not make a burst of catch-up readings.
        assert!(interval.next_after(t, &tokyo).unwrap() >= soon);
    }

    #[test]
    fn credentials_are_checked_without_being_echoed() {
        let secrets = |id: &str, pw: &str| {
            [("broute_id", id), ("broute_password", pw)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(credentials(&secrets("00112233445566778899AABBCCDDEEFF", "0123456789AB")).is_ok());
        let e = credentials(&secrets("0011SECRET", "0123456789AB"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("32") && !e.contains("SECRET"), "{e}");
        let e = credentials(&secrets("00112233445566778899AABBCCDDEEFF", "pass word"))
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("pass word"), "{e}");
        assert!(credentials(&Default::default()).is_err());
    }

    #[test]
    fn transaction_ids_skip_zero_when_they_wrap() {
        let mut t = Tids(u16::MAX - 1);
        assert_eq!((t.next(), t.next(), t.next()), (u16::MAX, 1, 2));
    }
}
