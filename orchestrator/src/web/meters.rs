//! The meters of `meters.yaml` in the web UI: which house or building each belongs to, and so
//! who may see it. A physical meter belongs to the entity its readings' series is tagged with
//! (`house_id` or `building_id` under `series.tags`); a master or virtual meter to the owners
//! of the meters it is built from. A user sees a meter when they may see every one of its owners
//! (a meter built from two houses tells about both); a meter without an owner only admins and
//! the API token see.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use hemflux_analytics::meters::Kind;

use super::series::Subject;

/// One meter as the web UI shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MeterInfo {
    pub id: String,
    pub description: String,
    pub unit: String,
    /// House and building ids.
    pub owners: BTreeSet<String>,
}

/// Every meter of the definitions file; none when it does not exist.
pub fn meters(file: &Path) -> Result<Vec<MeterInfo>> {
    if !file.is_file() {
        return Ok(Vec::new());
    }
    let set = crate::meters::load(file)?;
    // The set is in dependency order: a meter's sources come before it.
    let mut out: Vec<MeterInfo> = Vec::with_capacity(set.meters.len());
    for m in &set.meters {
        let owners = match &m.kind {
            Kind::Physical(p) => p
                .series
                .tags
                .iter()
                .filter(|(k, _)| k == "house_id" || k == "building_id")
                .map(|(_, v)| v.clone())
                .collect(),
            Kind::Master(ms) => sources_owners(
                &out,
                ms.periods
                    .iter()
                    .flat_map(|p| p.sources.iter().map(|s| s.0)),
            ),
            Kind::Virtual(v) => sources_owners(&out, v.terms.iter().map(|t| t.0)),
        };
        out.push(MeterInfo {
            id: m.id.clone(),
            description: m.description.clone(),
            unit: m.unit.clone(),
            owners,
        });
    }
    Ok(out)
}

fn sources_owners(known: &[MeterInfo], sources: impl Iterator<Item = usize>) -> BTreeSet<String> {
    sources
        .filter_map(|i| known.get(i))
        .flat_map(|m| m.owners.iter().cloned())
        .collect()
}

impl MeterInfo {
    pub fn visible(&self, can_see: &dyn Fn(&str) -> bool, sees_all: bool) -> bool {
        sees_all || (!self.owners.is_empty() && self.owners.iter().all(|o| can_see(o)))
    }
}

/// Every meter the caller may see (none, with a warning, when `meters.yaml` is unreadable).
pub fn visible_meters(
    file: &Path,
    can_see: &dyn Fn(&str) -> bool,
    sees_all: bool,
) -> Vec<MeterInfo> {
    readable_meters(file)
        .into_iter()
        .filter(|m| m.visible(can_see, sees_all))
        .collect()
}

/// The meters of `file`, or none (with a warning) if it cannot be read: the pages go on without.
fn readable_meters(file: &Path) -> Vec<MeterInfo> {
    meters(file).unwrap_or_else(|e| {
        tracing::warn!("the web UI cannot read {}: {e:#}", file.display());
        Vec::new()
    })
}

/// The meters of one entity that the caller may see.
pub fn meters_of(
    file: &Path,
    entity: &str,
    can_see: &dyn Fn(&str) -> bool,
    sees_all: bool,
) -> Vec<MeterInfo> {
    let mut all = visible_meters(file, can_see, sees_all);
    all.retain(|m| m.owners.contains(entity));
    all
}

/// The meter `id` if it exists and the caller may see it.
pub fn visible_meter(
    file: &Path,
    id: &str,
    can_see: &dyn Fn(&str) -> bool,
    sees_all: bool,
) -> Option<MeterInfo> {
    readable_meters(file)
        .into_iter()
        .find(|m| m.id == id)
        .filter(|m| m.visible(can_see, sees_all))
}

/// Whose data a route asks for and its unit ("" for an entity), if the caller may see it
/// (else `None`: 404).
pub fn subject(
    file: &Path,
    meter: bool,
    id: &str,
    can_see: &dyn Fn(&str) -> bool,
    sees_all: bool,
) -> Option<(Subject, String)> {
    if meter {
        visible_meter(file, id, can_see, sees_all).map(|m| (Subject::Meter(m.id), m.unit))
    } else {
        can_see(id).then(|| (Subject::Entity(id.to_string()), String::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METERS: &str = r#"meters:
  - meter_id: "el"
    type: "physical"
    output_unit: "kWh"
    series: { measurement: "meter_reading", tags: { house_id: "villa", meter: "el" } }
  - meter_id: "heat"
    type: "physical"
    output_unit: "kWh"
    series: { measurement: "meter_reading", tags: { building_id: "kontor", meter: "heat" } }
  - meter_id: "loose"
    type: "physical"
    output_unit: "kWh"
  - meter_id: "both"
    type: "virtual"
    output_unit: "kWh"
    calculation_type: "subtraction"
    base_meter: "heat"
    subtract_meters: ["el"]
"#;

    #[test]
    fn owners_come_from_the_series_tags_and_the_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("meters.yaml");
        std::fs::write(&file, METERS).unwrap();
        let all = meters(&file).unwrap();
        let owners = |id: &str| {
            let m = all.iter().find(|m| m.id == id).unwrap();
            m.owners.iter().cloned().collect::<Vec<_>>()
        };
        assert_eq!(owners("el"), ["villa"]);
        assert_eq!(owners("heat"), ["kontor"]);
        assert!(owners("loose").is_empty());
        assert_eq!(owners("both"), ["kontor", "villa"]);

        let villa_only = |e: &str| e == "villa";
        assert!(visible_meter(&file, "el", &villa_only, false).is_some());
        assert!(visible_meter(&file, "heat", &villa_only, false).is_none());
        assert!(visible_meter(&file, "loose", &villa_only, false).is_none());
        assert!(visible_meter(&file, "loose", &villa_only, true).is_some());
        assert!(visible_meter(&file, "nope", &villa_only, true).is_none());
        assert!(visible_meter(&file, "both", &villa_only, false).is_none());
        let ids = |ms: Vec<MeterInfo>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(meters_of(&file, "villa", &villa_only, false)), ["el"]);
        let either = |e: &str| e == "villa" || e == "kontor";
        assert_eq!(
            ids(meters_of(&file, "villa", &either, false)),
            ["el", "both"]
        );
        assert!(meters(&dir.path().join("absent.yaml")).unwrap().is_empty());
    }
}
