//! Tibber's time series: hourly consumption and its daily, weekly, monthly and annual sums,
//! prices at a quarter hour, an hour or a day, and the cursor paging of their connections.

use base64::Engine;
use jiff::civil::{Date, DateTime, Time};
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};
use serde_json::{Map, Value};

use super::gql::Error;
use super::{hash, round, Sim};

/// How long a price holds.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Res {
    Quarter,
    Hourly,
    Daily,
}

/// The period of a consumption node (`EnergyResolution`).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Energy {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Annual,
}

impl Energy {
    pub fn parse(name: &str) -> Result<Energy, Error> {
        Ok(match name {
            "HOURLY" => Energy::Hourly,
            "DAILY" => Energy::Daily,
            "WEEKLY" => Energy::Weekly,
            "MONTHLY" => Energy::Monthly,
            "ANNUAL" => Energy::Annual,
            other => {
                return Err(Error::Validation(format!(
                    "Value \"{other}\" does not exist in \"EnergyResolution\" enum."
                )))
            }
        })
    }

    /// Nodes per page at most; more are truncated, not refused (Tibber changelog 2024-10).
    fn cap(self) -> usize {
        match self {
            Energy::Hourly => 744,
            Energy::Daily => 31,
            Energy::Weekly => 52,
            Energy::Monthly => 12,
            Energy::Annual => 1,
        }
    }

    /// The local start of the period holding `t`.
    fn period_start(self, t: &Zoned) -> Zoned {
        let date = t.date();
        let date = match self {
            Energy::Hourly => return t.start_of_day().expect("valid") + t.hour().hours(),
            Energy::Daily => date,
            // Weeks start on Monday (ISO 8601).
            Energy::Weekly => date
                .checked_sub((date.weekday().to_monday_zero_offset() as i64).days())
                .expect("valid"),
            Energy::Monthly => date.first_of_month(),
            Energy::Annual => date.first_of_year(),
        };
        date.to_zoned(t.time_zone().clone()).expect("valid")
    }

    fn next(self, start: &Zoned) -> Zoned {
        let span = match self {
            Energy::Hourly => return start + SignedDuration::from_hours(1),
            Energy::Daily => 1.day(),
            Energy::Weekly => 1.week(),
            Energy::Monthly => 1.month(),
            Energy::Annual => 1.year(),
        };
        start.checked_add(span).expect("valid")
    }
}

/// One node of a consumption connection.
#[derive(Clone, Debug)]
pub struct Node {
    pub from: Timestamp,
    pub to: Timestamp,
    pub consumption: Option<f64>,
    pub cost: Option<f64>,
    pub unit_price: f64,
}

/// One page of a connection.
pub struct Page<T> {
    pub nodes: Vec<T>,
    pub has_previous: bool,
    pub has_next: bool,
}

impl Sim {
    /// Hourly consumption from `history_days` ago to the last complete hour.
    fn hourly(&self, home: usize) -> Vec<Node> {
        let now = Timestamp::now();
        let last = Timestamp::from_second(now.as_second().div_euclid(3600) * 3600 - 3600)
            .expect("in range");
        let first = last - SignedDuration::from_hours(24 * self.args.history_days);
        let recent_null = last - SignedDuration::from_hours(self.args.null_recent_hours);
        let revised_from = last - SignedDuration::from_hours(self.args.revise_hours);
        let revision = self.limiter.lock().unwrap().requests as f64 / 1000.0;
        std::iter::successors(Some(first), |t| Some(*t + SignedDuration::from_hours(1)))
            .take_while(|t| *t <= last)
            .map(|from| {
                let consumption =
                    (from <= recent_null || self.args.null_recent_hours == 0).then(|| {
                        let base = 0.2 + (hash(&self.args.homes[home], from) % 150) as f64 / 100.0;
                        let revised = self.args.revise_hours > 0 && from > revised_from;
                        round(if revised { base + revision } else { base }, 3)
                    });
                let unit_price = self.price(home, from, Res::Hourly).0;
                Node {
                    from,
                    to: from + SignedDuration::from_hours(1),
                    consumption,
                    cost: consumption.map(|c| round(c * unit_price, 4)),
                    unit_price,
                }
            })
            .collect()
    }

    /// Consumption at a resolution: hours, or their sums over complete local periods (the
    /// oldest period may be partial, as at the start of a contract).
    pub fn consumption_nodes(&self, home: usize, res: Energy) -> Vec<Node> {
        let hours = self.hourly(home);
        if res == Energy::Hourly {
            return hours;
        }
        let Some(end) = hours.last().map(|n| n.to) else {
            return Vec::new();
        };
        let mut out: Vec<Node> = Vec::new();
        for h in hours {
            let start = res.period_start(&h.from.to_zoned(self.tz.clone()));
            match out.last_mut() {
                Some(n) if n.from == start.timestamp() => {
                    n.consumption = sum(n.consumption, h.consumption);
                    n.cost = sum(n.cost, h.cost);
                }
                _ => out.push(Node {
                    from: start.timestamp(),
                    to: res.next(&start).timestamp(),
                    consumption: h.consumption,
                    cost: h.cost,
                    unit_price: 0.0,
                }),
            }
        }
        out.retain(|n| n.to <= end);
        for n in &mut out {
            n.consumption = n.consumption.map(|c| round(c, 3));
            n.cost = n.cost.map(|c| round(c, 4));
            if let (Some(kwh), Some(cost)) = (n.consumption, n.cost) {
                n.unit_price = if kwh > 0.0 { round(cost / kwh, 4) } else { 0.0 };
            }
        }
        out
    }

    /// Interval starts of one local day at a resolution (23/25 hours on DST days).
    pub fn day(&self, date: Date, res: Res) -> Vec<Timestamp> {
        let start = date.to_zoned(self.tz.clone()).expect("valid day");
        let end = start.tomorrow().expect("valid day").timestamp();
        let step = match res {
            Res::Quarter => SignedDuration::from_mins(15),
            Res::Hourly => SignedDuration::from_hours(1),
            Res::Daily => return vec![start.timestamp()],
        };
        std::iter::successors(Some(start.timestamp()), |t| Some(*t + step))
            .take_while(|t| *t < end)
            .collect()
    }

    /// The local days with prices: `history_days` back to today, or tomorrow once published.
    pub fn price_days(&self) -> Vec<Date> {
        let now = Timestamp::now().to_zoned(self.tz.clone());
        let last = if now.hour() < self.args.publish_hour {
            now.date()
        } else {
            now.date().tomorrow().expect("valid")
        };
        let first = now
            .date()
            .checked_sub(self.args.history_days.days())
            .expect("valid");
        std::iter::successors(Some(first), |d| d.tomorrow().ok())
            .take_while(|d| *d <= last)
            .collect()
    }

    /// (total, energy, tax) per kWh of the interval starting at `t`; a day's is the mean of
    /// its hours.
    pub fn price(&self, home: usize, t: Timestamp, res: Res) -> (f64, f64, f64) {
        if res == Res::Daily {
            let hours = self.day(t.to_zoned(self.tz.clone()).date(), Res::Hourly);
            let n = hours.len() as f64;
            let energy = hours
                .iter()
                .map(|h| self.price(home, *h, Res::Hourly).1)
                .sum::<f64>()
                / n;
            let energy = round(energy, 4);
            let tax = round(energy * 0.25 + 0.1, 4);
            return (round(energy + tax, 4), energy, tax);
        }
        let energy = round(
            0.3 + (hash(&self.args.homes[home], t) % 100) as f64 / 100.0,
            4,
        );
        let tax = round(energy * 0.25 + 0.1, 4);
        (round(energy + tax, 4), energy, tax)
    }

    /// The start and end index of the page that `first`/`after` or `last`/`before` pick out of
    /// nodes starting at `froms`, at most `cap` long.
    pub fn window(
        &self,
        froms: &[Timestamp],
        args: &Map<String, Value>,
        cap: usize,
    ) -> Result<(usize, usize), Error> {
        let cursor = |name: &str| -> Result<Option<(Timestamp, bool)>, Error> {
            match args.get(name).and_then(Value::as_str) {
                None | Some("") => Ok(None),
                Some(c) => self.decode_cursor(c).map(Some),
            }
        };
        let count = |name: &str| {
            args.get(name)
                .and_then(Value::as_i64)
                .map(|n| (n.max(0) as usize).min(cap))
        };
        match (count("first"), count("last")) {
            (Some(n), _) => {
                let start = match cursor("after")? {
                    Some((c, inclusive)) => {
                        froms.partition_point(|x| if inclusive { *x < c } else { *x <= c })
                    }
                    None => 0,
                };
                Ok((start, (start + n).min(froms.len())))
            }
            (None, Some(n)) => {
                let end = match cursor("before")? {
                    Some((c, _)) => froms.partition_point(|x| *x < c),
                    None => froms.len(),
                };
                Ok((end.saturating_sub(n), end))
            }
            (None, None) => Err(Error::field(
                "You must provide a `first` or `last` value to properly paginate the connection.",
                "INTERNAL_SERVER_ERROR",
            )),
        }
    }

    pub fn consumption(&self, home: usize, args: &Map<String, Value>) -> Result<Page<Node>, Error> {
        let res = Energy::parse(args.get("resolution").and_then(Value::as_str).unwrap_or(""))?;
        let mut nodes = self.consumption_nodes(home, res);
        if args.get("filterEmptyNodes") == Some(&Value::Bool(true)) {
            nodes.retain(|n| n.consumption.is_some());
        }
        let froms: Vec<Timestamp> = nodes.iter().map(|n| n.from).collect();
        let (start, end) = self.window(&froms, args, res.cap())?;
        Ok(Page {
            has_previous: start > 0,
            has_next: end < nodes.len(),
            nodes: nodes[start..end].to_vec(),
        })
    }

    /// `priceInfoRange` (quarter hours too) or the older `PriceInfo.range` (hours and days).
    pub fn price_range(
        &self,
        args: &Map<String, Value>,
        quarter_allowed: bool,
    ) -> Result<Page<(Timestamp, Res)>, Error> {
        // Caps: a month of each resolution (inferred; Tibber documents consumption's only).
        let (res, cap) = match args.get("resolution").and_then(Value::as_str) {
            Some("QUARTER_HOURLY") if quarter_allowed => (Res::Quarter, 2976),
            Some("HOURLY") => (Res::Hourly, 744),
            Some("DAILY") => (Res::Daily, 31),
            other => {
                let enum_name = if quarter_allowed {
                    "PriceInfoRangeResolution"
                } else {
                    "PriceResolution"
                };
                return Err(Error::Validation(format!(
                    "Value \"{}\" does not exist in \"{enum_name}\" enum.",
                    other.unwrap_or("")
                )));
            }
        };
        let froms: Vec<Timestamp> = self
            .price_days()
            .into_iter()
            .flat_map(|d| self.day(d, res))
            .collect();
        let (start, end) = self.window(&froms, args, cap)?;
        Ok(Page {
            has_previous: start > 0,
            has_next: end < froms.len(),
            nodes: froms[start..end].iter().map(|t| (*t, res)).collect(),
        })
    }

    /// A cursor is base64 of an ISO date-time; a date-only (or offset-less) one is local time
    /// and includes the node starting there.
    fn decode_cursor(&self, c: &str) -> Result<(Timestamp, bool), Error> {
        let bad = || Error::field(format!("Invalid cursor: {c}"), "INTERNAL_SERVER_ERROR");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(c)
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        if let Ok(t) = text.parse::<Timestamp>() {
            return Ok((t, false));
        }
        let local = text
            .parse::<DateTime>()
            .or_else(|_| {
                text.parse::<Date>()
                    .map(|d| d.to_datetime(Time::midnight()))
            })
            .map_err(|_| bad())?;
        let t = local
            .to_zoned(self.tz.clone())
            .map_err(|_| bad())?
            .timestamp();
        Ok((t, true))
    }

    pub fn cursor(&self, t: Timestamp) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.fmt(t))
    }
}

fn sum(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}
