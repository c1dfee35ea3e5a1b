//! The web UI in a real browser (headless chromium over WebDriver): the overview lists the
//! fleet with its workers' states and the analytics' headline and stays live; an entity page
//! draws the stored points (read back from the uPlot instances); CSV and the series API return
//! what the store holds; Swedish; a phone-sized window. Screenshots go to
//! `target/web-screenshots/`.

use std::time::Duration;

use hemflux_e2e::browser::{add_user, Browser};
use hemflux_e2e::Orchestrator;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const NS: i64 = 1_000_000_000;

fn synthetic() -> &'static str {
    r#"{"synthetic": {"interval_ms": 200}}"#
}

/// The supply temperatures written for `villa`: one every 5 minutes over the last ~8 hours.
fn supply_points(now_s: i64) -> Vec<(i64, f64)> {
    let start = (now_s - 8 * 3600) / 300 * 300;
    (0..96)
        .map(|i| (start + i * 300, 40.0 + (i % 17) as f64 * 0.25))
        .collect()
}

/// A GET with the API token.
fn get(o: &Orchestrator, path: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .get(o.url(path))
        .bearer_auth(o.token())
        .timeout(Duration::from_secs(10))
        .send()
        .unwrap()
}

#[test]
fn overview_entity_charts_csv_languages_phone() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let o = Orchestrator::new("").start();
    o.write_profile("villa.json", synthetic());
    o.write_profile("stuga.json", synthetic());
    o.wait_state("synthetic:villa", "running", T);
    o.wait_state("synthetic:stuga", "running", T);
    // From the first account on, the API and the pages want a principal.
    add_user(&o, "anna", "admin", "anna's long passphrase", &[]);

    let now_s = jiff::Timestamp::now().as_second();
    let supply = supply_points(now_s);
    let mut lp = String::new();
    for (t, v) in &supply {
        lp.push_str(&format!(
            "heating_system,house_id=villa supply_temp={v:?},return_temp={:?} {}\n",
            v - 10.0,
            t * NS
        ));
    }
    let day = (now_s / 86_400 - 1) * 86_400;
    lp.push_str(&format!(
        "energy_separated,house_id=villa,method=k_calibration actual_energy_kwh=40.0,dhw_energy_kwh=10.0 {}\n",
        day * NS
    ));
    lp.push_str(&format!(
        "k_value_history,house_id=villa,method=caltrack_daily k_value=0.123,r2_adj=0.91 {}\n",
        (now_s - 3600) * NS
    ));
    o.import_lines("villa.lp", &lp);

    // Pages need a session.
    browser.goto(&o.url("/entity/villa"));
    browser.wait_for_js("return location.pathname == '/login';", T);
    browser.screenshot("login");
    browser.sign_in(&o, "anna", "anna's long passphrase");

    // The overview: both houses with their running workers; villa's k and hot-water share.
    browser.goto(&o.url("/"));
    let rows = browser.wait_for_js(
        r#"var r = document.querySelectorAll('#fleet-rows tr');
           return r.length == 2 ? Array.from(r).map(function (tr) { return tr.innerText; }) : null;"#,
        T,
    );
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    assert!(
        rows[0].starts_with("stuga") && rows[0].contains("synthetic:stuga running"),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with("villa") && rows[1].contains("synthetic:villa running"),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("0.123") && rows[1].contains("R² 0.91"),
        "{rows:?}"
    );
    assert!(rows[1].contains("25 %"), "hot water 10 of 40 kWh: {rows:?}");
    assert!(rows[0].contains('–'), "no analytics for stuga: {rows:?}");
    // Live: the events stream delivers (the synthetic workers' last data time keeps moving).
    browser.wait_for_js(
        "return document.getElementById('live').dataset.updated || null;",
        T,
    );
    browser.screenshot("overview");

    // Search filters the rows in the page.
    let visible = browser.eval(
        r#"var s = document.getElementById('search'); s.value = 'stug';
           s.dispatchEvent(new Event('input'));
           return Array.from(document.querySelectorAll('#fleet-rows tr'))
             .filter(function (tr) { return !tr.hidden; }).map(function (tr) { return tr.dataset.id; });"#,
    );
    assert_eq!(visible, serde_json::json!(["stuga"]));

    // The entity page: the chart of heating_system holds exactly the stored points.
    browser.goto(&o.url("/entity/villa"));
    let chart = browser.wait_for_js(
        r#"var c = (window.hemfluxCharts || []).filter(function (c) { return c.measurement == 'heating_system'; })[0];
           return c ? { fields: c.fields, data: c.plot.data } : null;"#,
        T,
    );
    let fields: Vec<String> = serde_json::from_value(chart["fields"].clone()).unwrap();
    let data: Vec<Vec<Option<f64>>> = serde_json::from_value(chart["data"].clone()).unwrap();
    let col = 1 + fields
        .iter()
        .position(|f| f == "supply_temp")
        .expect("supply_temp charted");
    let drawn: Vec<(i64, f64)> = data[0]
        .iter()
        .zip(&data[col])
        .map(|(t, v)| (t.unwrap() as i64, v.unwrap()))
        .collect();
    assert_eq!(drawn, supply, "the chart's data are the stored points");
    let canvas = browser.eval("return document.querySelectorAll('#charts canvas').length;");
    assert!(
        canvas.as_u64().unwrap() >= 2,
        "heating_system and the synthetic series: {canvas}"
    );
    browser.screenshot("entity");

    // The CSV link carries the range shown; its rows are the stored values.
    let href = browser.eval("return document.getElementById('csv').getAttribute('href');");
    let href = href.as_str().unwrap();
    assert!(href.starts_with("/api/entity/villa/csv?from="), "{href}");
    let (status, csv) = browser.fetch(href);
    assert_eq!(status, 200);
    let supply_rows: Vec<&str> = csv
        .lines()
        .filter(|l| l.contains(",supply_temp,"))
        .collect();
    assert_eq!(supply_rows.len(), supply.len(), "{csv:.400}");
    let (t0, v0) = supply[0];
    let first = format!(
        "{},heating_system,house_id=villa,supply_temp,{v0}",
        jiff::Timestamp::from_second(t0).unwrap()
    );
    assert_eq!(supply_rows[0], first);

    // A long range is thinned on the server (the API token reads the data routes too): at most two points per pixel, extremes kept.
    let series: Value = get(
        &o,
        &format!(
            "/api/entity/villa/series?from={}&to={}&width=20",
            now_s - 86_400,
            now_s + 60
        ),
    )
    .json()
    .unwrap();
    let hs = series["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["measurement"] == "heating_system")
        .unwrap();
    assert_eq!(hs["stored"], 96);
    assert!(hs["x"].as_array().unwrap().len() <= 40, "{hs}");
    let max_drawn = hs["y"][0]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .fold(f64::MIN, f64::max);
    let max_stored = supply.iter().map(|p| p.1 - 10.0).fold(f64::MIN, f64::max);
    assert!(
        hs["fields"][0] == "return_temp" && max_drawn == max_stored,
        "{hs}"
    );

    // Unknown entities are not found.
    browser.goto(&o.url("/entity/nobody"));
    let text = browser.eval("return document.body.innerText;");
    assert_eq!(text, "Not found");

    // Swedish, remembered in a cookie.
    browser.goto(&o.url("/?lang=sv"));
    browser.wait_for_js(
        "return document.querySelectorAll('#fleet-rows tr').length == 2;",
        T,
    );
    browser.goto(&o.url("/"));
    let nav = browser.eval("return document.querySelector('header nav a').innerText;");
    assert_eq!(nav, "Översikt");
    browser.screenshot("overview-sv");

    // A phone: the table turns into labelled blocks, and nothing overflows sideways.
    browser.set_window(390, 844);
    browser.goto(&o.url("/?lang=en"));
    browser.wait_for_js(
        "return document.querySelectorAll('#fleet-rows tr').length == 2;",
        T,
    );
    let layout = browser.eval(
        r#"return { head: getComputedStyle(document.querySelector('#fleet thead')).display,
                    wide: document.documentElement.scrollWidth > window.innerWidth + 1 };"#,
    );
    assert_eq!(layout["head"], "none", "{layout}");
    assert_eq!(layout["wide"], false, "{layout}");
    browser.screenshot("overview-phone");
}
