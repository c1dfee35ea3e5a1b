//! The purpose-built charts in a real browser (headless chromium over WebDriver), each checked
//! against the stored points through uPlot's data arrays: the heating / hot-water split per day
//! (stacked, days without a breakdown marked), the energy and indoor forecasts against what was
//! measured, k with its band, R² and rejected fits, the heat-curve adjustments (dry run or
//! applied); a meter's page with its consumption and anomaly flags, which a user without its
//! house gets none of (page, API, CSV, events); a point written while the page is open appears
//! in its chart without a reload. Screenshots go to `target/web-screenshots/`.

use std::time::Duration;

use hemflux_e2e::browser::{two_houses_anna_and_bo, Browser};
use hemflux_e2e::Orchestrator;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const NS: i64 = 1_000_000_000;
const DAY: i64 = 86_400;

/// `el` belongs to villa (its readings' series is tagged `house_id=villa`), `heat` to stuga.
const METERS: &str = r#"meters:
  - meter_id: "el"
    type: "physical"
    output_unit: "kWh"
    description: "Electricity"
    series: { measurement: "meter_reading", tags: { house_id: "villa", meter: "el" } }
  - meter_id: "heat"
    type: "physical"
    output_unit: "kWh"
    series: { measurement: "meter_reading", tags: { house_id: "stuga", meter: "heat" } }
"#;

/// A day of the split: (day, Some((heating, hot water)) or None for no breakdown, metered).
type SplitDay = (i64, Option<(f64, f64)>, f64);

/// What the test stores, in seconds: (time, values).
struct Stored {
    days: Vec<SplitDay>,
    forecast: Vec<(i64, f64, f64)>,
    indoor: Vec<(i64, f64)>,
    k: Vec<(i64, f64, f64, bool)>,
    adjustments: Vec<(i64, f64, bool)>,
    meter_days: Vec<(i64, f64)>,
    anomaly_day: i64,
}

fn stored(now: i64) -> (Stored, String) {
    let today = now / DAY * DAY;
    let hour = now / 3600 * 3600;
    let s = Stored {
        // (day, Some((heating, hot water)) or None for no breakdown, metered total)
        days: (1..=5)
            .map(|d| {
                let split = (d != 3).then(|| (30.0 + d as f64, 8.0 + d as f64 / 4.0));
                (today - d * DAY, split, 40.0 + d as f64)
            })
            .rev()
            .collect(),
        // (hour, forecast, metered = two meters' sum)
        forecast: (5..=10)
            .rev()
            .map(|h| (hour - h * 3600, 2.0 + h as f64 / 10.0, 1.5 + h as f64 / 8.0))
            .collect(),
        indoor: (5..=10)
            .rev()
            .map(|h| (hour - h * 3600, 21.0 + h as f64 / 20.0))
            .collect(),
        // (time, k, r2, usable)
        k: vec![
            (today - 3 * DAY, 0.121, 0.91, true),
            (today - 2 * DAY, 0.35, 0.2, false),
            (today - DAY, 0.125, 0.88, true),
        ],
        adjustments: vec![
            (hour - 20 * 3600, 0.5, true),
            (hour - 8 * 3600, -0.3, false),
        ],
        meter_days: (1..=5)
            .rev()
            .map(|d| (today - d * DAY, 10.0 + d as f64))
            .collect(),
        anomaly_day: today - 2 * DAY,
    };
    let mut lp = String::new();
    for (t, split, total) in &s.days {
        let fields = match split {
            Some((h, w)) => {
                format!("heating_energy_kwh={h:?},dhw_energy_kwh={w:?},no_breakdown=0i")
            }
            None => "no_breakdown=1i".into(),
        };
        lp.push_str(&format!(
            "energy_separated,house_id=villa,method=k_calibration {fields},actual_energy_kwh={total:?} {}\n",
            t * NS
        ));
    }
    for (t, f, metered) in &s.forecast {
        lp.push_str(&format!(
            "energy_forecast,house_id=villa total_energy_kwh={f:?} {}\n",
            t * NS
        ));
        for (meter, share) in [("dh1", 0.25), ("dh2", 0.75)] {
            lp.push_str(&format!(
                "energy_meter,house_id=villa,meter_id={meter} consumption={:?} {}\n",
                metered * share,
                t * NS
            ));
        }
    }
    for (t, v) in &s.indoor {
        lp.push_str(&format!(
            "temperature_forecast,house_id=villa,forecast_type=indoor_temp value={v:?} {}\n",
            t * NS
        ));
        lp.push_str(&format!(
            "heating_system,house_id=villa room_temperature={:?} {}\n",
            v - 0.2,
            t * NS
        ));
    }
    for (t, k, r2, usable) in &s.k {
        lp.push_str(&format!(
            "k_value_history,house_id=villa,method=caltrack_daily k_value={k:?},k_low={:?},k_high={:?},r2_adj={r2:?},usable={}i {}\n",
            k - 0.02,
            k + 0.02,
            i64::from(*usable),
            t * NS
        ));
    }
    for (t, delta, dry) in &s.adjustments {
        lp.push_str(&format!(
            "heat_curve_adjustment,house_id=villa,action=adjust delta={delta:?},dry_run={dry},reason=\"colder\" {}\n",
            t * NS
        ));
    }
    for (meter, house_scale) in [("el", 1.0), ("heat", 3.0)] {
        for (t, v) in &s.meter_days {
            lp.push_str(&format!(
                "meter_consumption,meter_id={meter},period=day consumption={:?},quality=\"measured\" {}\n",
                v * house_scale,
                t * NS
            ));
        }
    }
    lp.push_str(&format!(
        "meter_anomaly,meter_id=el,flag=spike severity=\"warning\",reason=\"far above the usual\",consumption=13.0 {}\n",
        s.anomaly_day * NS
    ));
    (s, lp)
}

/// The meters the overview lists, by the links in its meters table.
fn overview_meters(browser: &Browser) -> Vec<String> {
    let ids = browser.eval(
        "return Array.from(document.querySelectorAll('#meters a')).map(a => a.getAttribute('href'))",
    );
    ids.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            h.as_str()
                .unwrap()
                .trim_start_matches("/meter/")
                .to_string()
        })
        .collect()
}

/// A figure's labels and data: `columns[i]` is where line `i` is in `data`.
fn figure(browser: &Browser, key: &str) -> (Vec<Vec<Option<f64>>>, Vec<usize>) {
    let v = browser.wait_for_js(
        &format!(
            r#"var f = (window.hemfluxFigures || []).filter(function (f) {{ return f.key == '{key}'; }})[0];
               return f ? {{ data: f.plot.data, columns: f.columns }} : null;"#
        ),
        T,
    );
    (
        serde_json::from_value(v["data"].clone()).unwrap(),
        serde_json::from_value(v["columns"].clone()).unwrap(),
    )
}

/// Line `line` of a figure as (time, value) pairs where it has a value.
fn line(data: &[Vec<Option<f64>>], columns: &[usize], line: usize) -> Vec<(i64, f64)> {
    data[0]
        .iter()
        .zip(&data[columns[line]])
        .filter_map(|(t, v)| Some((t.unwrap() as i64, (*v)?)))
        .collect()
}

fn close(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.0 == y.0 && (x.1 - y.1).abs() < 1e-9)
}

#[test]
fn purpose_built_charts_meter_pages_and_live_points() {
    let Some(browser) = Browser::start() else {
        return;
    };
    // The meters worker stays off: the test stores the meters' analytics itself.
    let o = Orchestrator::new("[meters]\nenabled = false\n");
    std::fs::write(o.path("meters.yaml"), METERS).unwrap();
    let o = o.start();
    two_houses_anna_and_bo(&o);
    let now = jiff::Timestamp::now().as_second();
    let (s, lp) = stored(now);
    o.import_lines("charts.lp", &lp);

    browser.sign_in(&o, "anna", "anna's long passphrase");
    browser.goto(&o.url("/?lang=en"));
    assert_eq!(overview_meters(&browser), ["el", "heat"]);
    browser.goto(&o.url("/entity/villa?lang=en"));

    // The split: heating at the bottom, hot water stacked on it; the day without a breakdown
    // marked at its metered total and drawn without bars.
    let (data, cols) = figure(&browser, "split:k_calibration");
    let with_split: Vec<_> = s
        .days
        .iter()
        .filter_map(|(t, sp, _)| Some((*t, (*sp)?)))
        .collect();
    let heating: Vec<(i64, f64)> = with_split.iter().map(|(t, (h, _))| (*t, *h)).collect();
    let stacked: Vec<(i64, f64)> = with_split.iter().map(|(t, (h, w))| (*t, h + w)).collect();
    assert!(close(&line(&data, &cols, 0), &heating), "{data:?}");
    assert!(close(&line(&data, &cols, 1), &stacked), "{data:?}");
    let unsplit: Vec<(i64, f64)> = s
        .days
        .iter()
        .filter(|d| d.1.is_none())
        .map(|d| (d.0, d.2))
        .collect();
    assert!(close(&line(&data, &cols, 2), &unsplit), "{data:?}");

    // Forecast against the hourly energy of both meters.
    let (data, cols) = figure(&browser, "energy_forecast");
    let forecast: Vec<_> = s.forecast.iter().map(|f| (f.0, f.1)).collect();
    let metered: Vec<_> = s.forecast.iter().map(|f| (f.0, f.2)).collect();
    assert!(close(&line(&data, &cols, 0), &forecast), "{data:?}");
    assert!(close(&line(&data, &cols, 1), &metered), "{data:?}");

    // The indoor forecast against the room temperature.
    let (data, cols) = figure(&browser, "indoor_forecast");
    assert!(close(&line(&data, &cols, 0), &s.indoor), "{data:?}");
    let room: Vec<_> = s.indoor.iter().map(|(t, v)| (*t, v - 0.2)).collect();
    assert!(close(&line(&data, &cols, 1), &room), "{data:?}");

    // k with its band, R² on its own axis, the rejected fit marked.
    let (data, cols) = figure(&browser, "k:caltrack_daily");
    let k: Vec<_> = s.k.iter().map(|k| (k.0, k.1)).collect();
    let low: Vec<_> = s.k.iter().map(|k| (k.0, k.1 - 0.02)).collect();
    let r2: Vec<_> = s.k.iter().map(|k| (k.0, k.2)).collect();
    let rejected: Vec<_> = s.k.iter().filter(|k| !k.3).map(|k| (k.0, k.1)).collect();
    assert!(close(&line(&data, &cols, 0), &k), "{data:?}");
    assert!(close(&line(&data, &cols, 1), &low), "{data:?}");
    assert!(close(&line(&data, &cols, 3), &r2), "{data:?}");
    assert!(close(&line(&data, &cols, 4), &rejected), "{data:?}");

    // Heat-curve adjustments: a dry run and an applied one, each its own marker.
    let (data, cols) = figure(&browser, "heat_curve");
    let dry: Vec<_> = s
        .adjustments
        .iter()
        .filter(|a| a.2)
        .map(|a| (a.0, a.1))
        .collect();
    let applied: Vec<_> = s
        .adjustments
        .iter()
        .filter(|a| !a.2)
        .map(|a| (a.0, a.1))
        .collect();
    assert!(close(&line(&data, &cols, 0), &dry), "{data:?}");
    assert!(close(&line(&data, &cols, 1), &applied), "{data:?}");

    let links = browser.eval(
        "return Array.from(document.querySelectorAll('.meters a')).map(function (a) { return a.getAttribute('href'); });",
    );
    assert_eq!(links, serde_json::json!(["/meter/el"]));
    // Tall enough for every figure.
    browser.set_window(1280, 2600);
    browser.screenshot("entity-figures");
    browser.set_window(1280, 900);

    // Live: a point stored while the page is open joins its chart without a reload.
    let room_chart = r#"var c = (window.hemfluxCharts || []).filter(function (c) {
            return c.measurement == 'heating_system'; })[0];"#;
    // A mark on this document: a reload would lose it.
    let before = browser.eval(&format!(
        "window.sameDocument = true; {room_chart} return c.plot.data[0].length;"
    ));
    let t_new = now - 30;
    o.import_lines(
        "charts.lp",
        &format!(
            "heating_system,house_id=villa room_temperature=22.75 {}\n",
            t_new * NS
        ),
    );
    let grown = browser.wait_for_js(
        &format!(
            r#"{room_chart} var i = c.plot.data[0].indexOf({t_new});
               var col = 1 + c.fields.indexOf('room_temperature');
               return i >= 0 ? [c.plot.data[0].length, c.plot.data[col][i]] : null;"#
        ),
        T,
    );
    assert_eq!(grown[0], before.as_u64().unwrap() + 1, "{grown}");
    assert_eq!(grown[1], 22.75);
    let same = browser.eval("return window.sameDocument === true;");
    assert_eq!(same, true, "no reload");

    // The meter's page: its consumption per day, the anomaly marked and listed.
    browser.goto(&o.url("/meter/el"));
    let (data, cols) = figure(&browser, "meter_day");
    let el: Vec<_> = s.meter_days.clone();
    assert!(close(&line(&data, &cols, 0), &el), "{data:?}");
    assert!(
        close(&line(&data, &cols, 1), &[(s.anomaly_day, 13.0)]),
        "{data:?}"
    );
    let rows = browser.eval(
        "return Array.from(document.querySelectorAll('#anomalies tbody tr')).map(function (r) { return r.innerText; });",
    );
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("spike") && rows[0].contains("far above the usual"),
        "{rows:?}"
    );
    browser.screenshot("meter");
    let (status, csv) = browser.fetch("/api/meter/el/csv");
    assert_eq!(status, 200);
    let day_rows = csv
        .lines()
        .filter(|l| l.contains(",meter_consumption,") && l.contains(",consumption,"))
        .count();
    assert_eq!(day_rows, s.meter_days.len(), "{csv}");

    // Swedish labels.
    browser.goto(&o.url("/entity/villa?lang=sv"));
    let titles = browser.wait_for_js(
        r#"var f = document.querySelectorAll('#figures figcaption');
           return f.length ? Array.from(f).map(function (c) { return c.innerText; }) : null;"#,
        T,
    );
    assert!(
        titles[0]
            .as_str()
            .unwrap()
            .starts_with("Uppvärmning och varmvatten per dygn"),
        "{titles}"
    );
    browser.screenshot("entity-figures-sv");

    // bo sees stuga and its meter, and nothing of villa's meter: not on the overview either.
    browser.clear_cookies();
    browser.sign_in(&o, "bo", "bo's long passphrase");
    browser.goto(&o.url("/?lang=en"));
    assert_eq!(overview_meters(&browser), ["heat"]);
    browser.assert_not_found(&[
        "/meter/el",
        "/api/meter/el/series",
        "/api/meter/el/figures",
        "/api/meter/el/csv",
        "/events/meter/el",
    ]);
    let (status, body) = browser.fetch("/api/meter/heat/figures");
    assert_eq!(status, 200, "{body}");
    let figs: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(figs["figures"][0]["key"], "meter_day", "{figs}");
    assert_eq!(
        figs["figures"][0]["lines"][0]["y"][0],
        3.0 * s.meter_days[0].1
    );
}
