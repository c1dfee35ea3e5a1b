//! A house's physics, shared by the season evaluation and the HomeSide simulator: one thermal
//! mass C heated by radiators at the heat curve's supply temperature (heat ∝ supply − room),
//! losing k·(room − outdoor), gaining sun through the windows and free heat from people and
//! appliances; a hot-water draw takes the substation's priority and cuts the radiators' heat.

use serde::{Deserialize, Serialize};

use super::curve::{curve_outdoor, HeatCurve};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HouseParams {
    /// Heat-loss coefficient, kW/K.
    pub k: f64,
    /// Heat capacity, kWh/K (τ = C/k hours).
    pub capacity: f64,
    /// Radiator conductance, kW per K of supply − room.
    pub radiator: f64,
    /// Sun through the windows, kW per kW/m² of global irradiance.
    pub solar_aperture: f64,
    /// People and appliances, kW.
    pub free_heat: f64,
    /// Hot-water power during a draw, kW.
    pub hot_water_power: f64,
    /// Share of the radiators' heat lost while hot water is drawn.
    pub hot_water_priority: f64,
}

impl Default for HouseParams {
    /// The ISO 13790 villa of the spec (§12: H ≈ 0.090 kW/K) with the seed's τ of 80 h.
    fn default() -> Self {
        HouseParams {
            k: 0.09,
            capacity: 0.09 * 80.0,
            radiator: 0.135,
            solar_aperture: 1.5,
            free_heat: 0.3,
            hot_water_power: 25.0,
            hot_water_priority: 0.7,
        }
    }
}

/// The weather and use of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HouseInput {
    pub outdoor: f64,
    /// Global irradiance, W/m².
    pub irradiance: f64,
    pub hot_water_draw: bool,
}

/// Heat delivered in one step, kWh.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HeatDelivered {
    pub space_heating: f64,
    pub hot_water: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct House {
    pub params: HouseParams,
    /// Room temperature, °C.
    pub room: f64,
}

impl House {
    /// The supply temperature the substation runs at under `curve` (its outdoor sensor reads the
    /// true outdoor temperature).
    pub fn supply(curve: &HeatCurve, input: &HouseInput) -> f64 {
        curve.supply_at(input.outdoor)
    }

    /// Advances `hours` (a few minutes at a time) under `curve`.
    pub fn step(&mut self, curve: &HeatCurve, input: &HouseInput, hours: f64) -> HeatDelivered {
        let p = self.params;
        let supply = Self::supply(curve, input);
        let priority = if input.hot_water_draw {
            1.0 - p.hot_water_priority
        } else {
            1.0
        };
        let radiators = p.radiator * (supply - self.room).max(0.0) * priority;
        let sun = p.solar_aperture * input.irradiance / 1000.0;
        let net = radiators + sun + p.free_heat - p.k * (self.room - input.outdoor);
        self.room += net * hours / p.capacity;
        HeatDelivered {
            space_heating: radiators * hours,
            hot_water: if input.hot_water_draw {
                p.hot_water_power * hours
            } else {
                0.0
            },
        }
    }

    /// The curve an installer sets: the supply that holds the room at `room` without sun.
    pub fn installer_curve(params: &HouseParams, room: f64) -> HeatCurve {
        HeatCurve(std::array::from_fn(|i| {
            let loss = params.k * (room - curve_outdoor(i)) - params.free_heat;
            room + loss.max(0.0) / params.radiator
        }))
    }
}
