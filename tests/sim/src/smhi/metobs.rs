//! Station observations: station lists per parameter and data per station and period, with
//! string values, epoch-millisecond dates, `Y` on fresh rows and `G` on checked ones.

use jiff::Timestamp;
use serde_json::{json, Value};

use super::weather::{self, Weather};
use super::{not_found, Answer, Sim};

pub struct Station {
    pub id: u32,
    pub name: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub height: f64,
    pub active: bool,
    /// Stations without a humidity sensor: parameter 6 is 404 for them.
    pub humidity: bool,
}

/// Invented stations around southern Sweden; each inactive one lies nearer to its town than
/// the active station that replaced it, as SMHI's lists do.
pub const STATIONS: &[Station] = &[
    st(62040, "Helsingborg A", 56.0375, 12.6905, 13.0, true, true),
    st(62030, "Helsingborg", 56.0461, 12.6950, 20.0, false, true),
    st(
        62410,
        "Halmstad flygplats",
        56.6911,
        12.8202,
        30.0,
        true,
        false,
    ),
    st(62400, "Halmstad", 56.6700, 12.8600, 8.0, false, false),
    st(53300, "Malmö A", 55.5714, 13.0708, 10.0, true, true),
    st(71420, "Göteborg A", 57.7156, 11.9924, 5.0, true, true),
    st(
        98210,
        "Stockholm-Observatoriekullen A",
        59.3417,
        18.0549,
        43.0,
        true,
        true,
    ),
    st(64510, "Växjö A", 56.8550, 14.8290, 182.0, true, true),
];

const fn st(
    id: u32,
    name: &'static str,
    lat: f64,
    lon: f64,
    height: f64,
    active: bool,
    humidity: bool,
) -> Station {
    Station {
        id,
        name,
        lat,
        lon,
        height,
        active,
        humidity,
    }
}

struct Parameter {
    key: u32,
    name: &'static str,
    summary: &'static str,
    unit: &'static str,
    value: fn(&Weather) -> f64,
}

const PARAMETERS: &[Parameter] = &[
    par(
        1,
        "Lufttemperatur",
        "momentanvärde, 1 gång/tim",
        "degree celsius",
        |w| w.temperature,
    ),
    par(
        3,
        "Vindriktning",
        "medelvärde 10 min, 1 gång/tim",
        "degree",
        |w| w.wind_direction,
    ),
    par(
        4,
        "Vindhastighet",
        "medelvärde 10 min, 1 gång/tim",
        "metre per second",
        |w| w.wind_speed,
    ),
    par(
        6,
        "Relativ Luftfuktighet",
        "momentanvärde, 1 gång/tim",
        "percent",
        |w| w.humidity,
    ),
    par(
        7,
        "Nederbördsmängd",
        "summa 1 timme, 1 gång/tim",
        "millimetre",
        |w| w.precipitation,
    ),
    par(
        9,
        "Lufttryck reducerat havsytans nivå",
        "vid havsytans nivå, momentanvärde, 1 gång/tim",
        "hectopascal",
        |w| w.pressure,
    ),
    par(21, "Byvind", "max, 1 gång/tim", "metre per second", |w| {
        w.gust
    }),
    par(
        39,
        "Daggpunktstemperatur",
        "momentanvärde, 1 gång/tim",
        "degree celsius",
        |w| w.dew_point,
    ),
];

const fn par(
    key: u32,
    name: &'static str,
    summary: &'static str,
    unit: &'static str,
    value: fn(&Weather) -> f64,
) -> Parameter {
    Parameter {
        key,
        name,
        summary,
        unit,
        value,
    }
}

fn has(station: &Station, p: &Parameter) -> bool {
    p.key != 6 || station.humidity
}

pub fn route(sim: &Sim, now: Timestamp, rest: &[&str]) -> Answer {
    let parameter = |key: &str| {
        let key = key.strip_suffix(".json").unwrap_or(key);
        PARAMETERS.iter().find(|p| p.key.to_string() == key)
    };
    match rest {
        ["parameter", p] if p.ends_with(".json") => parameter(p)
            .map(|p| station_list(sim, now, p))
            .unwrap_or_else(not_found),
        ["parameter", p, "station.json"] => parameter(p)
            .map(|p| station_list(sim, now, p))
            .unwrap_or_else(not_found),
        ["parameter", p, "station", id, "period", period, "data.json"] => {
            let (Some(p), Some(station)) = (
                parameter(p),
                STATIONS.iter().find(|s| s.id.to_string() == *id),
            ) else {
                return not_found();
            };
            if !has(station, p) {
                return not_found();
            }
            data(sim, now, p, station, period)
        }
        ["parameter", p, "station-set", "all", "period", "latest-hour", "data.json"] => {
            parameter(p)
                .map(|p| all_stations(sim, now, p))
                .unwrap_or_else(not_found)
        }
        _ => not_found(),
    }
}

fn ms(t: i64) -> i64 {
    t * 1000
}

/// The newest full hour with an observation.
fn newest_hour(sim: &Sim, now: Timestamp) -> i64 {
    let t = now.as_second() - sim.args.obs_delay_mins * 60;
    t.div_euclid(3600) * 3600
}

fn station_list(sim: &Sim, now: Timestamp, p: &Parameter) -> Answer {
    let updated = ms(newest_hour(sim, now));
    let stations: Vec<Value> = STATIONS
        .iter()
        .filter(|s| has(s, p))
        .map(|s| {
            json!({
                "name": s.name, "owner": "SMHI", "ownerCategory": "CLIMATE", "measuringStations": "CORE",
                "id": s.id, "height": s.height, "latitude": s.lat, "longitude": s.lon,
                "active": s.active, "from": 1_275_350_400_000i64, "to": updated,
                "key": s.id.to_string(), "updated": updated,
                "title": format!("{} - {}", p.name, s.name),
                "summary": format!("Latitud: {} Longitud: {} Höjd: {}", s.lat, s.lon, s.height),
            })
        })
        .collect();
    Answer::Json(json!({
        "key": p.key.to_string(), "updated": updated,
        "title": format!("{}: Välj station (sedan tidsutsnitt)", p.name),
        "summary": p.summary, "valueType": "SAMPLING", "station": stations,
    }))
}

/// Whether a station-hour has no row (deterministic, so every read agrees).
fn missing(sim: &Sim, station: &Station, hour: i64) -> bool {
    let mut x = (station.id as u64) ^ (hour as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    x % 100 < sim.args.missing_hours_percent
}

fn row(sim: &Sim, p: &Parameter, station: &Station, hour: i64, newest: i64) -> Option<Value> {
    if missing(sim, station, hour) || !station.active {
        return None;
    }
    let w = weather::at(hour, station.lat, station.lon);
    // Fresh rows are not yet checked (`Y`); older ones are (`G`).
    let quality = if newest - hour < 3 * 3600 { "Y" } else { "G" };
    Some(json!({"date": ms(hour), "value": format!("{:.1}", (p.value)(&w)), "quality": quality}))
}

fn data(sim: &Sim, now: Timestamp, p: &Parameter, station: &Station, period: &str) -> Answer {
    let newest = newest_hour(sim, now);
    let (hours, summary) = match period {
        "latest-hour" => (1, "Data från senaste timmen"),
        "latest-day" => (25, "Data från senaste dygnet"),
        "latest-months" => (24 * 122, "Data från senaste fyra månaderna"),
        _ => return not_found(),
    };
    let values: Vec<Value> = (0..hours)
        .rev()
        .filter_map(|h| row(sim, p, station, newest - h * 3600, newest))
        .collect();
    let from = if period == "latest-hour" {
        ms(newest) - 3_599_000
    } else {
        ms(newest - hours * 3600) + 1000
    };
    let href = format!(
        "https://opendata-download-metobs.smhi.se/api/version/1.0/parameter/{}/station/{}/period/{period}/data.json",
        p.key, station.id
    );
    Answer::Json(json!({
        "value": values,
        "updated": ms(newest),
        "parameter": {"key": p.key.to_string(), "name": p.name, "summary": p.summary, "unit": p.unit},
        "station": {"key": station.id.to_string(), "name": station.name, "owner": "SMHI",
                    "ownerCategory": "CLIMATE", "measuringStations": "CORE", "height": 2},
        "period": {"key": period, "from": from, "to": ms(newest), "summary": summary, "sampling": "Ej angivet"},
        "position": [{"from": 1_275_350_400_000i64, "to": ms(newest), "height": station.height,
                      "latitude": station.lat, "longitude": station.lon}],
        "link": [{"rel": "data", "type": "application/json", "href": href}],
    }))
}

fn all_stations(sim: &Sim, now: Timestamp, p: &Parameter) -> Answer {
    let newest = newest_hour(sim, now);
    let stations: Vec<Value> = STATIONS
        .iter()
        .filter(|s| has(s, p))
        .map(|s| {
            let value = row(sim, p, s, newest, newest).map(|r| vec![r]);
            json!({"key": s.id.to_string(), "name": s.name, "owner": "SMHI", "measuringStations": "CORE",
                   "from": 1_275_350_400_000i64, "to": ms(newest), "height": s.height,
                   "latitude": s.lat, "longitude": s.lon, "value": value})
        })
        .collect();
    Answer::Json(json!({
        "updated": ms(newest),
        "parameter": {"key": p.key.to_string(), "name": p.name, "summary": p.summary, "unit": p.unit},
        "period": {"key": "latest-hour", "from": ms(newest) - 3_599_000, "to": ms(newest),
                   "summary": "Data från senaste timmen", "sampling": "Ej angivet"},
        "station": stations,
    }))
}
