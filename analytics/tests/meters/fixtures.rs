//! §3.2's five fixtures, expected values exact. Days are UTC days (the sets set no zone).

use hemflux_analytics::meters::{FlagKind, Provenance};

use crate::common::*;

fn data(entries: &[(&str, &[(&str, f64)])]) -> Data {
    entries
        .iter()
        .map(|(id, r)| (id.to_string(), readings(r)))
        .collect()
}

#[test]
fn one_linear_interpolation_of_irregular_reads() {
    let set = set("meters:\n  - meter_id: a\n    type: physical\n    output_unit: kWh\n    installation_date: 2024-01-01\n");
    let d = data(&[(
        "a",
        &[
            ("2024-01-01", 100.0),
            ("2024-01-05T12:00", 109.0),
            ("2024-01-08", 119.0),
        ],
    )]);
    let (state, out) = full(&set, &d, ts("2024-01-08"));
    let grid: Vec<f64> = state.meters["a"]
        .register
        .samples
        .iter()
        .map(|s| s.value)
        .collect();
    assert_eq!(
        grid,
        [100.0, 102.0, 104.0, 106.0, 108.0, 111.0, 115.0, 119.0]
    );
    let days: Vec<f64> = meter(&out, "a")
        .days
        .iter()
        .map(|d| d.consumption)
        .collect();
    assert_eq!(days, [2.0, 2.0, 2.0, 2.0, 3.0, 4.0, 4.0]);
    assert_eq!(days.iter().sum::<f64>(), 19.0);
    let prov: Vec<Provenance> = state.meters["a"]
        .register
        .samples
        .iter()
        .map(|s| s.provenance)
        .collect();
    assert_eq!(
        (prov[0], prov[3], prov[7]),
        (
            Provenance::Measured,
            Provenance::Linear,
            Provenance::Measured
        )
    );
}

const GAS: &str = "meters:\n  - meter_id: g\n    type: physical\n    output_unit: m³\n    installation_date: 2023-01-01\n    seasonal: [PATTERN]\n";

fn gas_fill(pattern: &str) -> hemflux_analytics::meters::State {
    let set = set(&GAS.replace("PATTERN", pattern));
    let d = data(&[("g", &[("2023-01-01", 1000.0), ("2023-03-01", 1271.0)])]);
    full(&set, &d, ts("2023-03-01")).0
}

#[test]
fn two_seasonal_gap_fill() {
    let rest = (100.0 - 15.1 - 12.0) / 10.0;
    let pattern = format!("15.1, 12.0{}", format!(", {rest}").repeat(10));
    let state = gas_fill(&pattern);
    assert_close(register(&state, "g", "2023-02-01"), 1151.0);
    assert_close(
        register(&state, "g", "2023-01-16"),
        1000.0 + 151.0 * 15.0 / 31.0,
    );
    assert_eq!(
        state.meters["g"].register.samples[15].provenance,
        Provenance::Seasonal
    );
    // A flat pattern (the same use every day: shares in proportion to month lengths) is linear.
    let flat = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        .map(|d| (d as f64 * 100.0 / 365.0).to_string())
        .join(", ");
    let state = gas_fill(&flat);
    assert_close(
        register(&state, "g", "2023-02-01"),
        1000.0 + 271.0 * 31.0 / 59.0,
    );
    assert!((register(&state, "g", "2023-02-01") - 1142.39).abs() < 0.005);
}

#[test]
fn two_short_gaps_stay_linear_with_a_pattern() {
    let set = set(&GAS.replace("PATTERN", "30, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 20"));
    let d = data(&[("g", &[("2023-01-29", 0.0), ("2023-02-03", 50.0)])]);
    let (state, _) = full(&set, &d, ts("2023-02-03"));
    assert_close(register(&state, "g", "2023-02-01"), 30.0);
    assert_eq!(
        state.meters["g"].register.samples[31].provenance,
        Provenance::Linear
    );
}

#[test]
fn three_replacement_keeps_the_swap_day() {
    // As an event on one meter id.
    let one = set("meters:\n  - meter_id: w\n    type: physical\n    output_unit: m³\n    installation_date: 2024-11-01\n    replacements:\n      - {at: 2024-11-16, old_final: 5075, new_start: 0}\n");
    let d = data(&[("w", &[("2024-11-01", 5000.0), ("2024-12-01", 60.0)])]);
    // As the seed writes it: a master over two physical meters.
    let two = set("meters:
  - meter_id: total
    type: master
    output_unit: m³
    periods:
      - {start_date: 2024-11-01, end_date: 2024-11-15, composition_type: single, source_meters: [old], source_unit: m³}
      - {start_date: 2024-11-16, end_date: 9999-12-31, composition_type: single, source_meters: [new], source_unit: m³, apply_offset_from_previous_period: true}
  - {meter_id: old, type: physical, output_unit: m³, installation_date: 2024-11-01, deinstallation_date: 2024-11-15}
  - {meter_id: new, type: physical, output_unit: m³, installation_date: 2024-11-16}
");
    let d2 = data(&[
        ("old", &[("2024-11-01", 5000.0), ("2024-11-16", 5075.0)]),
        ("new", &[("2024-11-16", 0.0), ("2024-12-01", 60.0)]),
    ]);
    for (set, d, id) in [(one, d, "w"), (two, d2, "total")] {
        let (state, out) = full(&set, &d, ts("2024-12-01"));
        assert_close(register(&state, id, "2024-11-16"), 5075.0);
        assert_close(register(&state, id, "2024-12-01"), 5135.0);
        let m = meter(&out, id);
        assert_close(usage(&m.months, "2024-11").consumption, 135.0);
        assert_close(usage(&m.days, "2024-11-15").consumption, 5.0);
        assert_close(usage(&m.days, "2024-11-16").consumption, 4.0);
        assert!(m.flags.is_empty(), "{:?}", m.flags);
    }
}

const STROM: &str = "meters:
  - meter_id: strom_total
    type: master
    output_unit: kWh
    periods:
      - {start_date: 2024-01-01, end_date: 9999-12-31, composition_type: sum, source_meters: [ht, nt], source_unit: kWh}
  - meter_id: strom_allgemein
    type: virtual
    output_unit: kWh
    calculation_type: subtraction
    base_meter: strom_total
    subtract_meters: [eg, og1, og2]
  - meter_id: gas_total
    type: master
    output_unit: m³
    periods:
      - {start_date: 2024-01-01, end_date: 9999-12-31, composition_type: single, source_meters: [gas], source_unit: m³}
  - meter_id: eg_kalfire
    type: virtual
    output_unit: m³
    calculation_type: subtraction
    base_meter: gas_total
    subtract_meters: [gastherme]
    subtract_meter_conversions:
      gastherme: {from_unit: kWh, to_unit: m³}
";

#[test]
fn four_master_and_virtual_with_unit_conversion() {
    let mut yaml = STROM.to_string();
    for (id, unit) in [
        ("ht", "kWh"),
        ("nt", "kWh"),
        ("eg", "kWh"),
        ("og1", "kWh"),
        ("og2", "kWh"),
        ("gas", "m³"),
        ("gastherme", "kWh"),
    ] {
        yaml += &format!("  - {{meter_id: {id}, type: physical, output_unit: {unit}, installation_date: 2024-01-01}}\n");
    }
    let set = set(&yaml);
    let days = ["2024-01-01", "2024-01-02", "2024-01-03"];
    let series = |v: [f64; 3]| days.iter().zip(v).map(|(d, v)| (*d, v)).collect::<Vec<_>>();
    let d = data(&[
        ("ht", &series([1000.0, 1006.0, 1013.0])),
        ("nt", &series([500.0, 502.0, 503.0])),
        ("eg", &series([0.0, 2.0, 4.0])),
        ("og1", &series([0.0, 3.0, 5.0])),
        ("og2", &series([0.0, 1.5, 6.5])),
        ("gas", &[("2024-01-01", 100.0), ("2024-01-02", 112.5)]),
        (
            "gastherme",
            &[("2024-01-01", 0.0), ("2024-01-02", 102.21304)],
        ),
    ]);
    let (state, out) = full(&set, &d, ts("2024-01-03"));
    for (day, v) in days.iter().zip([1500.0, 1508.0, 1516.0]) {
        assert_close(register(&state, "strom_total", day), v);
    }
    let allgemein = meter(&out, "strom_allgemein");
    assert_close(usage(&allgemein.days, "2024-01-01").consumption, 1.5);
    assert_close(usage(&allgemein.days, "2024-01-02").consumption, -1.0);
    let flags: Vec<_> = allgemein
        .flags
        .iter()
        .map(|f| (f.date.as_str(), f.kind))
        .collect();
    assert_eq!(flags, [("2024-01-02", FlagKind::NegativeResidual)]);
    assert_close(
        usage(&meter(&out, "eg_kalfire").days, "2024-01-01").consumption,
        2.5,
    );
}

/// The seed's two rules, to set beside hemflux's on the same days (§2.7).
fn seed_rule(values: &[f64]) -> Vec<usize> {
    (0..values.len())
        .filter(|&i| {
            let window = &values[i.saturating_sub(6)..=i];
            values[i] > 2.0 * window.iter().sum::<f64>() / window.len() as f64
        })
        .collect()
}

fn dagster_rule(v: &[f64]) -> Vec<(usize, f64, usize)> {
    let nz: Vec<f64> = v.iter().copied().filter(|x| *x != 0.0).collect();
    let mean = nz.iter().sum::<f64>() / nz.len() as f64;
    let sd = (nz.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nz.len() - 1) as f64).sqrt();
    let mut sorted = nz.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (sorted.len() - 1) as f64;
        sorted[pos.floor() as usize]
            + (sorted[pos.ceil() as usize] - sorted[pos.floor() as usize]) * pos.fract()
    };
    let (q1, q3) = (q(0.25), q(0.75));
    (0..v.len())
        .filter_map(|i| {
            let w = &v[i.saturating_sub(15)..(i + 15).min(v.len())];
            let m = w.iter().sum::<f64>() / w.len() as f64;
            let s = (w.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (w.len() - 1) as f64).sqrt();
            let z = (v[i] - mean) / sd;
            let count = usize::from(z.abs() > 3.0)
                + usize::from(v[i] < q1 - 1.5 * (q3 - q1) || v[i] > q3 + 1.5 * (q3 - q1))
                + usize::from(((v[i] - m) / s).abs() > 2.5);
            (count >= 2).then_some((i, z, count))
        })
        .collect()
}

/// Daily readings 2024-01-01.. of a register that uses `usage[i]` on day i.
fn daily_meter(usage: &[f64]) -> Data {
    let start = ts("2024-01-01");
    let mut v = 0.0;
    let mut r = vec![hemflux_analytics::meters::Reading {
        t: start,
        value: 0.0,
    }];
    for (i, u) in usage.iter().enumerate() {
        v += u;
        r.push(hemflux_analytics::meters::Reading {
            t: start + (i as i64 + 1) * 86_400,
            value: v,
        });
    }
    [("e".to_string(), r)].into()
}

#[test]
fn five_anomaly_rules() {
    // The seed's rule on [10×7, x, 10].
    let with = |x: f64| [vec![10.0; 7], vec![x, 10.0]].concat();
    assert!(seed_rule(&with(23.0)).is_empty());
    assert_eq!(seed_rule(&with(25.0)), [7]);
    assert_eq!(seed_rule(&with(50.0)), [7]);
    // The Dagster rule on 60 days of 10 with 100 at index 30.
    let mut days = vec![10.0; 60];
    days[30] = 100.0;
    let d = dagster_rule(&days);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].0, d[0].2), (30, 3));
    assert!((d[0].1 - 7.617).abs() < 1e-3);
    // hemflux on the same 60 days: only that day, as a typed `spike` with its reason.
    let set = set("meters:\n  - {meter_id: e, type: physical, output_unit: kWh, installation_date: 2024-01-01}\n");
    let (_, out) = full(&set, &daily_meter(&days), ts("2024-03-01"));
    let flags: Vec<_> = meter(&out, "e")
        .flags
        .iter()
        .map(|f| (f.date.as_str(), f.kind))
        .collect();
    assert_eq!(flags, [("2024-01-31", FlagKind::Spike)]);
    // The seed's zero-padded month-end series flags every month with use; hemflux, reading the
    // same monthly readings, flags none.
    let padded: Vec<f64> = (0..365)
        .map(|i| if i % 30 == 29 { 300.0 } else { 0.0 })
        .collect();
    assert_eq!(seed_rule(&padded).len(), 12);
    let monthly: Vec<(String, f64)> = (0..13)
        .map(|m| (format!("2024-{:02}-01", m.min(11) + 1), m as f64 * 300.0))
        .take(12)
        .collect();
    let monthly: Vec<(&str, f64)> = monthly.iter().map(|(t, v)| (t.as_str(), *v)).collect();
    let (_, out) = full(&set, &data(&[("e", &monthly)]), ts("2024-12-01"));
    assert!(
        meter(&out, "e").flags.is_empty(),
        "{:?}",
        meter(&out, "e").flags
    );
}
