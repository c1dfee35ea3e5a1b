//! The config model: house profiles (`profiles/*.json`), building configs (`buildings/*.json`),
//! and the set of workers they ask for. Parsing is strict (unknown fields are errors) and every
//! error names its file, line, column and field path.

mod analytics;
mod building;
pub mod control;
mod district_heating;
mod globals;
mod house;
mod influxdb_source;
mod meter;
mod serial;
mod synthetic;
mod weather;
mod workers;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::kinds::{WorkerConfig, WorkerKind};
pub use analytics::{
    AnalyticsConfig, EffectiveTempCoefficients, ScheduleSlot, ScheduledTask, DEFAULT_TIMEZONE,
};
pub use building::{ArrigoConfig, BuildingConfig, SignalConfig, SignalKind};
pub(crate) use district_heating::Exchange;
pub use district_heating::{DistrictHeatingConfig, ExchangeMeter, Transport, EXCHANGE_WORKER_ID};
pub use globals::Globals;
pub use house::{ArrigoHistoryConfig, HomesideConfig, HouseProfile};
pub use influxdb_source::InfluxSourceConfig;
pub use meter::{MeterConfig, MeterSource, TibberConfig, TibberSchema, WattivahtiConfig};
pub use serial::{ModuleFamily, ReadSchedule, SerialConfig};
pub use synthetic::SyntheticConfig;
pub(crate) use weather::weather_worker;
pub use weather::{WeatherPosition, WeatherSettings};
pub use workers::{desired_workers, CredentialUse, SecretSpec, WorkerSpec};

/// Which folder a config file came from, and so what it must contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    House,
    Building,
}

/// A parsed, validated config file.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    House(HouseProfile),
    Building(BuildingConfig),
}

impl Entity {
    pub fn id(&self) -> &str {
        match self {
            Entity::House(h) => &h.id,
            Entity::Building(b) => &b.id,
        }
    }
}

/// One problem in one config file, precise enough to find and fix it: `file[:line:column][:
/// path]: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", .file.display(), place(.line, .column, .path))]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no single place in the text (a semantic check).
    pub line: usize,
    pub column: usize,
    /// Where in the document, such as `meters[1].metering_point`; empty for the whole file.
    pub path: String,
    pub message: String,
}

/// `:line:column` when known, then `: path` when there is one.
pub fn place(line: &usize, column: &usize, path: &str) -> String {
    let mut out = String::new();
    if *line > 0 {
        out += &format!(":{line}:{column}");
    }
    if !path.is_empty() {
        out += &format!(": {path}");
    }
    out
}

/// Parses and validates one config file's bytes: UTF-8 (a leading BOM is fine), one JSON object.
pub fn parse_entity_bytes(
    kind: EntityKind,
    file: &Path,
    bytes: &[u8],
) -> Result<Entity, Vec<ConfigError>> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = position(&bytes[..e.valid_up_to()]);
        vec![ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            path: String::new(),
            message: "not UTF-8 text (save the file as UTF-8)".into(),
        }]
    })?;
    parse_entity(kind, file, text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// 1-based line and column just after `before`, the start of a file.
pub fn position(before: &[u8]) -> (usize, usize) {
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.len()
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    (line, column)
}

/// Parses and validates one config file's text. `file` names it in errors and gives the default id.
pub fn parse_entity(kind: EntityKind, file: &Path, text: &str) -> Result<Entity, Vec<ConfigError>> {
    let default_id = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let entity = match kind {
        EntityKind::House => {
            let mut h: HouseProfile = parse_json(file, text)?;
            if h.id.is_empty() {
                h.id = default_id.to_string();
            }
            Entity::House(h)
        }
        EntityKind::Building => {
            let mut b: BuildingConfig = parse_json(file, text)?;
            if b.id.is_empty() {
                b.id = default_id.to_string();
            }
            Entity::Building(b)
        }
    };
    let mut problems = Vec::new();
    check_id(entity.id(), &mut problems);
    match &entity {
        Entity::House(h) => h.validate(&mut problems),
        Entity::Building(b) => b.validate(&mut problems),
    }
    if problems.is_empty() {
        Ok(entity)
    } else {
        Err(problems
            .into_iter()
            .map(|(path, message)| locate(file, text, path, message))
            .collect())
    }
}

/// A semantic problem: (field path, message). Collected by the `validate` methods.
pub(crate) type Problems = Vec<(String, String)>;

/// Ids become parts of worker ids, file names, tag values and `.env` keys: keep them plain.
fn check_id(id: &str, problems: &mut Problems) {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if !ok {
        problems.push((
            "id".into(),
            format!("{id:?} is not a valid id: use 1-100 letters, digits, '_', '-' or '.'"),
        ));
    }
}

fn parse_json<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Vec<ConfigError>> {
    // serde reads a struct from an array too (`[]` would be a house with every default).
    if let Some((i, c)) = text.char_indices().find(|(_, c)| !c.is_whitespace()) {
        if c != '{' {
            let before = &text[..i];
            return Err(vec![ConfigError {
                file: file.to_path_buf(),
                line: before.matches('\n').count() + 1,
                column: before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1,
                path: String::new(),
                message: format!("expected one JSON object {{...}}, found {c:?}"),
            }]);
        }
    }
    let at = |path: String, e: serde_json::Error| {
        vec![ConfigError {
            file: file.to_path_buf(),
            line: e.line(),
            column: e.column(),
            path: if path == "." { String::new() } else { path },
            message: strip_position(&e.to_string()),
        }]
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        at(path, e.into_inner())
    })?;
    de.end().map_err(|e| at(String::new(), e))?;
    Ok(value)
}

/// serde_json appends " at line L column C"; we print the position ourselves.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Finds the line of a semantic problem by the last key of its path, so that the editor jumps
/// close to it; falls back to no position.
fn locate(file: &Path, text: &str, path: String, message: String) -> ConfigError {
    let key = path
        .rsplit('.')
        .next()
        .unwrap_or("")
        .split('[')
        .next()
        .unwrap_or("");
    let needle = format!("\"{key}\"");
    let (line, column) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(&needle).map(|c| (i + 1, c + 1)))
        .filter(|_| !key.is_empty())
        .unwrap_or((0, 0));
    ConfigError {
        file: file.to_path_buf(),
        line,
        column,
        path,
        message,
    }
}

/// A position for houses and buildings, used for weather.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

impl Location {
    pub(crate) fn validate(&self, at: &str, problems: &mut Problems) {
        if !(-90.0..=90.0).contains(&self.lat) {
            problems.push((
                format!("{at}.lat"),
                format!("{} is not a latitude (-90..90)", self.lat),
            ));
        }
        if !(-180.0..=180.0).contains(&self.lon) {
            problems.push((
                format!("{at}.lon"),
                format!("{} is not a longitude (-180..180)", self.lon),
            ));
        }
    }
}

/// Checks that an interval is positive; used by every polling kind.
pub(crate) fn check_positive(value: u64, at: &str, problems: &mut Problems) {
    if value == 0 {
        problems.push((at.to_string(), "must be greater than 0".into()));
    }
}

/// Checks an http(s) URL setting.
pub(crate) fn check_url(url: &str, at: &str, problems: &mut Problems) {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        problems.push((at.to_string(), format!("{url:?} is not an http(s) URL")));
    }
}

#[cfg(test)]
mod tests;

/// Names of meters and serial devices become part of worker ids and tags: same rules as ids.
pub(crate) fn check_name(name: &str, at: &str, problems: &mut Problems) {
    let mut p = Vec::new();
    check_id(name, &mut p);
    problems.extend(p.into_iter().map(|(_, m)| (at.to_string(), m)));
}
