//! The sun's elevation above the horizon from a position and an instant (NOAA's low-precision
//! solar position: about 0.01° in declination, plenty for a solar gain term).

use hemflux_shared::config::Location;
use jiff::Timestamp;

/// Elevation of the sun's centre above the horizon in degrees (negative below it), without
/// atmospheric refraction.
pub fn sun_elevation_deg(at: Location, ts: Timestamp) -> f64 {
    let days = ts.as_millisecond() as f64 / 86_400_000.0 - 10_957.5; // since J2000.0 (2000-01-01T12Z)
    let mean_longitude = (280.460 + 0.985_647_4 * days).rem_euclid(360.0);
    let anomaly = (357.528 + 0.985_600_3 * days)
        .rem_euclid(360.0)
        .to_radians();
    let ecliptic_longitude =
        (mean_longitude + 1.915 * anomaly.sin() + 0.020 * (2.0 * anomaly).sin()).to_radians();
    let obliquity = (23.439 - 0.000_000_4 * days).to_radians();
    let declination = (obliquity.sin() * ecliptic_longitude.sin()).asin();
    let right_ascension =
        (obliquity.cos() * ecliptic_longitude.sin()).atan2(ecliptic_longitude.cos());
    let sidereal_hours = (18.697_374_558 + 24.065_709_824_419_08 * days).rem_euclid(24.0);
    let hour_angle = (sidereal_hours * 15.0 + at.lon).to_radians() - right_ascension;
    let lat = at.lat.to_radians();
    (lat.sin() * declination.sin() + lat.cos() * declination.cos() * hour_angle.cos())
        .asin()
        .to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOCKHOLM: Location = Location {
        lat: 59.33,
        lon: 18.07,
    };

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn midsummer_noon_in_stockholm_is_90_minus_lat_plus_tilt() {
        // Solar noon at 18.07° E is 10:48 UTC on 21 June (12:00 − 72 min − 1.7 min equation of
        // time); the elevation is 90 − 59.33 + 23.44 = 54.11°.
        let e = sun_elevation_deg(STOCKHOLM, at("2026-06-21T10:48:00Z"));
        assert!((e - 54.11).abs() < 0.1, "{e}");
    }

    #[test]
    fn midwinter_noon_is_low_and_midnight_is_below_the_horizon() {
        let noon = sun_elevation_deg(STOCKHOLM, at("2026-12-21T10:58:00Z"));
        assert!((noon - (90.0 - 59.33 - 23.44)).abs() < 0.1, "{noon}");
        let midnight = sun_elevation_deg(STOCKHOLM, at("2026-12-21T23:00:00Z"));
        assert!(midnight < -40.0, "{midnight}");
    }

    #[test]
    fn equinox_sun_is_overhead_at_the_equator_and_on_the_horizon_at_6_local() {
        let zenith = sun_elevation_deg(Location { lat: 0.0, lon: 0.0 }, at("2026-03-20T12:07:00Z"));
        assert!(zenith > 89.0, "{zenith}");
        let sunrise =
            sun_elevation_deg(Location { lat: 0.0, lon: 0.0 }, at("2026-03-20T06:07:00Z"));
        assert!(sunrise.abs() < 0.5, "{sunrise}");
    }
}
