//! `cargo bench -p hemflux --bench web`: the web UI's server time.
//!
//! 1. the overview of 1,000 houses (2 workers each, a k and 30 days of energy split each):
//!    the model from the store plus the rows' HTML, as `/` and `/events` do it;
//! 2. one year of 5-minute points (105,120, two fields) for one entity's chart: read, min/max
//!    per pixel bucket for a 1,000-pixel chart, and the JSON body, as `/api/entity/{id}/series`;
//! 3. the purpose-built charts of another house over a year (`/api/entity/{id}/figures`): a year of
//!    daily heating / hot-water split, hourly forecast and metered energy (8,760 each), the
//!    5-minute room temperature (`thermal_history`) against the hourly indoor forecast, and a k per day.

use std::time::{Duration, Instant};

use hemflux::store::{Store, StoreConfig};
use hemflux::supervisor::{WorkerState, WorkerView};
use hemflux::web::{
    entity_series, figures, overview_model, rows_html, Lang, SeriesRequest, Subject,
};
use hemflux_shared::kinds::WorkerKind;
use hemflux_shared::Point;

const NS: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * NS;
const HOUR: i64 = 3600 * NS;
const HOUSES: usize = 1000;
const RUNS: usize = 21;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn worker(id: String, kind: WorkerKind) -> WorkerView {
    WorkerView {
        id,
        kind,
        state: WorkerState::Running,
        pid: Some(1),
        restarts: 0,
        error: None,
        last_error: None,
        last_error_at: None,
        last_data_time: Some("2026-11-29T09:00:00Z".into()),
        points: 100,
        status: None,
        config_files: Vec::new(),
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let today = now / DAY * DAY;

    let mut points = Vec::new();
    for h in 0..HOUSES {
        let id = format!("house_{h:04}");
        points.push(
            Point::new("k_value_history", now - 3600 * NS)
                .tag("house_id", id.as_str())
                .tag("method", "caltrack_daily")
                .field("k_value", 0.1 + h as f64 * 1e-4)
                .field("r2_adj", 0.9),
        );
        for d in 1..=30 {
            points.push(
                Point::new("energy_separated", today - d * DAY)
                    .tag("house_id", id.as_str())
                    .tag("method", "k_calibration")
                    .field("actual_energy_kwh", 40.0)
                    .field("dhw_energy_kwh", 8.0),
            );
        }
    }
    let year: Vec<Point> = (0..105_120i64)
        .map(|i| {
            let t = now - 365 * DAY + i * 300 * NS;
            Point::new("heating_system", t)
                .tag("house_id", "house_0000")
                .field("supply_temp", 40.0 + (i as f64 / 100.0).sin() * 5.0)
                .field("return_temp", 30.0 + (i as f64 / 90.0).cos() * 3.0)
        })
        .collect();
    let room: Vec<Point> = (0..105_120i64)
        .map(|i| {
            Point::new("thermal_history", now - 365 * DAY + i * 300 * NS)
                .tag("house_id", "house_0001")
                .field("room_temperature", 21.0 + (i as f64 / 288.0).sin())
        })
        .collect();
    let hour0 = (now - 365 * DAY) / HOUR * HOUR;
    let mut analytics = Vec::new();
    for h in 0..365 * 24 {
        let t = hour0 + h * HOUR;
        analytics.push(
            Point::new("energy_forecast", t)
                .tag("house_id", "house_0001")
                .field("total_energy_kwh", 2.0 + (h % 24) as f64 * 0.1),
        );
        analytics.push(
            Point::new("energy_meter", t)
                .tag("house_id", "house_0001")
                .tag("meter_id", "dh")
                .field("consumption", 2.1),
        );
        analytics.push(
            Point::new("temperature_forecast", t)
                .tag("house_id", "house_0001")
                .tag("forecast_type", "indoor_temp")
                .field("value", 21.0),
        );
    }
    for d in 0..365 {
        let t = today - (365 - d) * DAY;
        analytics.push(
            Point::new("energy_separated", t)
                .tag("house_id", "house_0001")
                .tag("method", "k_calibration")
                .field("actual_energy_kwh", 50.0)
                .field("heating_energy_kwh", 40.0)
                .field("dhw_energy_kwh", 10.0),
        );
        analytics.push(
            Point::new("k_value_history", t)
                .tag("house_id", "house_0001")
                .tag("method", "caltrack_daily")
                .field("k_value", 0.12)
                .field("k_low", 0.1)
                .field("k_high", 0.14)
                .field("r2_adj", 0.9)
                .field("usable", 1i64),
        );
    }
    rt.block_on(async {
        let all = points.chunks(10_000).chain(year.chunks(10_000));
        for chunk in all
            .chain(room.chunks(10_000))
            .chain(analytics.chunks(10_000))
        {
            store.write("bench", chunk.to_vec(), None).await.unwrap();
        }
    });
    let workers: Vec<WorkerView> = (0..HOUSES)
        .flat_map(|h| {
            [
                worker(format!("house:house_{h:04}"), WorkerKind::House),
                worker(format!("meter:house_{h:04}/electricity"), WorkerKind::Meter),
            ]
        })
        .collect();

    let reader = store.reader().unwrap();
    let mut runs = Vec::new();
    let mut html = 0;
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let rows = overview_model(&workers, &reader, |_| true, now).unwrap();
        html = rows_html(Lang::En, &rows).len();
        runs.push(t0.elapsed());
        assert_eq!(rows.len(), HOUSES);
        assert!(rows
            .iter()
            .all(|r| r.k_kw_per_k.is_some() && r.dhw_share == Some(0.2)));
    }
    println!(
        "overview of {HOUSES} houses ({} workers): median {:.1} ms ({} kB of rows)",
        workers.len(),
        median(runs).as_secs_f64() * 1e3,
        html / 1024
    );

    let req = SeriesRequest {
        from: Some((now - 366 * DAY) / NS),
        to: Some(now / NS + 1),
        width: Some(1000),
    };
    let house = Subject::Entity("house_0000".into());
    let mut runs = Vec::new();
    let mut body = 0;
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let charts = entity_series(&reader, &house, req, now).unwrap();
        body = serde_json::to_vec(&charts).unwrap().len();
        runs.push(t0.elapsed());
        let hs = charts
            .iter()
            .find(|c| c.measurement == "heating_system")
            .unwrap();
        assert_eq!(hs.stored, 105_120);
        assert!(hs.x.len() <= 2000);
    }
    println!(
        "one year of 5-minute points (105,120 x 2 fields) to a 1,000-pixel chart: median {:.1} ms ({} kB of JSON)",
        median(runs).as_secs_f64() * 1e3,
        body / 1024
    );

    let analysed = Subject::Entity("house_0001".into());
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let figs = figures(&reader, &analysed, req, now, Lang::En, "").unwrap();
        body = serde_json::to_vec(&figs).unwrap().len();
        runs.push(t0.elapsed());
        let keys: Vec<&str> = figs.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "split:k_calibration",
                "energy_forecast",
                "indoor_forecast",
                "k:caltrack_daily"
            ]
        );
        assert_eq!(figs[0].x.len(), 365);
        assert!(figs[1].x.len() <= 2000 && figs[2].x.len() <= 2000);
    }
    println!(
        "a year of the purpose-built charts (split 365 days, forecasts 8,760 h, room 105,120): median {:.1} ms ({} kB of JSON)",
        median(runs).as_secs_f64() * 1e3,
        body / 1024
    );
}
