//! The energy company's work server: reads the request file and answers with an energy file
//! holding every complete hour from each meter's `from_datetime`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::Sim;

/// Partner on the simulated Dropbox: one export per new revision of the request file.
pub async fn run_dropbox(sim: Arc<Sim>) {
    let folder = sim.args.folder.clone();
    let request = format!("{folder}/{}", sim.args.request_file).to_lowercase();
    let mut handled = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(sim.args.partner_interval_ms)).await;
        let mut store = sim.store.lock().unwrap();
        let Some((text, rev)) = store
            .files
            .get(&request)
            .map(|f| (String::from_utf8_lossy(&f.bytes).to_string(), f.rev))
        else {
            continue;
        };
        if rev == handled {
            continue;
        }
        handled = rev;
        if let Some(content) = export(
            &text,
            Timestamp::now(),
            sim.args.partner_max_hours,
            sim.args.quirks,
        ) {
            let name = free_name(|n| {
                store
                    .files
                    .contains_key(&format!("{folder}/{n}").to_lowercase())
            });
            tracing::info!(%name, "partner: exported");
            store.put(&format!("{folder}/{name}"), content.into_bytes());
        }
    }
}

/// Partner on a plain directory: one export per change of the request file.
pub async fn run_local(sim: Arc<Sim>, dir: PathBuf) {
    let request = dir.join(&sim.args.request_file);
    let mut handled = None;
    loop {
        tokio::time::sleep(Duration::from_millis(sim.args.partner_interval_ms)).await;
        let Ok(text) = std::fs::read_to_string(&request) else {
            continue;
        };
        if handled.as_ref() == Some(&text) {
            continue;
        }
        handled = Some(text.clone());
        if let Some(content) = export(
            &text,
            Timestamp::now(),
            sim.args.partner_max_hours,
            sim.args.quirks,
        ) {
            let name = free_name(|n| dir.join(n).exists());
            // Written under another name and renamed, as a careful partner would.
            let tmp = dir.join(format!(".{name}.partial"));
            let written =
                std::fs::write(&tmp, content).and_then(|_| std::fs::rename(&tmp, dir.join(&name)));
            match written {
                Ok(()) => tracing::info!(%name, "partner: exported"),
                Err(e) => tracing::error!("partner: writing {name}: {e}"),
            }
        }
    }
}

fn free_name(taken: impl Fn(&str) -> bool) -> String {
    let day = Timestamp::now().strftime("%Y%m%d").to_string();
    let first = format!("energy_{day}.txt");
    if !taken(&first) {
        return first;
    }
    (2..)
        .map(|n| format!("energy_{day}_{n}.txt"))
        .find(|n| !taken(n))
        .expect("a free name")
}

/// The energy file answering `request`, or `None` when no meter has a complete hour to send.
pub fn export(request: &str, now: Timestamp, max_hours: u32, quirks: bool) -> Option<String> {
    let now_hour = Timestamp::from_second(now.as_second().div_euclid(3600) * 3600).ok()?;
    let mut out = String::new();
    if quirks {
        out.push('\u{feff}');
    }
    out.push_str(
        "timestamp;serviceID;meterStand;consumption;volume;temperatureIn;temperatureOut\n",
    );
    let mut rows = 0;
    for line in request.lines().skip(1) {
        let mut cols = line.split(';');
        let (Some(meter), Some(from)) = (cols.next(), cols.next()) else {
            tracing::warn!(
                line,
                "partner: request line without meter and from_datetime"
            );
            continue;
        };
        let Some(from) = DateTime::strptime("%Y-%m-%d %H:%M", from)
            .ok()
            .and_then(|d| d.to_zoned(TimeZone::UTC).ok())
            .map(|z| z.timestamp())
        else {
            tracing::warn!(line, "partner: from_datetime is not YYYY-MM-DD HH:MM");
            continue;
        };
        let mut t = from;
        let last = from + SignedDuration::from_hours(max_hours.into());
        while t + SignedDuration::from_hours(1) <= now_hour && t < last {
            let r = reading(meter, t);
            let num = |v: f64, digits: usize| {
                let s = format!("{v:.digits$}");
                if quirks {
                    s.replace('.', ",")
                } else {
                    s
                }
            };
            let volume = if quirks && rows % 7 == 3 {
                "-".to_string()
            } else {
                num(r.volume, 2)
            };
            let _ = writeln!(
                out,
                "{};{meter};{};{};{volume};{};{}",
                t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                r.meter_stand,
                r.consumption,
                num(r.temp_in, 2),
                num(r.temp_out, 2)
            );
            rows += 1;
            t += SignedDuration::from_hours(1);
        }
    }
    (rows > 0).then_some(out)
}

pub struct Reading {
    pub meter_stand: i64,
    pub consumption: i64,
    pub volume: f64,
    pub temp_in: f64,
    pub temp_out: f64,
}

/// Deterministic per (meter, hour): 3 kWh an hour, so the cumulative reading is 3 per hour
/// since 2020 and a test can check any value.
pub fn reading(meter: &str, hour: Timestamp) -> Reading {
    let h = (hour.as_second() - 1_577_836_800) / 3600;
    let wobble = (h % 10) as f64 / 100.0;
    let _ = meter;
    Reading {
        meter_stand: 3 * h,
        consumption: 3,
        volume: 0.07 + wobble / 10.0,
        temp_in: 64.0 + wobble * 10.0,
        temp_out: 34.0 - wobble * 10.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_every_complete_hour_from_each_meters_from_datetime() {
        let now: Timestamp = "2026-01-29T03:20:00Z".parse().unwrap();
        let request = "meter_id;from_datetime;house_name\n7359;2026-01-29 00:00;Daggis8\n7360;2026-01-29 03:00;Kontor";
        let text = export(request, now, 100, false).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[1].starts_with("2026-01-29T00:00:00Z;7359;"),
            "{}",
            lines[1]
        );
        assert!(
            lines[3].starts_with("2026-01-29T02:00:00Z;7359;"),
            "03:00 is not complete yet"
        );
        assert!(export(
            "meter_id;from_datetime;house_name\n7360;2026-01-29 03:00;K",
            now,
            100,
            false
        )
        .is_none());
        let quirky = export(request, now, 100, true).unwrap();
        assert!(quirky.starts_with('\u{feff}') && quirky.lines().nth(1).unwrap().contains(','));
    }
}
