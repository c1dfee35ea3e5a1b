//! snow1g v1 point forecasts: 81 steps from the next full hour (58 hourly, 14 six-hourly, 9
//! twelve-hourly), precipitation accumulated over each step's interval, 9999 for missing values
//! and −9 for the frozen part when dry.

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::weather;
use super::{not_found, Answer, Sim};

/// Where the model run is published, after its reference hour.
const PUBLISH_DELAY_S: i64 = 47 * 60;

pub fn route(sim: &Sim, now: Timestamp, rest: &[&str], query: &str) -> Answer {
    let reference = (now.as_second() - PUBLISH_DELAY_S).div_euclid(3600) * 3600;
    match rest {
        ["createdtime.json"] => {
            Answer::Json(json!({"createdTime": iso(reference + PUBLISH_DELAY_S)}))
        }
        ["parameter.json"] => Answer::Json(json!({"parameter": PARAMETERS.iter()
            .map(|(name, unit)| json!({"name": name, "unit": unit})).collect::<Vec<_>>()})),
        ["geotype", "point", "lon", lon, "lat", lat, "data.json"] => {
            let (Some(lon), Some(lat)) = (coordinate(lon), coordinate(lat)) else {
                return Answer::Status(StatusCode::BAD_REQUEST, "Bad Request");
            };
            let a = &sim.args.area;
            if !(a[0]..=a[1]).contains(&lat) || !(a[2]..=a[3]).contains(&lon) {
                return Answer::Status(StatusCode::NOT_FOUND, "Requested point is out of bounds");
            }
            point(sim, now.as_second(), reference, lat, lon, query)
        }
        _ => not_found(),
    }
}

const PARAMETERS: &[(&str, &str)] = &[
    ("air_temperature", "Cel"),
    ("wind_from_direction", "degree"),
    ("wind_speed", "m/s"),
    ("wind_speed_of_gust", "m/s"),
    ("relative_humidity", "percent"),
    ("air_pressure_at_mean_sea_level", "hPa"),
    ("visibility_in_air", "km"),
    ("cloud_area_fraction", "octas"),
    ("cloud_base_altitude", "m"),
    ("cloud_top_altitude", "m"),
    ("precipitation_amount_mean", "kg/m2"),
    ("probability_of_precipitation", "percent"),
    ("precipitation_frozen_part", "percent"),
    ("predominant_precipitation_type_at_surface", "code"),
    ("symbol_code", "code"),
];

/// Decimal degrees with at most 6 decimals, as SMHI's clients send them.
fn coordinate(s: &str) -> Option<f64> {
    let decimals = s.split_once('.').map_or(0, |(_, d)| d.len());
    (decimals <= 6)
        .then(|| s.parse::<f64>().ok())
        .flatten()
        .filter(|x| x.is_finite())
}

fn iso(t: i64) -> String {
    Timestamp::from_second(t)
        .expect("in range")
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The valid times: hourly for 58 steps, then 6-hourly (on 00/06/12/18) for 14, then
/// 12-hourly for 9.
fn steps(now: i64) -> Vec<i64> {
    let mut t = (now.div_euclid(3600) + 1) * 3600;
    let mut out = Vec::new();
    for _ in 0..58 {
        out.push(t);
        t += 3600;
    }
    for (count, step) in [(14, 6 * 3600), (9, 12 * 3600)] {
        t = (out.last().unwrap() / step + 1) * step;
        for _ in 0..count {
            out.push(t);
            t += step;
        }
    }
    out
}

/// `parameters=a,b` (literal commas); SMHI reportedly keeps only the first with `%2C`.
fn query_params(query: &str) -> (Option<Vec<String>>, Option<usize>) {
    let (mut wanted, mut limit) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("parameters", v)) => {
                let v = v.split("%2C").next().unwrap_or_default();
                wanted = Some(v.split(',').map(str::to_string).collect());
            }
            Some(("timeseries", v)) => limit = v.parse().ok(),
            _ => {}
        }
    }
    (wanted, limit)
}

fn point(sim: &Sim, now: i64, reference: i64, lat: f64, lon: f64, query: &str) -> Answer {
    // Answers come from the model grid: snap to it and echo the grid point.
    let (glat, glon) = ((lat / 0.025).round() * 0.025, (lon / 0.05).round() * 0.05);
    let (wanted, limit) = query_params(query);
    let times = steps(now);
    let series: Vec<Value> = times
        .iter()
        .enumerate()
        .take(limit.unwrap_or(usize::MAX))
        .map(|(i, &t)| {
            let start = if i == 0 { t - 3600 } else { times[i - 1] };
            let mut data = step_data(t, start, glat, glon);
            if sim
                .args
                .forecast_missing_every
                .is_some_and(|n| (i + 1) % n.max(1) == 0)
            {
                data.insert("air_temperature".into(), json!(9999));
            }
            if let Some(w) = &wanted {
                data.retain(|k, _| w.iter().any(|x| x == k));
            }
            json!({"time": iso(t), "intervalParametersStartTime": iso(start), "data": data})
        })
        .collect();
    let r6 = |x: f64| (x * 1e6).round() / 1e6;
    Answer::Json(json!({
        "createdTime": iso(reference + PUBLISH_DELAY_S),
        "referenceTime": iso(reference),
        "geometry": {"type": "Point", "coordinates": [r6(glon), r6(glat)]},
        "timeSeries": series,
    }))
}

fn step_data(t: i64, start: i64, lat: f64, lon: f64) -> Map<String, Value> {
    let w = weather::at(t, lat, lon);
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    // Precipitation is accumulated over the step's interval, hour by hour.
    let precipitation: f64 = (start / 3600 + 1..=t / 3600)
        .map(|h| weather::at(h * 3600, lat, lon).precipitation)
        .sum();
    let wet = precipitation > 0.05;
    let frozen = w.temperature < 0.5;
    let cloud = w.cloud as i64;
    let base = if cloud == 0 {
        9999
    } else {
        300 + 250 * (8 - cloud)
    };
    let symbol = match (wet, frozen, cloud) {
        (true, true, _) => 25,
        (true, false, _) => 18,
        (false, _, 0..=1) => 1,
        (false, _, 2..=4) => 3,
        (false, _, 5..=6) => 5,
        _ => 6,
    };
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    put("air_temperature", json!(r1(w.temperature)));
    put(
        "wind_from_direction",
        json!(w.wind_direction.round() as i64),
    );
    put("wind_speed", json!(r1(w.wind_speed)));
    put("wind_speed_of_gust", json!(r1(w.gust)));
    put("relative_humidity", json!(w.humidity.round() as i64));
    put("air_pressure_at_mean_sea_level", json!(r1(w.pressure)));
    put("visibility_in_air", json!(r1(w.visibility_km)));
    put("cloud_area_fraction", json!(cloud));
    put("cloud_base_altitude", json!(base));
    put(
        "cloud_top_altitude",
        json!(if cloud == 0 { 9999 } else { base + 2000 }),
    );
    put("precipitation_amount_mean", json!(r1(precipitation)));
    put(
        "probability_of_precipitation",
        json!(if wet { 70 } else { 10 }),
    );
    put(
        "precipitation_frozen_part",
        json!(if !wet {
            -9
        } else if frozen {
            100
        } else {
            0
        }),
    );
    put(
        "predominant_precipitation_type_at_surface",
        json!(if !wet {
            0
        } else if frozen {
            5
        } else {
            1
        }),
    );
    put("symbol_code", json!(symbol));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_widen_from_hourly_to_six_and_twelve_hours() {
        let s = steps(1_768_471_234);
        assert_eq!(s.len(), 81);
        assert_eq!(s[0], 1_768_471_200 + 3600);
        assert_eq!(s[57] - s[56], 3600);
        assert!(s[58] - s[57] <= 6 * 3600 && s[58] % (6 * 3600) == 0);
        assert_eq!(s[80] - s[79], 12 * 3600);
    }

    #[test]
    fn coordinates_take_at_most_six_decimals() {
        assert_eq!(coordinate("12.694512"), Some(12.694512));
        assert_eq!(coordinate("12.6945123"), None);
        assert_eq!(
            query_params("parameters=a%2Cb&timeseries=3"),
            (Some(vec!["a".into()]), Some(3))
        );
    }
}
