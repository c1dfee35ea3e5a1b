//! Serial devices declared in a house profile (`"serial": [...]`): each becomes a
//! `serial:<house>/<name>` worker, such as a Wi-SUN B-route module reading a smart meter.

use serde::{Deserialize, Serialize};

use super::Problems;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// Part of the worker id and the `device` tag, such as `broute`.
    pub name: String,
    /// The device path, such as `/dev/ttyUSB0`.
    pub port: String,
    #[serde(default = "SerialConfig::default_baud")]
    pub baud: u32,
    /// When to read, as a cron expression in the host's UTC clock (5 fields, or 6 with seconds
    /// first). Default `*/5 * * * *`. Exclusive with `interval_secs`.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Read every this many seconds instead of on a cron schedule.
    #[serde(default)]
    pub interval_secs: Option<u64>,
    /// The meter's clock zone (IANA name); its timestamps are converted to UTC from it.
    #[serde(default = "SerialConfig::default_timezone")]
    pub timezone: String,
    /// The `.env` prefix of the B-route credentials; default `BROUTE_<house>_<name>`, which reads
    /// `<prefix>_ID` (32 characters) and `<prefix>_PASSWORD` (12 characters).
    #[serde(default)]
    pub credential_ref: Option<String>,
    /// The module's command dialect: `auto` (try A1-style, then C-style), `a1` (BP35A1, RL7023
    /// Stick-D/IPS) or `c` (BP35C0/C2, Stick-D/DSS: SIDE tokens).
    #[serde(default)]
    pub family: ModuleFamily,
    /// How long to wait for the meter's answer to one request.
    #[serde(default = "SerialConfig::default_reply_timeout")]
    pub reply_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleFamily {
    #[default]
    Auto,
    A1,
    C,
}

/// When a serial device is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadSchedule {
    Cron(String),
    IntervalSecs(u64),
}

impl SerialConfig {
    pub const DEFAULT_SCHEDULE: &'static str = "*/5 * * * *";

    fn default_baud() -> u32 {
        115_200
    }
    fn default_timezone() -> String {
        "Asia/Tokyo".into()
    }
    fn default_reply_timeout() -> u64 {
        20
    }

    pub fn read_schedule(&self) -> ReadSchedule {
        match (&self.schedule, self.interval_secs) {
            (_, Some(secs)) => ReadSchedule::IntervalSecs(secs),
            (Some(cron), None) => ReadSchedule::Cron(cron.clone()),
            (None, None) => ReadSchedule::Cron(Self::DEFAULT_SCHEDULE.into()),
        }
    }

    /// The `.env` prefix of this device's B-route ID and password.
    pub fn credential_prefix(&self, house_id: &str) -> String {
        self.credential_ref
            .clone()
            .unwrap_or_else(|| format!("BROUTE_{house_id}_{}", self.name))
    }

    pub(crate) fn validate(&self, at: &str, problems: &mut Problems) {
        super::check_name(&self.name, &format!("{at}.name"), problems);
        if self.port.is_empty() {
            problems.push((format!("{at}.port"), "is empty".into()));
        }
        if self.baud == 0 {
            problems.push((format!("{at}.baud"), "must be greater than 0".into()));
        }
        if self.schedule.is_some() && self.interval_secs.is_some() {
            problems.push((
                format!("{at}.interval_secs"),
                "give either schedule or interval_secs, not both".into(),
            ));
        }
        if let Some(cron) = &self.schedule {
            if let Err(e) = cron.parse::<croner::Cron>() {
                problems.push((
                    format!("{at}.schedule"),
                    format!("{cron:?} is not a cron expression: {e}"),
                ));
            }
        }
        if let Some(secs) = self.interval_secs {
            super::check_positive(secs, &format!("{at}.interval_secs"), problems);
        }
        if jiff::tz::TimeZone::get(&self.timezone).is_err() {
            problems.push((
                format!("{at}.timezone"),
                format!("{:?} is not a known time zone", self.timezone),
            ));
        }
        super::check_positive(
            self.reply_timeout_secs,
            &format!("{at}.reply_timeout_secs"),
            problems,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{parse_entity, Entity, EntityKind};

    use super::*;

    fn serial(json: &str) -> Result<SerialConfig, Vec<String>> {
        let text = format!(r#"{{"serial": [{json}]}}"#);
        match parse_entity(EntityKind::House, Path::new("profiles/home.json"), &text) {
            Ok(Entity::House(h)) => Ok(h.serial[0].clone()),
            Ok(_) => unreachable!(),
            Err(errs) => Err(errs.into_iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn defaults_follow_the_collector_we_replace() {
        let s = serial(r#"{"name": "broute", "port": "/dev/ttyUSB0"}"#).unwrap();
        assert_eq!(s.baud, 115_200);
        assert_eq!(s.timezone, "Asia/Tokyo");
        assert_eq!(s.read_schedule(), ReadSchedule::Cron("*/5 * * * *".into()));
        assert_eq!(s.credential_prefix("home"), "BROUTE_home_broute");
        assert_eq!(s.family, ModuleFamily::Auto);
    }

    #[test]
    fn interval_and_credential_ref() {
        let s = serial(
            r#"{"name": "b", "port": "/dev/x", "interval_secs": 60, "credential_ref": "MY_METER", "family": "c"}"#,
        )
        .unwrap();
        assert_eq!(s.read_schedule(), ReadSchedule::IntervalSecs(60));
        assert_eq!(s.credential_prefix("home"), "MY_METER");
        assert_eq!(s.family, ModuleFamily::C);
    }

    #[test]
    fn bad_values_name_their_field() {
        let errs = serial(
            r#"{"name": "b", "port": "/dev/x", "schedule": "*/5 * *", "timezone": "Mars/Olympus"}"#,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("serial[0].schedule"), "{errs:?}");
        assert!(errs[1].contains("serial[0].timezone"), "{errs:?}");
        let errs = serial(
            r#"{"name": "b", "port": "/dev/x", "schedule": "* * * * *", "interval_secs": 5}"#,
        )
        .unwrap_err();
        assert!(errs[0].contains("not both"), "{errs:?}");
        let errs = serial(r#"{"name": "b", "port": "/dev/x", "baudrate": 9600}"#).unwrap_err();
        assert!(errs[0].contains("baudrate"), "{errs:?}");
    }
}
