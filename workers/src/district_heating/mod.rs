//! The district-heating file exchange with the energy company: one worker for every meter id of
//! every house and building. It writes the request file (`meter_id;from_datetime;house_name`),
//! imports each `energy_*.txt` into `energy_meter`, and after a durable import deletes the file
//! and moves that meter's `from_datetime` to the hour after its last point. A file with a problem
//! is kept and reported with its file and line; the others still import.

mod dropbox;
mod folder;
mod parse;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hemflux_clients::dropbox::{DropboxApp, DropboxClient, DropboxUrls};
use hemflux_shared::config::{DistrictHeatingConfig, ExchangeMeter, Transport};
use hemflux_shared::kinds::DistrictHeatingWorker;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};

/// Where the files are: Dropbox or a local folder, the same four operations.
pub(crate) trait Exchange {
    fn describe(&self) -> String;
    /// Names of the files in the exchange folder: the whole listing, however many pages.
    async fn list(&mut self) -> Result<Vec<String>>;
    async fn download(&mut self, name: &str) -> Result<Vec<u8>>;
    /// Creates or replaces the file.
    async fn upload(&mut self, name: &str, bytes: &[u8]) -> Result<()>;
    /// Deletes the file; one already gone is fine.
    async fn delete(&mut self, name: &str) -> Result<()>;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// Per meter id: the first hour (UTC, `YYYY-MM-DD HH:MM`) still wanted from the partner.
    #[serde(default)]
    from: BTreeMap<String, String>,
    /// The request file as last written, so that an unchanged one is not written again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request: Option<String>,
}

pub async fn run(worker: Worker, config: DistrictHeatingWorker) -> Result<()> {
    let DistrictHeatingWorker {
        exchange: cfg,
        meters,
    } = config;
    match cfg.transport {
        Transport::Folder => {
            let folder = folder::Folder {
                dir: PathBuf::from(&cfg.folder),
                settle: Duration::from_secs(cfg.settle_secs),
            };
            let runner = Runner::new(&worker, cfg, meters, folder)?;
            runtime::drive(worker, runner).await
        }
        Transport::Dropbox => {
            let secret = |name: &str| {
                worker.init.secrets.get(name).cloned().ok_or_else(|| {
                    anyhow!("the Dropbox transport needs DROPBOX_APP_KEY, DROPBOX_APP_SECRET and DROPBOX_REFRESH_TOKEN in .env ({name} is missing)")
                })
            };
            let app = DropboxApp {
                app_key: secret("app_key")?,
                app_secret: secret("app_secret")?,
                refresh_token: secret("refresh_token")?,
            };
            let urls = DropboxUrls {
                api: cfg.dropbox_api_url.clone(),
                content: cfg.dropbox_content_url.clone(),
                token: cfg.dropbox_token_url.clone(),
            };
            let http = crate::meter::http_client()?;
            let dropbox = DropboxClient::new(http, app, urls, &cfg.folder);
            let runner = Runner::new(&worker, cfg, meters, dropbox)?;
            runtime::drive(worker, runner).await
        }
    }
}

struct Runner<E> {
    exchange: E,
    link: std::sync::Arc<Link>,
    check: Duration,
    daily_at: Time,
    next_check: Instant,
    /// When the partner is asked again even if nothing arrived.
    next_daily: Instant,
    cfg: DistrictHeatingConfig,
    /// In config order: the order of the request file.
    meters: Vec<ExchangeMeter>,
    state: State,
}

/// What one import did, for the status line or the dry-run reply.
#[derive(Default)]
struct Report {
    /// Files imported and deleted.
    imported: usize,
    points: usize,
    kept: Vec<String>,
    lines: Vec<String>,
}

fn format_from(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// The start of a Swedish local day: the energy company's days (`2025-01-15` → `2025-01-14 23:00`).
fn swedish_midnight(date: jiff::civil::Date) -> Result<Timestamp> {
    let zone = hemflux_shared::time::stockholm();
    Ok(date.to_zoned(zone)?.timestamp())
}

fn parse_from(s: &str) -> Option<Timestamp> {
    let dt = DateTime::strptime("%Y-%m-%d %H:%M", s).ok()?;
    dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

fn is_energy_file(name: &str) -> bool {
    name.starts_with("energy_") && name.ends_with(".txt")
}

impl<E: Exchange> Runner<E> {
    fn new(
        worker: &Worker,
        cfg: DistrictHeatingConfig,
        meters: Vec<ExchangeMeter>,
        exchange: E,
    ) -> Result<Self> {
        let mut state: State = match &worker.init.state {
            Some(v) => serde_json::from_value(v.clone()).context("the saved state")?,
            None => State::default(),
        };
        // A new meter is asked for from its house's start date, else from `initial_days` ago;
        // pinned, so the request stays stable.
        let now = Timestamp::now().as_second().div_euclid(3600) * 3600;
        let default_start = Timestamp::from_second(now)?
            - SignedDuration::from_hours(24 * i64::from(cfg.initial_days));
        for m in &meters {
            let start = match m.start_date {
                Some(date) => swedish_midnight(date)?,
                None => default_start,
            };
            state
                .from
                .entry(m.meter_id.clone())
                .or_insert_with(|| format_from(start));
        }
        let daily_at = Time::strptime("%H:%M", &cfg.daily_at).context("daily_at")?;
        Ok(Runner {
            link: worker.link.clone(),
            exchange,
            check: Duration::from_secs(cfg.check_interval_secs),
            daily_at,
            next_check: Instant::now() + Duration::from_millis(worker.init.poll_offset_ms),
            next_daily: next_daily(daily_at),
            cfg,
            meters,
            state,
        })
    }

    fn state_value(&self) -> Value {
        serde_json::to_value(&self.state).expect("state serializes")
    }

    fn request_text(&self) -> String {
        let mut text = String::from("meter_id;from_datetime;house_name");
        for m in &self.meters {
            let _ = write!(
                text,
                "\n{};{};{}",
                m.meter_id, self.state.from[&m.meter_id], m.house_name
            );
        }
        text
    }

    /// Writes the request file when it differs from the last one written (or always, `force`).
    async fn write_request(&mut self, force: bool) -> Result<()> {
        let text = self.request_text();
        if !force && self.state.request.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        if self.cfg.dry_run {
            self.link.status(format!(
                "dry run: would write {}:\n{text}",
                self.cfg.request_file
            ));
            return Ok(());
        }
        self.exchange
            .upload(&self.cfg.request_file, text.as_bytes())
            .await
            .with_context(|| {
                format!(
                    "writing {} to {}",
                    self.cfg.request_file,
                    self.exchange.describe()
                )
            })?;
        tracing::info!(
            "wrote {} ({} meters)",
            self.cfg.request_file,
            self.meters.len()
        );
        self.state.request = Some(text);
        self.link.save_state(self.state_value()).await
    }

    /// Imports every energy file; with `dry_run` only says what it would import.
    async fn import(&mut self, dry_run: bool) -> Result<Report> {
        let mut names: Vec<String> = self
            .exchange
            .list()
            .await
            .with_context(|| format!("listing {}", self.exchange.describe()))?
            .into_iter()
            .filter(|n| is_energy_file(n))
            .collect();
        names.sort();
        let mut report = Report::default();
        for name in names {
            let bytes = match self.exchange.download(&name).await {
                Ok(b) => b,
                Err(e) => {
                    self.link
                        .error(format!("{name}: {e:#}; trying again at the next check"));
                    report.kept.push(name);
                    continue;
                }
            };
            let known = |id: &str| self.meters.iter().any(|m| m.meter_id == id);
            let parsed = parse::parse(&name, &String::from_utf8_lossy(&bytes), known);
            let clean = parsed.problems.is_empty();
            if dry_run {
                report.lines.push(describe_rows(&name, &parsed));
                continue;
            }
            let mut from = self.state.from.clone();
            let mut points = Vec::with_capacity(parsed.rows.len());
            for row in &parsed.rows {
                let meter = self
                    .meters
                    .iter()
                    .find(|m| m.meter_id == row.meter_id)
                    .expect("known meter");
                let mut p = Point::new("energy_meter", to_nanos(row.time))
                    .tag(meter.id_tag.as_str(), meter.house_id.as_str())
                    .tag("meter_id", meter.meter_id.as_str());
                for (field, value) in &row.fields {
                    p = p.field(*field, *value);
                }
                points.push(p);
                let next = row.time + SignedDuration::from_hours(1);
                let current = from.get(&row.meter_id).and_then(|s| parse_from(s));
                // A file with a problem is kept and re-read: its meters' requests stay put.
                if clean && current.is_none_or(|c| next > c) {
                    from.insert(row.meter_id.clone(), format_from(next));
                }
            }
            if !points.is_empty() {
                report.points += points.len();
                let mut state = self.state.clone();
                state.from = from;
                self.link
                    .send_points(points, Some(serde_json::to_value(&state)?))
                    .await?;
                self.state = state;
            }
            if clean {
                self.exchange
                    .delete(&name)
                    .await
                    .with_context(|| format!("deleting {name}"))?;
                report.imported += 1;
            } else {
                let msg = format!(
                    "{name} kept for investigation: {}",
                    parsed.problems.join("; ")
                );
                tracing::warn!("{msg}");
                self.link.error(msg);
                report.kept.push(name);
            }
        }
        if report.points > 0 {
            self.write_request(false).await?;
        }
        Ok(report)
    }

    /// One scheduled run: the request file if the meters changed, then the import.
    async fn cycle(&mut self, daily: bool) -> Result<Report> {
        self.write_request(false).await?;
        let report = self.import(self.cfg.dry_run).await?;
        if daily && report.points == 0 {
            // Once a day the partner is asked again even when nothing arrived.
            self.write_request(true).await?;
        }
        Ok(report)
    }
}

impl<E: Exchange> Source for Runner<E> {
    type Error = anyhow::Error;

    /// The daily run when it is due first, else a check.
    async fn poll(&mut self) -> Result<String> {
        let daily = self.next_daily <= self.next_check;
        let outcome = self.cycle(daily).await;
        if daily {
            self.next_daily = next_daily(self.daily_at);
        } else {
            self.next_check = Instant::now() + self.check;
        }
        Ok(summary(&outcome?, self.cfg.dry_run))
    }

    fn next_delay(&mut self, _outcome: &Result<String>) -> Duration {
        let next = self.next_check.min(self.next_daily);
        next.saturating_duration_since(Instant::now())
    }

    async fn sync(&mut self, _id: u64, _from: Timestamp, _to: Timestamp) -> Result<Reply> {
        bail!("the exchange imports the files the energy company drops; there is no range to ask for (use the command import)")
    }

    async fn command(&mut self, name: &str, _args: Value) -> Result<Reply> {
        if name != "dry_run" && name != "import" {
            bail!("unknown command {name:?}; the exchange knows dry_run and import");
        }
        let dry = name == "dry_run" || self.cfg.dry_run;
        let report = self.import(dry).await?;
        Ok(Reply::Now(summary(&report, dry)))
    }
}

fn describe_rows(name: &str, parsed: &parse::Parsed) -> String {
    let mut per_meter: BTreeMap<&str, (usize, Timestamp, Timestamp)> = BTreeMap::new();
    for r in &parsed.rows {
        let e = per_meter.entry(&r.meter_id).or_insert((0, r.time, r.time));
        *e = (e.0 + 1, e.1.min(r.time), e.2.max(r.time));
    }
    let mut line = format!("{name}:");
    for (meter, (n, first, last)) in per_meter {
        let _ = write!(
            line,
            " meter {meter}: {n} hours {} to {};",
            format_from(first),
            format_from(last)
        );
    }
    for p in &parsed.problems {
        let _ = write!(line, " problem: {p};");
    }
    line
}

fn summary(r: &Report, dry_run: bool) -> String {
    if r.imported == 0 && r.kept.is_empty() && r.lines.is_empty() {
        return "no energy files".into();
    }
    if dry_run {
        return format!("dry run, nothing written: {}", r.lines.join(" | "));
    }
    let mut s = format!("imported {} points from {} files", r.points, r.imported);
    if !r.kept.is_empty() {
        let _ = write!(s, "; kept {}", r.kept.join(", "));
    }
    s
}

/// The next `daily_at` in Swedish local time, as a tokio instant.
fn next_daily(at: Time) -> Instant {
    let tz = hemflux_shared::time::stockholm();
    let now = Timestamp::now();
    let today = now.to_zoned(tz.clone()).date();
    let next = [today, today.tomorrow().unwrap_or(today)]
        .into_iter()
        .filter_map(|d| d.to_datetime(at).to_zoned(tz.clone()).ok())
        .map(|z| z.timestamp())
        .find(|t| *t > now)
        .unwrap_or(now + SignedDuration::from_hours(24));
    Instant::now() + next.duration_since(now).unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_energy_files_count() {
        assert!(is_energy_file("energy_20260129.txt"));
        assert!(is_energy_file("energy_20260129_2.txt"));
        for other in [
            "BVPro_DH.csv",
            "notes.txt",
            "energy_20260129.txt.partial",
            ".energy_x.txt.tmp",
            "Energy.txt",
        ] {
            assert!(!is_energy_file(other), "{other}");
        }
    }

    #[test]
    fn from_datetimes_round_trip_and_the_daily_run_is_within_a_day() {
        let t: Timestamp = "2026-02-01T23:00:00Z".parse().unwrap();
        assert_eq!(format_from(t), "2026-02-01 23:00");
        assert_eq!(parse_from("2026-02-01 23:00"), Some(t));
        assert_eq!(parse_from("2026-02-01T23:00"), None);
        let wait = next_daily(Time::constant(7, 55, 0, 0)) - Instant::now();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(25 * 3600),
            "{wait:?}"
        );
    }
}
