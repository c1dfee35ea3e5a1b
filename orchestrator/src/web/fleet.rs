//! The overview's model: every house and building (and the shared services) with its workers'
//! states, last data time, open alarms and the energy analytics' headline, read from the
//! supervisor's snapshot and the store.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use serde::Serialize;

use crate::store::{RawValue, Reader};
use crate::supervisor::{WorkerState, WorkerView};

/// How far back the hot-water share looks.
const DHW_WINDOW_NS: i64 = 30 * 86_400 * 1_000_000_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerCell {
    pub id: String,
    pub state: WorkerState,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EntityRow {
    pub id: String,
    /// `house`, `building`, or `service` (workers of no one entity: weather, the file exchange).
    pub kind: &'static str,
    pub workers: Vec<WorkerCell>,
    /// The newest point any of its workers delivered (RFC 3339).
    pub last_data_time: Option<String>,
    /// Alarms open in the building's last report.
    pub open_alarms: Option<i64>,
    /// The newest fitted k (kW/K) and its adjusted R².
    pub k_kw_per_k: Option<f64>,
    pub k_r2_adj: Option<f64>,
    /// Hot water's share of the energy over the last 30 days (0..1).
    pub dhw_share: Option<f64>,
}

impl EntityRow {
    /// Whether any worker is failed, backing off, or reports an error.
    pub fn has_problem(&self) -> bool {
        self.workers.iter().any(|w| {
            w.error.is_some() || matches!(w.state, WorkerState::Failed | WorkerState::Backoff)
        })
    }
}

/// Which entity a worker belongs to: `house:villa`, `meter:villa/el`, `serial:villa/x`,
/// `synthetic:villa` are the house `villa`; `building:k` the building `k`; others are services.
pub fn entity_of(worker_id: &str) -> (&'static str, &str) {
    let (kind, rest) = worker_id.split_once(':').unwrap_or(("", worker_id));
    let id = rest.split('/').next().unwrap_or(rest);
    match kind {
        "building" => ("building", id),
        "house" | "meter" | "serial" | "synthetic" | "constant" => ("house", id),
        _ => ("service", worker_id),
    }
}

/// The rows the visitor may see, houses and buildings by id, services last.
pub fn overview_model(
    workers: &[WorkerView],
    reader: &Reader,
    can_see: impl Fn(&str) -> bool,
    now_ns: i64,
) -> Result<Vec<EntityRow>> {
    let mut rows: BTreeMap<(bool, String), EntityRow> = BTreeMap::new();
    for w in workers {
        let (kind, id) = entity_of(&w.id);
        if !can_see(id) {
            continue;
        }
        let row = rows
            .entry((kind == "service", id.to_string()))
            .or_insert_with(|| EntityRow {
                id: id.to_string(),
                kind,
                workers: Vec::new(),
                last_data_time: None,
                open_alarms: None,
                k_kw_per_k: None,
                k_r2_adj: None,
                dhw_share: None,
            });
        if kind == "building" {
            row.kind = "building";
        }
        row.workers.push(WorkerCell {
            id: w.id.clone(),
            state: w.state,
            error: w.error.clone(),
        });
        if w.last_data_time > row.last_data_time {
            row.last_data_time.clone_from(&w.last_data_time);
        }
    }
    let mut by_id: HashMap<String, &mut EntityRow> = rows
        .iter_mut()
        .filter(|((service, _), _)| !service)
        .map(|((_, id), row)| (id.clone(), row))
        .collect();
    add_headlines(reader, &mut by_id, now_ns)?;
    Ok(rows.into_values().collect())
}

/// Fills k, hot-water share and open alarms from what the analytics and buildings stored.
fn add_headlines(
    reader: &Reader,
    rows: &mut HashMap<String, &mut EntityRow>,
    now_ns: i64,
) -> Result<()> {
    let mut k_time: HashMap<String, i64> = HashMap::new();
    let mut energy: HashMap<String, (f64, f64)> = HashMap::new();
    for series in reader.all_series()? {
        let wanted = matches!(
            series.measurement.as_str(),
            "k_value_history" | "energy_separated" | "building_alarms"
        );
        let entity = series
            .tags
            .get("house_id")
            .or_else(|| series.tags.get("building_id"));
        let Some(row) = entity.filter(|_| wanted).and_then(|e| rows.get_mut(e)) else {
            continue;
        };
        match series.measurement.as_str() {
            "k_value_history" => reader.last_point(&series, |time, fields| {
                let newest = k_time.get(&row.id).is_none_or(|t| time > *t);
                if newest {
                    k_time.insert(row.id.clone(), time);
                    row.k_kw_per_k = None;
                    row.k_r2_adj = None;
                    for f in fields {
                        match f? {
                            ("k_value", v) => row.k_kw_per_k = number(v),
                            ("r2_adj", v) => row.k_r2_adj = number(v),
                            _ => {}
                        }
                    }
                }
                Ok(())
            })?,
            "building_alarms" => reader.last_point(&series, |_, fields| {
                for f in fields {
                    if let ("count_alarmed", RawValue::Int(n)) = f? {
                        row.open_alarms = Some(row.open_alarms.unwrap_or(0) + n);
                    }
                }
                Ok(())
            })?,
            _ => {
                let sums = energy.entry(row.id.clone()).or_default();
                reader.for_each_point_of(
                    &series,
                    Some(now_ns - DHW_WINDOW_NS),
                    None,
                    |_, fields| {
                        for f in fields {
                            match f? {
                                ("dhw_energy_kwh", v) => sums.0 += number(v).unwrap_or(0.0),
                                ("actual_energy_kwh", v) => sums.1 += number(v).unwrap_or(0.0),
                                _ => {}
                            }
                        }
                        Ok(())
                    },
                )?;
            }
        }
    }
    for (id, (dhw, total)) in energy {
        if let Some(row) = rows.get_mut(&id) {
            row.dhw_share = (total > 0.0).then(|| dhw / total);
        }
    }
    Ok(())
}

fn number(v: RawValue<'_>) -> Option<f64> {
    match v {
        RawValue::Float(f) => Some(f),
        RawValue::Int(i) => Some(i as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_belong_to_their_entity() {
        assert_eq!(entity_of("house:villa"), ("house", "villa"));
        assert_eq!(entity_of("meter:villa/electricity"), ("house", "villa"));
        assert_eq!(entity_of("serial:villa/broute"), ("house", "villa"));
        assert_eq!(entity_of("building:kontor_3"), ("building", "kontor_3"));
        assert_eq!(
            entity_of("district_heating:exchange"),
            ("service", "district_heating:exchange")
        );
    }
}
