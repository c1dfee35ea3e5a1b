//! SMHI station observations as hemflux stores them, shared by the `weather` worker (live rows
//! and its catch-up) and the `analytics` worker (weather gaps refilled from the same stations):
//! the nearest active station, its hourly rows, and the `weather_observation` point of a row.

use std::collections::BTreeMap;

use anyhow::Result;
use hemflux_clients::smhi::{SmhiClient, SmhiError, Station};
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::Timestamp;

/// Observation parameters: air temperature (which picks the station), wind speed, humidity.
pub const TEMPERATURE: u32 = 1;
const WIND_SPEED: u32 = 4;
const HUMIDITY: u32 = 6;

/// One station's hourly rows: epoch ms to (field, value).
pub type StationRows = BTreeMap<i64, Vec<(&'static str, f64)>>;

/// Great-circle distance in km.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().asin()
}

/// The nearest active station of a parameter's list to a position, with its distance in km.
/// Inactive stations stay listed (often nearer than the one that replaced them): never chosen.
pub fn nearest_active(stations: &[Station], lat: f64, lon: f64) -> Option<(&Station, f64)> {
    stations
        .iter()
        .filter(|s| s.active)
        .map(|s| (s, haversine_km(lat, lon, s.latitude, s.longitude)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// The hourly rows of `period` at one station: temperature, with wind speed and humidity
/// where the station has them (404 leaves the field out; any other error fails the whole
/// station, so that no row is stored without a field it should have).
pub async fn station_rows(
    client: &SmhiClient,
    station: &Station,
    period: &str,
) -> Result<StationRows> {
    let mut rows = StationRows::new();
    for (parameter, field) in [
        (TEMPERATURE, "temperature"),
        (WIND_SPEED, "wind_speed"),
        (HUMIDITY, "humidity"),
    ] {
        let series = match client.observations(parameter, station.id, period).await {
            Ok(Some(s)) => s,
            Ok(None) if parameter != TEMPERATURE => continue,
            Ok(None) => anyhow::bail!("station {} has no temperature data (404)", station.id),
            Err(e) => return Err(e.into()),
        };
        for (date, value) in series {
            // Rows exist where the temperature does; the others join them.
            if parameter == TEMPERATURE {
                rows.entry(date).or_default().push((field, value));
            } else if let Some(r) = rows.get_mut(&date) {
                r.push((field, value));
            }
        }
    }
    Ok(rows)
}

/// Whether a failure of [`station_rows`] (or of the station list) is worth asking again: no
/// answer or a server error.
pub fn is_retryable(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<SmhiError>()
        .is_some_and(SmhiError::is_retryable)
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Where an observation is stored: the entity's tag and id, and its station.
pub struct ObservedAt<'a> {
    pub tag: &'a str,
    pub id: &'a str,
    pub station: &'a Station,
    pub distance_km: f64,
}

/// The `weather_observation` point of one row; `gap_fill` marks hours filled in after the fact
/// with the seed's gap-filler tag, so that queries telling them apart keep working.
pub fn observation_point(
    at: &ObservedAt<'_>,
    time: Timestamp,
    fields: &[(&'static str, f64)],
    gap_fill: bool,
) -> Point {
    let mut point = Point::new("weather_observation", to_nanos(time))
        .tag(at.tag, at.id)
        .tag("station_name", at.station.name.as_str())
        .tag("station_id", at.station.id.to_string())
        .field("distance_km", round2(at.distance_km));
    if gap_fill {
        point = point.tag("source", "gap_fill");
    }
    for (name, value) in fields {
        point = point.field(*name, round2(*value));
    }
    point
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station(id: u64, lat: f64, lon: f64, active: bool) -> Station {
        Station {
            id,
            name: format!("s{id}"),
            latitude: lat,
            longitude: lon,
            active,
        }
    }

    #[test]
    fn distances() {
        // Helsingborg to Halmstad, about 74 km.
        let km = haversine_km(56.0465, 12.6945, 56.6745, 12.8578);
        assert!((69.0..79.0).contains(&km), "{km}");
    }

    #[test]
    fn the_nearest_active_station_is_chosen_over_a_nearer_inactive_one() {
        let list = [
            station(1, 56.6911, 12.8202, true),  // Halmstad, ~72 km
            station(2, 56.0461, 12.6950, false), // inactive, ~1 km
            station(3, 56.0375, 12.6905, true),  // ~1.5 km
            station(4, 55.5714, 13.0708, true),  // Malmö, ~55 km
        ];
        let (s, km) = nearest_active(&list, 56.0465, 12.7045).unwrap();
        assert_eq!(s.id, 3);
        assert!((0.5..2.0).contains(&km), "{km}");
        // The list order does not matter.
        let reversed: Vec<Station> = list.iter().rev().cloned().collect();
        assert_eq!(nearest_active(&reversed, 56.0465, 12.7045).unwrap().0.id, 3);
    }

    #[test]
    fn no_active_station_is_no_choice() {
        assert!(nearest_active(&[], 59.3, 18.0).is_none());
        assert!(nearest_active(&[station(2, 59.3, 18.0, false)], 59.3, 18.0).is_none());
    }

    #[test]
    fn a_gap_filled_row_carries_the_seeds_tag_and_rounded_fields() {
        let s = station(98210, 59.34, 18.05, true);
        let at = ObservedAt {
            tag: "house_id",
            id: "villa_s",
            station: &s,
            distance_km: 1.234,
        };
        let time = Timestamp::from_second(1_768_471_200).unwrap();
        let p = observation_point(&at, time, &[("temperature", -3.456)], true);
        assert_eq!(p.measurement, "weather_observation");
        assert_eq!(p.tags["source"], "gap_fill");
        assert_eq!(p.tags["station_id"], "98210");
        assert_eq!(
            p.fields["temperature"],
            hemflux_shared::FieldValue::Float(-3.46)
        );
        assert!(!observation_point(&at, time, &[], false)
            .tags
            .contains_key("source"));
    }
}
