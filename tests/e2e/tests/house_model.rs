//! The HomeSide simulator's house model (`--house-model-at`) through the real API: curve points
//! written with `save` (one input per call) read back, the supply temperature follows the written
//! curve at the outdoor temperature it serves, and the room cools against an identical house whose
//! curve was left alone; restoring the curve brings it back.

use std::time::Duration;

use hemflux_e2e::homeside::Client;
use hemflux_e2e::Sim;

const HOUSES: [(&str, &str, &str); 2] = [
    ("HEM_FJV_Villa_1", "FC1000000001", "model-pw-1"),
    ("HEM_FJV_Villa_2", "FC1000000002", "model-pw-2"),
];

fn supply_at(curve: &[f64], outdoor: f64) -> f64 {
    let x = ((outdoor + 30.0) / 5.0).clamp(0.0, 9.0);
    let i = (x.floor() as usize).min(8);
    curve[i] + (curve[i + 1] - curve[i]) * (x - i as f64)
}

#[test]
fn the_house_model_follows_the_written_curve() {
    let houses: Vec<String> = HOUSES
        .iter()
        .map(|(c, u, p)| format!("{c}:{u}:{p}"))
        .collect();
    // Ten simulated hours per real second, from a January night.
    let sim = Sim::start(
        "homeside",
        &[
            "--house",
            &houses[0],
            "--house",
            &houses[1],
            "--house-model-at",
            "59.33,18.07",
            "--clock",
            "2026-01-15T00:00:00Z",
            "--time-scale",
            "36000",
            "--sample-secs",
            "60",
            "--write-delay-ms",
            "0",
            "--warmup-reads",
            "0",
        ],
    );
    let (written, untouched) = (
        Client::login(&sim.address, HOUSES[0]),
        Client::login(&sim.address, HOUSES[1]),
    );
    let baseline = written.curve();
    assert_eq!(baseline, untouched.curve());
    let start = (
        written.number("MEAN_GT_RUM_1_Output"),
        untouched.number("MEAN_GT_RUM_1_Output"),
    );
    assert!(
        (start.0 - start.1).abs() < 0.05 && (15.0..28.0).contains(&start.0),
        "{start:?}"
    );

    let lowered: Vec<f64> = baseline.iter().map(|v| v - 8.0).collect();
    written.write_curve(&lowered);
    assert_eq!(written.curve(), lowered, "read back");
    let vars = written.read();
    let (outdoor, supply) = (
        vars["AI_GT_UTE_Output"].1.as_f64().unwrap(),
        vars["AI_VS1_GT_TILL_1_Output"].1.as_f64().unwrap(),
    );
    assert!(
        (supply - supply_at(&lowered, outdoor)).abs() < 0.01,
        "supply {supply} at {outdoor}"
    );

    std::thread::sleep(Duration::from_millis(1500)); // 15 simulated hours
    let (cooled, warm) = (
        written.number("MEAN_GT_RUM_1_Output"),
        untouched.number("MEAN_GT_RUM_1_Output"),
    );
    assert!(cooled < warm - 0.5, "lowered {cooled} vs untouched {warm}");

    written.write_curve(&baseline);
    assert_eq!(written.curve(), baseline);
    std::thread::sleep(Duration::from_millis(5000)); // 50 simulated hours
    let (back, warm) = (
        written.number("MEAN_GT_RUM_1_Output"),
        untouched.number("MEAN_GT_RUM_1_Output"),
    );
    assert!(
        (back - warm).abs() < 0.4,
        "restored {back} vs untouched {warm}"
    );
}
