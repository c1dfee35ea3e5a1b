//! The seed's own inventory, run on four years of generated readings.

use hemflux_analytics::meters::synth::{readings, Profile};
use hemflux_analytics::meters::{parse, FlagKind, Kind, Provenance, Source};

use crate::common::*;

#[test]
fn the_seeds_inventory_runs_on_generated_readings() {
    let yaml = format!(
        "start_date: 2021-01-01\n{}",
        include_str!("../data/nebenkosten/meters.yaml")
    );
    let set = parse(
        Source {
            name: "meters.yaml",
            text: &yaml,
        },
        Some(Source {
            name: "seasonal_patterns.yaml",
            text: include_str!("../data/nebenkosten/seasonal_patterns.yaml"),
        }),
    )
    .unwrap();
    let end = ts("2025-01-01");
    let mut data = Data::new();
    for (k, m) in set.meters.iter().enumerate() {
        let Kind::Physical(p) = &m.kind else { continue };
        let hourly = m.id.contains("strom") || m.id.starts_with("gas");
        let profile = Profile {
            per_day: if m.unit == "MWh" { 0.02 } else { 8.0 },
            seasonal: m.pattern.as_ref().map(|p| *p.shares()),
            step: if hourly { 3600 } else { 30 * 86_400 + 7_200 },
            gaps: usize::from(hourly) * 3,
            resets: 0,
            start_value: 1000.0,
        };
        let from = p
            .installed
            .unwrap_or(ts("2021-01-01"))
            .max(ts("2021-01-01"));
        data.insert(
            m.id.clone(),
            readings(
                k as u64,
                from,
                p.removed.unwrap_or(end).min(end) + 1,
                &profile,
            ),
        );
    }
    let (state, out) = full(&set, &data, end);
    assert_eq!(out.len(), 26);
    let total = meter(&out, "strom_total");
    // The swap from HT + NT to haupt_strom loses nothing: November 2024 is as long as any month.
    let nov = usage(&total.months, "2024-11").consumption;
    assert!(nov > 20.0 * 8.0 * 2.0 * 0.8 / 2.0, "November {nov}");
    assert!(total
        .days
        .iter()
        .filter(|d| d.start >= ts("2021-01-01"))
        .all(|d| d.consumption.is_finite() && d.consumption >= 0.0));
    // Gas: old meter removed 2024-11-12, new one installed then: continuous across the swap.
    let gas = meter(&out, "gas_total");
    let swap_day = usage(&gas.days, "2024-11-11");
    assert!(
        swap_day.consumption > 0.0 && swap_day.consumption < 8.0 * 3.0,
        "{swap_day:?}"
    );
    assert!(
        !gas.flags.iter().any(|f| f.kind == FlagKind::NegativeDelta),
        "{:?}",
        gas.flags
    );
    // The virtual meters may fall (the generated flats use more than the house at times) and say so.
    let allgemein = meter(&out, "strom_allgemein");
    let falls = allgemein
        .days
        .iter()
        .filter(|d| d.consumption < 0.0)
        .count();
    let flagged = allgemein
        .flags
        .iter()
        .filter(|f| f.kind == FlagKind::NegativeResidual)
        .count();
    assert_eq!(falls, flagged);
    // Monthly manual water readings: every day estimated, seasonal where there is a pattern.
    let heat = &state.meters["eg_nord_heat"].register.samples;
    assert!(heat.iter().any(|s| s.provenance == Provenance::Seasonal));
    let water = meter(&out, "haupt_wasser");
    assert!(water
        .days
        .iter()
        .all(|d| d.provenance != Provenance::Measured || d.consumption >= 0.0));
    // Days add up to years for every meter.
    for m in &out {
        for y in &m.years {
            let sum: f64 = m
                .days
                .iter()
                .filter(|d| d.start >= y.start && d.end <= y.end)
                .map(|d| d.consumption)
                .sum();
            assert!(
                (sum - y.consumption).abs() < 1e-6 * y.consumption.abs().max(1.0),
                "{} {}: {sum} vs {}",
                m.meter_id,
                y.label,
                y.consumption
            );
        }
    }
}
