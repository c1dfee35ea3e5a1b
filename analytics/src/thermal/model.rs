//! hemflux's thermal model of a house: one thermal mass (an RC model) fitted by least squares to
//! hourly means of the polls, so that the 0.1 °C resolution of the room sensor averages out
//! instead of becoming the signal (the seed's coefficient is quantisation noise, §3):
//!
//! `T[n+1] − T[n] = a·(O − T[n]) + b·(S − T[n]) + c`
//!
//! T room, O the felt (effective) outdoor temperature, S the supply temperature (both averaged
//! over the step), c the free heat (people, appliances) per hour. Without heat input (no supply
//! data) it is Newton cooling, `a·(O − T)` alone. `a = 1 − e^(−1/τ)`, so τ (hours) is the time
//! constant with the heating off; with the heat-loss coefficient k from the energy analytics,
//! the heat capacity is k·τ and the radiators' conductance b/a·k.

use serde::{Deserialize, Serialize};

use super::history::ThermalSample;

/// Hour pairs a fit needs: one day.
pub const MIN_FIT_HOURS: usize = 24;
/// A fitted τ outside this range is no house.
const TAU_RANGE_HOURS: (f64, f64) = (2.0, 2000.0);

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThermalModel {
    /// Time constant with the heating off, hours.
    pub tau_hours: f64,
    /// Fraction of (supply − room) that reaches the room per hour; 0 without supply data.
    pub heat_rate: f64,
    /// Free heat, °C per hour.
    pub free_heat: f64,
    /// Quality of the fit of the hourly room change: R², RMSE (°C/h) and hour pairs used.
    pub r_squared: f64,
    pub rmse: f64,
    pub hours_used: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("{found} usable hour pairs of history, the thermal model needs {MIN_FIT_HOURS}")]
    TooFewHours { found: usize },
    #[error("the room temperature never changed: the history says nothing about τ")]
    NoVariation,
    #[error(
        "the fit gives no physical house (τ = {tau_hours:.1} h); more varied history is needed"
    )]
    NotPhysical { tau_hours: f64 },
}

/// Mean of one clock hour of polls.
#[derive(Debug, Clone, Copy, PartialEq)]
struct HourMean {
    hour: i64,
    room: f64,
    outdoor: f64,
    supply: Option<f64>,
}

/// Sums of one clock hour of polls.
#[derive(Default)]
struct HourSums {
    room: f64,
    outdoor: f64,
    supply: f64,
    polls: usize,
    polls_with_supply: usize,
    heater_on: bool,
}

impl HourSums {
    /// The hour's means; `None` when the electric heater was on (heat the model cannot see).
    fn mean(&self, hour: i64) -> Option<HourMean> {
        let n = self.polls as f64;
        (self.polls > 0 && !self.heater_on).then(|| HourMean {
            hour,
            room: self.room / n,
            outdoor: self.outdoor / n,
            supply: (self.polls_with_supply == self.polls).then(|| self.supply / n),
        })
    }
}

fn hourly_means(samples: &[ThermalSample]) -> Vec<HourMean> {
    let mut hours = Vec::new();
    let mut current: Option<(i64, HourSums)> = None;
    for s in samples {
        let hour = s.time.as_second().div_euclid(3600);
        if current.as_ref().map(|c| c.0) != Some(hour) {
            if let Some((h, sums)) = current.take() {
                hours.extend(sums.mean(h));
            }
            current = Some((hour, HourSums::default()));
        }
        let sums = &mut current.as_mut().expect("just set").1;
        sums.room += s.room;
        sums.outdoor += s.felt_outdoor();
        if let Some(supply) = s.supply {
            sums.supply += supply;
            sums.polls_with_supply += 1;
        }
        sums.polls += 1;
        sums.heater_on |= s.electric_heater;
    }
    if let Some((h, sums)) = current {
        hours.extend(sums.mean(h));
    }
    hours
}

/// Fits the model to a house's history (time-ordered polls).
pub fn fit_thermal_model(samples: &[ThermalSample]) -> Result<ThermalModel, FitError> {
    let hours = hourly_means(samples);
    let with_supply = hours.iter().any(|h| h.supply.is_some());
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for pair in hours.windows(2) {
        let (h0, h1) = (pair[0], pair[1]);
        if h1.hour != h0.hour + 1 {
            continue;
        }
        let outdoor = (h0.outdoor + h1.outdoor) / 2.0 - h0.room;
        if with_supply {
            let (Some(s0), Some(s1)) = (h0.supply, h1.supply) else {
                continue;
            };
            rows.push(vec![outdoor, (s0 + s1) / 2.0 - h0.room, 1.0]);
        } else {
            rows.push(vec![outdoor]);
        }
        ys.push(h1.room - h0.room);
    }
    if rows.len() < MIN_FIT_HOURS {
        return Err(FitError::TooFewHours { found: rows.len() });
    }
    let mean_y = ys.iter().sum::<f64>() / ys.len() as f64;
    let total_ss: f64 = ys.iter().map(|y| (y - mean_y).powi(2)).sum();
    if total_ss < 1e-9 {
        return Err(FitError::NoVariation);
    }
    let coef = least_squares(&rows, &ys).ok_or(FitError::NoVariation)?;
    let a = coef[0];
    if !(a > 0.0 && a < 1.0) {
        return Err(FitError::NotPhysical {
            tau_hours: if a > 0.0 { 0.0 } else { f64::INFINITY },
        });
    }
    let tau_hours = -1.0 / (1.0 - a).ln();
    if !(TAU_RANGE_HOURS.0..=TAU_RANGE_HOURS.1).contains(&tau_hours) {
        return Err(FitError::NotPhysical { tau_hours });
    }
    let residual_ss: f64 = rows
        .iter()
        .zip(&ys)
        .map(|(row, y)| (y - dot(row, &coef)).powi(2))
        .sum();
    Ok(ThermalModel {
        tau_hours,
        heat_rate: if with_supply { coef[1].max(0.0) } else { 0.0 },
        free_heat: if with_supply { coef[2] } else { 0.0 },
        r_squared: 1.0 - residual_ss / total_ss,
        rmse: (residual_ss / ys.len() as f64).sqrt(),
        hours_used: ys.len(),
    })
}

impl ThermalModel {
    /// The room `hours` on from `room`, with the felt outdoor and supply temperatures averaged
    /// over that time (no supply: no heat input). Long steps are taken an hour at a time.
    pub fn step(&self, room: f64, felt_outdoor: f64, supply: Option<f64>, hours: f64) -> f64 {
        let substeps = hours.ceil().max(1.0);
        let h = hours / substeps;
        let a = 1.0 - (-h / self.tau_hours).exp();
        let mut room = room;
        for _ in 0..substeps as usize {
            let heat = supply.map_or(0.0, |s| h * (self.heat_rate * (s - room) + self.free_heat));
            room += a * (felt_outdoor - room) + heat;
        }
        room
    }

    /// Newton cooling with the heating off: `O + (T − O)·e^(−h/τ)`.
    pub fn cool_down(&self, room: f64, outdoor: f64, hours: f64) -> f64 {
        outdoor + (room - outdoor) * (-hours / self.tau_hours).exp()
    }

    /// Heat capacity (kWh/K) given the heat-loss coefficient k (kW/K): C = k·τ.
    pub fn capacity_kwh_per_k(&self, k: f64) -> f64 {
        k * self.tau_hours
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Ordinary least squares through the normal equations (at most three unknowns here), solved by
/// Gaussian elimination with partial pivoting; `None` when they are singular.
fn least_squares(rows: &[Vec<f64>], ys: &[f64]) -> Option<Vec<f64>> {
    let n = rows[0].len();
    let mut m = vec![vec![0.0; n + 1]; n];
    for (row, y) in rows.iter().zip(ys) {
        for i in 0..n {
            for j in 0..n {
                m[i][j] += row[i] * row[j];
            }
            m[i][n] += row[i] * y;
        }
    }
    let scale = m
        .iter()
        .map(|r| r[..n].iter().fold(0.0f64, |a, v| a.max(v.abs())))
        .fold(0.0, f64::max);
    for col in 0..n {
        let pivot = (col..n).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() <= scale * 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (v, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    Some((0..n).map(|i| m[i][n] / m[i][i]).collect())
}
