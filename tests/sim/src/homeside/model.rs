//! The simulated substation: ~212 variables shaped like a real HomeSide dump (mixed value types,
//! colliding short names, an old `ErrorUnreachable`, per-house `Cwl.Advise.A[n]` paths), whose
//! values evolve plausibly with the simulator's clock.

use std::f64::consts::PI;

use jiff::Timestamp;
use serde_json::{json, Value};

/// How a variable gets its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    Outdoor,
    Outdoor24h,
    Room,
    Supply,
    Return,
    HotWater,
    Pressure,
    SupplySetpoint,
    DhSupply,
    DhReturn,
    Setpoint,
    AwaySetpoint,
    CurveX(u8),
    /// The active curve point, which adaptation moves.
    CurveY(u8),
    /// The user's reference curve point, which it does not.
    CurveRef(u8),
    /// `KU_VS1_GT_TILL_1_Adaption`.
    Adaption,
    Flag(bool),
    Int(i64),
    Text(&'static str),
    /// Never read yet (`Pending`, `null`).
    AlwaysPending,
    /// Grey-listed long ago (`ErrorUnreachable`, `null`, old timestamp).
    Unreachable,
}

pub struct VarDef {
    pub short: String,
    pub source: Source,
}

/// The default heat curve (supply temperature at outdoor −30, −25 … +15 °C).
pub const CURVE: [f64; 10] = [58.0, 54.0, 50.0, 46.0, 42.0, 38.0, 34.0, 30.0, 26.0, 23.0];

/// The variable list, the same order (and so `path` index) for every house.
pub fn variables() -> Vec<VarDef> {
    use Source::*;
    let mut v: Vec<VarDef> = Vec::new();
    let mut add = |short: String, source: Source| v.push(VarDef { short, source });
    for (name, source) in [
        ("MEAN_GT_RUM_1_Output", Room),
        ("AI_GT_UTE_Output", Outdoor),
        ("MEDEL_GT_UTE_24h_Average", Outdoor24h),
        ("AI_VS1_GT_TILL_1_Output", Supply),
        ("AI_VS1_GT_RETUR_1_Output", Return),
        ("AI_VV1_TAPP_GT41_Output", HotWater),
        ("AI_GP_EXP1_1_Output", Pressure),
        ("ELM1_AKTIV_Input", Flag(false)),
        ("VMM1_AKTIV_Input", Flag(true)),
        ("FORC_BORTALAGE", Flag(false)),
        ("KU_VS1_GT_TILL_1_SetPoint", Setpoint),
        ("KU_VS1_GT_TILL_1_BORTREST_SetPoint", AwaySetpoint),
        ("KU_VS1_GT_TILL_1_Adaption", Adaption),
        ("VMM1_TempForw", DhSupply),
        ("VMM1_TempRet", DhReturn),
        ("VMM1_Flow", AlwaysPending),
        ("VMM1_Power", Unreachable),
        ("PID_VS1_GT_TILL_1_SetP", SupplySetpoint),
        ("AI_ZON1_GT_RUM_1_Output", Room),
        ("DucAppVersion_Input", Text("2.35")),
        ("Name_Zon_Room_1", Text("Rum 1")),
        ("AlaApp.AlaStnStat", Int(0)),
        ("POOL_AKTIV_Input", Flag(false)),
    ] {
        add(name.to_string(), source);
    }
    for i in 1..=10u8 {
        add(format!("KU_VS1_GT_TILL_1_CurveAdaptation_X_{i}"), CurveX(i));
        add(format!("KU_VS1_GT_TILL_1_CurveAdaptation_Y_{i}"), CurveY(i));
        add(format!("KU_VS1_GT_TILL_1_Yref{i}"), CurveRef(i));
    }
    // Time programs: their short names (`T1`, `FromDate`, `ToTime`) collide across records.
    for r in 1..=14 {
        add(format!("TimeDp.Records({r}).T1"), Int(r * 10));
        add(format!("TimeDp.Records({r}).FromDate"), Int(20260101));
        add(format!("TimeDp.Records({r}).ToTime"), Int(2359));
    }
    for i in 1..=2 {
        add(format!("LARM_{i}_Pending_Input"), AlwaysPending);
    }
    let mut n = 1;
    while v.len() < 212 {
        let source = if n % 3 == 0 { Int(n) } else { Flag(n % 2 == 0) };
        v.push(VarDef {
            short: format!("DI_{n}_Input"),
            source,
        });
        n += 1;
    }
    v
}

/// The plant's state at one instant, before per-variable overrides.
pub struct Plant {
    pub t: f64,
    pub seed: f64,
    pub setpoint: f64,
    /// Adaptation is on and allowed to drift the setpoint and the active curve.
    pub adapting: bool,
    /// With `--house-model-at`: what the house model's sensors read, in place of the waves.
    pub thermal: Option<super::thermal::Reading>,
}

impl Plant {
    fn outdoor_at(&self, t: f64) -> f64 {
        let day = 86_400.0;
        let doy = (t / day).rem_euclid(365.25);
        let seasonal = 7.0 - 10.0 * (2.0 * PI * (doy - 15.0) / 365.25).cos();
        let hour = (t / 3600.0).rem_euclid(24.0);
        let diurnal = 3.0 * (2.0 * PI * (hour - 9.0) / 24.0).sin();
        let synoptic = 3.0 * (2.0 * PI * t / (5.0 * day) + self.seed).sin();
        seasonal + diurnal + synoptic
    }

    fn curve(outdoor: f64) -> f64 {
        let x = ((outdoor + 30.0) / 5.0).clamp(0.0, 9.0);
        let i = (x.floor() as usize).min(8);
        CURVE[i] + (CURVE[i + 1] - CURVE[i]) * (x - i as f64)
    }

    /// The value of a variable at this instant.
    pub fn value(&self, source: Source) -> Value {
        use Source::*;
        let t = self.t;
        let wave = |period_s: f64| (2.0 * PI * t / period_s + self.seed).sin();
        if let Some(r) = self.thermal {
            let x = match source {
                Room => Some(r.room),
                Outdoor => Some(r.outdoor),
                Outdoor24h => Some(r.outdoor_24h),
                Supply | SupplySetpoint => Some(r.supply),
                Return => Some(r.return_temp),
                _ => None,
            };
            if let Some(x) = x {
                return json!((x * 1e8).round() / 1e8);
            }
        }
        let outdoor = self.outdoor_at(t);
        let supply = Self::curve(outdoor) + 0.6 * wave(1800.0);
        let x = match source {
            Outdoor => outdoor,
            Outdoor24h => {
                (0..24)
                    .map(|h| self.outdoor_at(t - h as f64 * 3600.0))
                    .sum::<f64>()
                    / 24.0
            }
            Room => self.setpoint - 0.3 + 0.4 * wave(6.0 * 3600.0),
            Supply => supply,
            Return => supply - 4.0 - 0.15 * (20.0 - outdoor).max(0.0),
            HotWater => {
                // A tap opens for three minutes in every 37: the temperature spikes.
                let minute = (t / 60.0).rem_euclid(37.0);
                if minute < 3.0 {
                    56.0 + minute
                } else {
                    50.0 + 0.8 * wave(900.0)
                }
            }
            Pressure => 1.5 + 0.03 * wave(7200.0),
            SupplySetpoint => Self::curve(outdoor),
            DhSupply => 78.0 + 2.0 * wave(3600.0),
            DhReturn => 32.0 + 3.0 * wave(2400.0),
            Setpoint if self.adapting => self.setpoint + 0.3 * wave(6.0 * 3600.0),
            Setpoint => self.setpoint,
            Adaption => return json!(true),
            AwaySetpoint => 16.0,
            CurveX(i) => return json!(-30 + 5 * (i as i64 - 1)),
            CurveY(i) if self.adapting => {
                CURVE[i as usize - 1] + 0.8 * wave(12.0 * 3600.0 + i as f64)
            }
            CurveY(i) | CurveRef(i) => CURVE[i as usize - 1],
            Flag(b) => return json!(b),
            Int(n) => return json!(n),
            Text(s) => return json!(s),
            AlwaysPending | Unreachable => return Value::Null,
        };
        json!((x * 1e8).round() / 1e8)
    }
}

/// `2026-02-13T13:30:06.2704905Z`: UTC with 7 fractional digits (.NET ticks), as HomeSide sends.
pub fn dotnet_time(ts: Timestamp) -> String {
    let secs = ts.as_second();
    let whole = Timestamp::from_second(secs).expect("in range");
    let ticks = ts.subsec_nanosecond() / 100;
    format!("{}.{ticks:07}Z", whole.strftime("%Y-%m-%dT%H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dump_shape_is_kept() {
        let vars = variables();
        assert_eq!(vars.len(), 212);
        let t1 = vars.iter().filter(|v| v.short.ends_with(".T1")).count();
        assert!(t1 > 1, "short names must collide");
        let plant = Plant {
            t: 1_770_000_000.0,
            seed: 0.3,
            setpoint: 21.5,
            adapting: false,
            thermal: None,
        };
        let supply = plant.value(Source::Supply).as_f64().unwrap();
        let ret = plant.value(Source::Return).as_f64().unwrap();
        assert!(
            (20.0..60.0).contains(&supply) && ret < supply,
            "{supply} {ret}"
        );
        let later = Plant {
            t: plant.t + 2.5 * 3600.0,
            ..plant
        };
        for source in [
            Source::Outdoor,
            Source::Room,
            Source::Supply,
            Source::Return,
        ] {
            assert_ne!(
                plant.value(source),
                later.value(source),
                "{source:?} evolves"
            );
        }
        let adapting = Plant {
            adapting: true,
            ..plant
        };
        for source in [Source::CurveY(3), Source::Setpoint] {
            assert_ne!(
                plant.value(source),
                adapting.value(source),
                "{source:?} drifts"
            );
        }
        assert_eq!(
            plant.value(Source::CurveRef(3)),
            adapting.value(Source::CurveRef(3))
        );
        assert_eq!(
            dotnet_time("2026-02-13T13:30:06.2704905Z".parse().unwrap()),
            "2026-02-13T13:30:06.2704905Z"
        );
    }
}
