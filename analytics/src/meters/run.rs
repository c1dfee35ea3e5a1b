//! A run over the whole meter set: physical meters one at a time (only one meter's readings in
//! memory), then masters and virtual meters in dependency order. A run resumes from the state
//! the last one left: a physical meter is re-read only after its last reading that a change
//! does not touch, and its dependents are recomputed from its earliest changed day.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::anomaly::{day_flags, DayFlag, Fall};
use super::calendar::{date_of, tz_name, DayGrid, Ts};
use super::compose::{self, Registers};
use super::consumption::{self, Usage};
use super::definition::{Kind, MeterSet, Physical};
use super::flags::Flag;
use super::register::{continuous, Point, Reading};
use super::resample::Resampler;
use super::series::{Provenance, RegisterSeries, Sample};

/// What a run keeps for the next one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The zone and first day of the grid the state was computed on; another means a full run.
    pub tz: String,
    pub first_day: Option<Date>,
    pub meters: BTreeMap<String, MeterState>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeterState {
    pub register: RegisterSeries,
    /// Physical meters: the reading at or before each grid instant (where a run resumes).
    pub lefts: Vec<Option<Point>>,
    pub first: Option<Point>,
    pub last: Option<Point>,
    /// Physical meters: values at the swap instants masters need.
    pub extras: Vec<Sample>,
}

/// Per meter, the instant of its earliest changed reading beyond the ones after its last
/// reading, which a run always reads (a reading added by hand in the past, an import).
pub type Changes = BTreeMap<String, Ts>;

/// A meter's results for the days a run computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterOutput {
    pub meter_id: String,
    pub unit: String,
    pub kind: &'static str,
    /// The first day (local date) whose results are new; `None` if nothing changed.
    pub from: Option<String>,
    pub days: Vec<Usage>,
    pub months: Vec<Usage>,
    pub years: Vec<Usage>,
    pub flags: Vec<DayFlag>,
    /// Readings this run read for the meter.
    pub readings: usize,
}

/// Runs the meter set at `now`. `read(meter index, physical, after)` returns the meter's raw
/// readings after `after` (all of them for `None`); it is called once per physical meter that
/// needs reading. With `full`, or when `state` belongs to another grid, everything is
/// recomputed.
pub fn run<E>(
    set: &MeterSet,
    state: &mut State,
    now: Ts,
    changes: &Changes,
    full: bool,
    mut read: impl FnMut(usize, &Physical, Option<Ts>) -> Result<Vec<Reading>, E>,
) -> Result<Vec<MeterOutput>, E> {
    let first_day = grid_origin(set).map(|t| date_of(t, &set.tz));
    let Some(first_day) = first_day else {
        return Ok(Vec::new());
    };
    let grid = DayGrid::new(first_day, date_of(now, &set.tz), &set.tz);
    if full || state.tz != tz_name(&set.tz) || state.first_day != Some(first_day) {
        *state = State {
            tz: tz_name(&set.tz).to_string(),
            first_day: Some(first_day),
            meters: BTreeMap::new(),
        };
    }
    let mut from: Vec<usize> = Vec::with_capacity(set.meters.len());
    let mut reading_flags: Vec<Vec<Flag>> = vec![Vec::new(); set.meters.len()];
    let mut counts = vec![0; set.meters.len()];
    for (i, meter) in set.meters.iter().enumerate() {
        let st = state.meters.remove(&meter.id).unwrap_or_default();
        let (st, changed) = match &meter.kind {
            Kind::Physical(p) => {
                let resume = resume_point(set, &st, &grid, p, changes.get(&meter.id).copied());
                let readings = read(i, p, resume.map(|r| r.t))?;
                counts[i] = readings.len();
                physical(
                    set,
                    i,
                    p,
                    &grid,
                    st,
                    resume,
                    &readings,
                    &mut reading_flags[i],
                )
            }
            Kind::Master(ms) => {
                let regs = Known { set, state };
                let register = compose::master(set, ms, grid.instants(), &regs);
                let changed = ms
                    .periods
                    .iter()
                    .flat_map(|p| &p.sources)
                    .map(|s| from[s.0])
                    .min();
                (
                    MeterState {
                        register,
                        ..Default::default()
                    },
                    changed.unwrap_or(grid.len()),
                )
            }
            Kind::Virtual(v) => {
                let regs = Known { set, state };
                let register = compose::virtual_meter(v, grid.instants(), &regs);
                let changed = v.terms.iter().map(|t| from[t.0]).min();
                (
                    MeterState {
                        register,
                        ..Default::default()
                    },
                    changed.unwrap_or(grid.len()),
                )
            }
        };
        from.push(changed);
        state.meters.insert(meter.id.clone(), st);
    }
    Ok(set
        .meters
        .iter()
        .enumerate()
        .map(|(i, meter)| {
            let reg = &state.meters[&meter.id].register;
            let fall = match meter.kind {
                Kind::Physical(_) => Fall::FromReadings,
                Kind::Master(_) => Fall::NegativeDelta,
                Kind::Virtual(_) => Fall::NegativeResidual,
            };
            let f = from[i];
            MeterOutput {
                meter_id: meter.id.clone(),
                unit: meter.unit.clone(),
                kind: match meter.kind {
                    Kind::Physical(_) => "physical",
                    Kind::Master(_) => "master",
                    Kind::Virtual(_) => "virtual",
                },
                from: (f + 1 < grid.len()).then(|| grid.date(f).to_string()),
                days: consumption::days(&grid, reg, f),
                months: consumption::periods(&grid, reg, &grid.months(), f),
                years: consumption::periods(&grid, reg, &grid.years(), f),
                flags: day_flags(&grid, reg, &meter.thresholds, fall, &reading_flags[i], f),
                readings: counts[i],
            }
        })
        .collect())
}

/// The first day of the grid: the set's start, else the earliest installation or master period.
pub fn grid_origin(set: &MeterSet) -> Option<Ts> {
    set.start.or_else(|| {
        set.meters
            .iter()
            .filter_map(|m| match &m.kind {
                Kind::Physical(p) => p.installed,
                Kind::Master(ms) => ms.periods.first().map(|p| p.from),
                Kind::Virtual(_) => None,
            })
            .min()
    })
}

/// Registers computed so far in this run.
struct Known<'a> {
    set: &'a MeterSet,
    state: &'a State,
}

impl Registers for Known<'_> {
    fn series(&self, meter: usize) -> &RegisterSeries {
        &self.state.meters[&self.set.meters[meter].id].register
    }

    fn at(&self, meter: usize, t: Ts) -> f64 {
        let st = &self.state.meters[&self.set.meters[meter].id];
        st.extras
            .iter()
            .find(|s| s.t == t)
            .map_or(f64::NAN, |s| s.value)
    }
}

/// The reading a physical meter resumes after: the last one before anything changed, so the
/// values up to it stay as they are. `None`: from the start.
fn resume_point(
    set: &MeterSet,
    st: &MeterState,
    grid: &DayGrid,
    p: &Physical,
    changed: Option<Ts>,
) -> Option<Point> {
    let last = st.last?;
    let first = st.first?;
    let changed = changed.map_or(last.t + 1, |c| c.min(last.t + 1));
    if changed > last.t {
        return Some(last); // only new readings: go on from the last one
    }
    let basis = (set.interpolation.extrapolation_basis_days * 86_400.0) as i64;
    if changed <= first.t + basis || p.swaps.iter().any(|s| s.at >= changed && s.at <= last.t) {
        return None; // the start (and its backward extrapolation) moves: recompute all
    }
    let k = grid.first_at_or_after(changed).min(st.lefts.len());
    st.lefts[..k]
        .iter()
        .rev()
        .flatten()
        .find(|l| l.t < changed)
        .copied()
}

/// Resamples a physical meter from `resume` on; returns its state and its first changed day.
#[allow(clippy::too_many_arguments)]
fn physical(
    set: &MeterSet,
    i: usize,
    p: &Physical,
    grid: &DayGrid,
    mut st: MeterState,
    resume: Option<Point>,
    readings: &[Reading],
    flags: &mut Vec<Flag>,
) -> (MeterState, usize) {
    let meter = &set.meters[i];
    let points = continuous(readings, p, &meter.thresholds, resume, flags);
    if resume.is_none() {
        st = MeterState {
            first: points.first().copied(),
            ..Default::default()
        };
    }
    let instants = grid.instants();
    let (lo, hi) = window(set, p, grid, st.first);
    let after = resume.map_or(i64::MIN, |r| r.t);
    let extras = compose::extra_instants(set, i);
    let mut targets: Vec<Ts> = instants[lo..hi]
        .iter()
        .chain(&extras)
        .copied()
        .filter(|&t| t > after)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    let resampler = Resampler {
        pattern: meter.pattern.as_ref(),
        settings: set.interpolation,
        tz: &set.tz,
    };
    let old = &st;
    let basis = |t: Ts| {
        let k = grid.first_at_or_after(t + 1);
        old.register.samples[..k.min(old.register.samples.len())]
            .iter()
            .rev()
            .find(|s| {
                s.value.is_finite() && s.t <= after && s.provenance != Provenance::Extrapolated
            })
            .map(|s| (s.t, s.value))
            .or(old.first.map(|f| (f.t, f.value)))
    };
    let mut out = resampler.run(&targets, &points, resume, basis);
    if let (None, Some(first)) = (resume, st.first) {
        resampler.extrapolate_head(&mut out, first);
    }
    let old_len = st.register.samples.len();
    st.register
        .samples
        .resize_with(grid.len(), || Sample::missing(0));
    st.lefts.resize(grid.len(), None);
    for (k, s) in st.register.samples.iter_mut().enumerate() {
        if s.t != instants[k] {
            *s = Sample::missing(instants[k]);
        }
    }
    // The first day whose values changed. Nothing new read: only the day that now ends at the
    // new last midnight. Else the day that ends at the first recomputed midnight: its end moved.
    let changed = match (resume, points.is_empty()) {
        (Some(_), true) => old_len.saturating_sub(1),
        _ => grid
            .first_at_or_after(after.saturating_add(1))
            .saturating_sub(1),
    };
    for r in &out {
        match instants.binary_search(&r.sample.t) {
            Ok(k) if (lo..hi).contains(&k) => {
                st.register.samples[k] = r.sample;
                st.lefts[k] = r.left;
            }
            _ => {}
        }
    }
    st.extras.retain(|e| e.t <= after);
    st.extras.extend(
        out.iter()
            .filter(|r| extras.contains(&r.sample.t))
            .map(|r| r.sample),
    );
    if let Some(last) = points.last() {
        st.last = Some(*last);
    }
    (st, changed.min(grid.len()))
}

/// Grid indices `lo..hi` a physical meter has values at: from its installation (or the grid
/// instant before its first reading) to its removal.
fn window(set: &MeterSet, p: &Physical, grid: &DayGrid, first: Option<Point>) -> (usize, usize) {
    let instants = grid.instants();
    let lo = match (p.installed, first) {
        (Some(t), _) => grid.first_at_or_after(t),
        (None, Some(f)) => grid.first_at_or_after(f.t + 1).saturating_sub(1),
        (None, None) => instants.len(),
    };
    let lo = set.start.map_or(lo, |s| lo.max(grid.first_at_or_after(s)));
    let hi = p
        .removed
        .map_or(instants.len(), |r| grid.first_at_or_after(r + 1));
    (lo, hi.max(lo))
}
