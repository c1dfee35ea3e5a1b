//! Units of meter registers and the factors between them.

/// kWh per m³ of natural gas when the definitions do not say: the seed's `config.yaml`
/// (`energy_content` 11.504 kWh/m³ × `z_factor` 0.8885).
pub const SEED_GAS_KWH_PER_M3: f64 = 11.504 * 0.8885;

/// The family a unit belongs to and its size in the family's base unit (kWh or m³).
fn base(unit: &str) -> Option<(Family, f64)> {
    Some(match unit {
        "Wh" => (Family::Energy, 0.001),
        "kWh" => (Family::Energy, 1.0),
        "MWh" => (Family::Energy, 1000.0),
        "GJ" => (Family::Energy, 1000.0 / 3.6),
        "m³" | "m3" => (Family::Volume, 1.0),
        "l" | "L" => (Family::Volume, 0.001),
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Energy,
    Volume,
}

/// True for units hemflux knows how to convert.
pub fn is_known(unit: &str) -> bool {
    base(unit).is_some()
}

/// True when both units measure the same thing (energy, or volume), so converting between them
/// needs no declared factor.
pub fn same_family(a: &str, b: &str) -> bool {
    matches!((base(a), base(b)), (Some((x, _)), Some((y, _))) if x == y)
}

/// The factor that turns a value in `from` into `to`: within a family by size, between volume
/// and energy through the gas factor (kWh per m³). `None` when there is no way.
pub fn factor(from: &str, to: &str, gas_kwh_per_m3: f64) -> Option<f64> {
    if from == to {
        return Some(1.0);
    }
    let (ff, fs) = base(from)?;
    let (tf, ts) = base(to)?;
    let bridge = match (ff, tf) {
        (Family::Volume, Family::Energy) => gas_kwh_per_m3,
        (Family::Energy, Family::Volume) => 1.0 / gas_kwh_per_m3,
        _ => 1.0,
    };
    Some(fs * bridge / ts)
}

/// The largest plausible rate in `unit` per hour when a definition sets none: emoncms drops
/// increments implying more than 60 kW, which fits a house connection. Volumes have no default.
pub fn default_max_rate_per_h(unit: &str) -> Option<f64> {
    match base(unit)? {
        (Family::Energy, size) => Some(60.0 / size),
        (Family::Volume, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors() {
        let gas = SEED_GAS_KWH_PER_M3;
        assert_eq!(factor("kWh", "kWh", gas), Some(1.0));
        assert_eq!(factor("MWh", "kWh", gas), Some(1000.0));
        assert!((factor("kWh", "m³", gas).unwrap() * 102.21304 - 10.0).abs() < 1e-9);
        assert!((factor("m3", "kWh", gas).unwrap() - 10.221304).abs() < 1e-9);
        assert_eq!(factor("kWh", "°C", gas), None);
        assert_eq!(default_max_rate_per_h("MWh"), Some(0.06));
    }
}
