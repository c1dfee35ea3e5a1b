//! `--house-model-at LAT,LON`: a house behind each simulated substation, run by hemflux-analytics'
//! house physics (the same model the season evaluation uses). The substation's supply temperature
//! follows its active curve (`CurveAdaptation_Y_1..10`, as written through `save`) at the outdoor
//! temperature of the SMHI simulator's weather at that place; the room follows the radiators'
//! heat, the losses, the sun (from the weather's cloud) and the hot-water draws of the dump's tap.

use hemflux_analytics::thermal::curve::HeatCurve;
use hemflux_analytics::thermal::house::{House, HouseInput, HouseParams};
use hemflux_analytics::thermal::season::weather::clear_sky;

use hemflux_shared::config::Location;
use jiff::Timestamp;

use crate::smhi::weather;

/// The physics advance a minute at a time.
const STEP_SECS: f64 = 60.0;
/// After a longer silence the house starts again from its steady state.
const MAX_CATCH_UP_SECS: f64 = 30.0 * 86_400.0;

/// What the substation's sensors read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub room: f64,
    pub outdoor: f64,
    pub outdoor_24h: f64,
    pub supply: f64,
    pub return_temp: f64,
}

pub struct ThermalHouse {
    at: Location,
    house: Option<House>,
    t: f64,
}

/// The tap of the dump's hot-water sensor: open three minutes in every 37.
pub fn tap_open(t: f64) -> bool {
    (t / 60.0).rem_euclid(37.0) < 3.0
}

impl ThermalHouse {
    pub fn new(lat: f64, lon: f64) -> Self {
        ThermalHouse {
            at: Location { lat, lon },
            house: None,
            t: 0.0,
        }
    }

    fn input(&self, t: f64) -> HouseInput {
        let w = weather::at(t as i64, self.at.lat, self.at.lon);
        let time = Timestamp::from_second(t as i64).unwrap_or_default();
        HouseInput {
            outdoor: w.temperature,
            irradiance: clear_sky(self.at, time) * (1.0 - 0.8 * w.cloud / 8.0),
            hot_water_draw: tap_open(t),
        }
    }

    /// The room where this curve holds it without sun or hot water.
    fn steady_room(params: &HouseParams, curve: &HeatCurve, outdoor: f64) -> f64 {
        let supply = curve.supply_at(outdoor);
        (params.radiator * supply + params.free_heat + params.k * outdoor)
            / (params.radiator + params.k)
    }

    /// Advances the house to simulated time `t` (seconds) under `curve` and reads its sensors.
    pub fn advance(&mut self, t: f64, curve: &HeatCurve) -> Reading {
        let params = HouseParams::default();
        if self.house.is_none() || t < self.t || t - self.t > MAX_CATCH_UP_SECS {
            let room = Self::steady_room(&params, curve, self.input(t).outdoor);
            self.house = Some(House { params, room });
            self.t = t;
        }
        let mut house = self.house.expect("set above");
        while self.t + STEP_SECS <= t {
            let input = self.input(self.t);
            house.step(curve, &input, STEP_SECS / 3600.0);
            self.t += STEP_SECS;
        }
        self.house = Some(house);
        let input = self.input(t);
        let supply = House::supply(curve, &input);
        let outdoor_24h = (0..24)
            .map(|h| self.input(t - f64::from(h) * 3600.0).outdoor)
            .sum::<f64>()
            / 24.0;
        Reading {
            room: house.room,
            outdoor: input.outdoor,
            outdoor_24h,
            supply,
            // The radiators give up part of the supply's excess over the room.
            return_temp: house.room + 0.55 * (supply - house.room).max(0.0),
        }
    }
}

/// Gives every house a model at `at` (`[lat, lon]`), if set.
pub(super) fn attach(houses: &mut [super::House], at: Option<&[f64]>) -> anyhow::Result<()> {
    let Some(at) = at else {
        return Ok(());
    };
    let &[lat, lon] = at else {
        anyhow::bail!(
            "--house-model-at: expected LAT,LON, got {} numbers",
            at.len()
        );
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        anyhow::bail!("--house-model-at {lat},{lon}: not a place on Earth");
    }
    for house in houses {
        house.thermal = Some(ThermalHouse::new(lat, lon));
    }
    Ok(())
}

impl super::Sim {
    /// The active curve as the controller holds it: written points once visible, else the
    /// installation's.
    fn active_curve(&self, house: usize) -> HeatCurve {
        let controller = &self.houses[house].controller;
        HeatCurve(std::array::from_fn(|i| {
            self.vars
                .iter()
                .position(|v| v.source == super::model::Source::CurveY(i as u8 + 1))
                .and_then(|index| self.written.get(&(controller.clone(), index)))
                .filter(|w| w.visible_at <= std::time::Instant::now())
                .and_then(|w| w.value.as_f64())
                .unwrap_or(super::model::CURVE[i])
        }))
    }

    /// Advances the house model of `house` (if it has one) to `t` and reads it.
    pub(super) fn advance_house_model(&mut self, house: usize, t: f64) -> Option<Reading> {
        let curve = self.active_curve(house);
        self.houses[house]
            .thermal
            .as_mut()
            .map(|model| model.advance(t, &curve))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(shift: f64) -> HeatCurve {
        HeatCurve(crate::homeside::model::CURVE.map(|v| v + shift))
    }

    #[test]
    fn a_lower_curve_cools_the_room_and_a_restored_one_warms_it_back() {
        let t0 = 1_769_904_000.0; // 2026-02-01
        let mut normal = ThermalHouse::new(56.67, 12.86);
        let mut lowered = ThermalHouse::new(56.67, 12.86);
        let start = normal.advance(t0, &curve(0.0));
        assert_eq!(start, lowered.advance(t0, &curve(0.0)));
        assert!((15.0..28.0).contains(&start.room), "{start:?}");
        let day = 86_400.0;
        let a = normal.advance(t0 + day, &curve(0.0));
        let b = lowered.advance(t0 + day, &curve(-5.0));
        assert!(b.room < a.room - 0.5, "{a:?} {b:?}");
        assert!(b.supply < a.supply - 4.9 && b.return_temp < b.supply && b.return_temp > b.room);
        let a = normal.advance(t0 + 4.0 * day, &curve(0.0));
        let b = lowered.advance(t0 + 4.0 * day, &curve(0.0));
        assert!((a.room - b.room).abs() < 0.3, "{a:?} {b:?}");
    }

    #[test]
    fn the_outdoor_temperature_is_the_smhi_simulators() {
        let t = 1_769_904_000.0;
        let mut house = ThermalHouse::new(59.33, 18.07);
        let reading = house.advance(t, &curve(0.0));
        assert_eq!(
            reading.outdoor,
            weather::at(t as i64, 59.33, 18.07).temperature
        );
    }
}
