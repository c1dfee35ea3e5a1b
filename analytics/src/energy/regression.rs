//! k by regression: CalTRACK 2.0's daily method (docs.caltrack.org, methods §3) on complete local
//! days. Daily energy is regressed on heating degree-days `HDD(bp) = max(0, bp − T̄)` for every
//! balance point `bp` of a grid, by ordinary least squares; the candidate with the best adjusted R²
//! among those that pass the data sufficiency rules wins over the intercept-only model. The slope
//! (kWh per K·day) is k·24 and the intercept is hot water plus base load. There is no cap on k.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// One day of the fit: its energy normalised to 24 hours (a 25-hour day counts 24/25 of its
/// energy, so that DST days neither inflate nor deflate the intercept) and its mean T_eff.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitDay {
    pub date: Date,
    pub kwh_per_day: f64,
    pub mean_temp_c: f64,
}

/// The balance-point grid, the sufficiency rules and the plausibility band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FitSettings {
    /// Balance points searched, °C: CalTRACK's 30–90 °F in 1 °F steps by default.
    pub balance_point_min_c: f64,
    pub balance_point_max_c: f64,
    pub balance_point_step_c: f64,
    /// A candidate needs at least this many days with HDD > 0 (CalTRACK: 10)...
    pub min_heating_days: usize,
    /// ...and this many degree-days in all, °C·days (CalTRACK: 20 °F·days).
    pub min_total_hdd_c: f64,
    /// A fit is used only with an adjusted R² of at least this...
    pub min_r2_adj: f64,
    /// ...a CV(RMSE) of at most this...
    pub max_cvrmse: f64,
    /// ...and a k inside this band, kW/K (a villa is 0.05–0.15, an office 2–30).
    pub k_min_kw_per_k: f64,
    pub k_max_kw_per_k: f64,
}

pub const fn fahrenheit_to_celsius(f: f64) -> f64 {
    (f - 32.0) / 1.8
}

impl Default for FitSettings {
    fn default() -> Self {
        FitSettings {
            balance_point_min_c: fahrenheit_to_celsius(30.0),
            balance_point_max_c: fahrenheit_to_celsius(90.0),
            balance_point_step_c: 1.0 / 1.8,
            min_heating_days: 10,
            min_total_hdd_c: 20.0 / 1.8,
            min_r2_adj: 0.5,
            max_cvrmse: 0.5,
            k_min_kw_per_k: 0.01,
            k_max_kw_per_k: 500.0,
        }
    }
}

impl FitSettings {
    fn balance_points(&self) -> impl Iterator<Item = f64> + '_ {
        let n = ((self.balance_point_max_c - self.balance_point_min_c) / self.balance_point_step_c
            + 1e-9)
            .floor() as usize;
        (0..=n).map(|i| self.balance_point_min_c + i as f64 * self.balance_point_step_c)
    }
}

/// The winning heating model and its quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyFit {
    pub balance_point_c: f64,
    /// Hot water plus base load, kWh per 24 h.
    pub intercept_kwh_per_day: f64,
    /// kWh per K·day (= k·24).
    pub slope_kwh_per_k_day: f64,
    /// The heat-loss coefficient, kW/K.
    pub k_kw_per_k: f64,
    /// Standard error of k, kW/K, and the 95 % interval it gives.
    pub k_stderr: f64,
    pub k_low: f64,
    pub k_high: f64,
    pub r2_adj: f64,
    pub cvrmse: f64,
    pub days_used: usize,
    pub heating_days: usize,
    pub total_hdd_c: f64,
    /// Why the fit must not be used (poor quality or implausible k); `None` when it may be.
    pub rejected: Option<String>,
}

impl DailyFit {
    pub fn usable(&self) -> bool {
        self.rejected.is_none()
    }

    /// Heating degree-days of a day with mean T_eff `mean_temp_c` at this balance point.
    pub fn hdd(&self, mean_temp_c: f64) -> f64 {
        (self.balance_point_c - mean_temp_c).max(0.0)
    }

    /// Predicted energy of a 24-hour day with mean T_eff `mean_temp_c`, kWh.
    pub fn predict_kwh_per_day(&self, mean_temp_c: f64) -> f64 {
        self.intercept_kwh_per_day + self.slope_kwh_per_k_day * self.hdd(mean_temp_c)
    }
}

/// Why no heating model came out of the data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoFit {
    #[error("too few usable days: {have} (at least {need} with heating degree-days are needed)")]
    TooFewDays { have: usize, need: usize },
    #[error(
        "no balance point gives {need} heating days and {min_hdd:.1} °C·days with a positive slope"
    )]
    InsufficientHeating { need: usize, min_hdd: f64 },
    #[error("energy does not depend on temperature (the intercept-only model fits best)")]
    InterceptOnly,
    #[error("every day has the same temperature: k cannot be told from the base load")]
    NoTemperatureSpread,
}

/// Ordinary least squares of `y` on one regressor `x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ols {
    pub intercept: f64,
    pub slope: f64,
    pub n: usize,
    /// Sum of squared residuals, total sum of squares, and Σ(x − x̄)².
    pub ssr: f64,
    pub sst: f64,
    pub sxx: f64,
    pub mean_y: f64,
}

impl Ols {
    /// `None` with fewer than 3 points or no spread in `x`.
    pub fn fit(points: impl Iterator<Item = (f64, f64)> + Clone) -> Option<Ols> {
        let (mut n, mut sx, mut sy) = (0usize, 0.0, 0.0);
        for (x, y) in points.clone() {
            n += 1;
            sx += x;
            sy += y;
        }
        if n < 3 {
            return None;
        }
        let (mx, my) = (sx / n as f64, sy / n as f64);
        let (mut sxx, mut sxy, mut sst) = (0.0, 0.0, 0.0);
        for (x, y) in points.clone() {
            sxx += (x - mx) * (x - mx);
            sxy += (x - mx) * (y - my);
            sst += (y - my) * (y - my);
        }
        if sxx <= f64::EPSILON * n as f64 {
            return None;
        }
        let slope = sxy / sxx;
        let intercept = my - slope * mx;
        let ssr = points
            .map(|(x, y)| (y - intercept - slope * x).powi(2))
            .sum();
        Some(Ols {
            intercept,
            slope,
            n,
            ssr,
            sst,
            sxx,
            mean_y: my,
        })
    }

    /// Adjusted R² with one regressor (statsmodels' convention).
    pub fn r2_adj(&self) -> f64 {
        if self.sst <= 0.0 {
            return 0.0;
        }
        let n = self.n as f64;
        1.0 - (self.ssr / self.sst) * (n - 1.0) / (n - 2.0)
    }

    /// CV(RMSE) with the degrees of freedom of two parameters (ASHRAE Guideline 14).
    pub fn cvrmse(&self) -> f64 {
        (self.ssr / (self.n as f64 - 2.0)).sqrt() / self.mean_y
    }

    pub fn slope_stderr(&self) -> f64 {
        (self.ssr / (self.n as f64 - 2.0) / self.sxx).sqrt()
    }
}

/// Fits the daily model on `days` (complete days only; the caller picks the window).
pub fn fit_daily(days: &[FitDay], s: &FitSettings) -> Result<DailyFit, NoFit> {
    if days.len() < s.min_heating_days.max(3) {
        return Err(NoFit::TooFewDays {
            have: days.len(),
            need: s.min_heating_days.max(3),
        });
    }
    let (lo, hi) = days
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), d| {
            (lo.min(d.mean_temp_c), hi.max(d.mean_temp_c))
        });
    if hi - lo < 1e-6 {
        return Err(NoFit::NoTemperatureSpread);
    }
    let mut best: Option<(f64, Ols, usize, f64)> = None;
    let mut any_sufficient = false;
    for bp in s.balance_points() {
        let hdd = |d: &FitDay| (bp - d.mean_temp_c).max(0.0);
        let heating_days = days.iter().filter(|d| hdd(d) > 0.0).count();
        let total_hdd: f64 = days.iter().map(hdd).sum();
        if heating_days < s.min_heating_days || total_hdd < s.min_total_hdd_c {
            continue;
        }
        any_sufficient = true;
        let Some(ols) = Ols::fit(days.iter().map(|d| (hdd(d), d.kwh_per_day))) else {
            continue;
        };
        // CalTRACK keeps only a positive slope and a non-negative intercept.
        if ols.slope <= 0.0 || ols.intercept < 0.0 {
            continue;
        }
        // Balance points above every day's temperature fit equally well (up to rounding): the
        // lowest of them wins, so that a tie is not decided by rounding noise.
        if best
            .as_ref()
            .is_none_or(|b| ols.r2_adj() > b.1.r2_adj() + 1e-9)
        {
            best = Some((bp, ols, heating_days, total_hdd));
        }
    }
    let Some((bp, ols, heating_days, total_hdd)) = best else {
        return Err(if any_sufficient {
            NoFit::InterceptOnly
        } else {
            NoFit::InsufficientHeating {
                need: s.min_heating_days,
                min_hdd: s.min_total_hdd_c,
            }
        });
    };
    // The intercept-only model has an adjusted R² of 0: a heating model must beat it.
    if ols.r2_adj() <= 0.0 {
        return Err(NoFit::InterceptOnly);
    }
    let k = ols.slope / 24.0;
    let k_stderr = ols.slope_stderr() / 24.0;
    let mut fit = DailyFit {
        balance_point_c: bp,
        intercept_kwh_per_day: ols.intercept,
        slope_kwh_per_k_day: ols.slope,
        k_kw_per_k: k,
        k_stderr,
        k_low: k - 1.96 * k_stderr,
        k_high: k + 1.96 * k_stderr,
        r2_adj: ols.r2_adj(),
        cvrmse: ols.cvrmse(),
        days_used: ols.n,
        heating_days,
        total_hdd_c: total_hdd,
        rejected: None,
    };
    fit.rejected = quality_problem(&fit, s);
    Ok(fit)
}

fn quality_problem(fit: &DailyFit, s: &FitSettings) -> Option<String> {
    if fit.r2_adj < s.min_r2_adj {
        return Some(format!(
            "adjusted R² {:.3} is below {}",
            fit.r2_adj, s.min_r2_adj
        ));
    }
    if fit.cvrmse > s.max_cvrmse {
        return Some(format!(
            "CV(RMSE) {:.3} is above {}",
            fit.cvrmse, s.max_cvrmse
        ));
    }
    if !(s.k_min_kw_per_k..=s.k_max_kw_per_k).contains(&fit.k_kw_per_k) {
        return Some(format!(
            "k {:.4} kW/K is outside the plausible {}–{} kW/K",
            fit.k_kw_per_k, s.k_min_kw_per_k, s.k_max_kw_per_k
        ));
    }
    None
}

#[cfg(test)]
mod tests;
