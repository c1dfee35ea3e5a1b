use super::*;

fn obs(temp_c: f64, wind: f64, rh: f64, cloud: f64) -> WeatherObs {
    WeatherObs {
        time: "2026-01-15T12:00:00Z".parse().unwrap(),
        temp_c,
        wind_ms: Some(wind),
        humidity_pct: Some(rh),
        cloud_octas: Some(cloud),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn fixture_a1_wind_4_costs_1_12_degrees() {
    let t = effective_temp(&obs(0.0, 4.0, 50.0, 8.0), None, &Coefficients::default());
    assert!(close(t.value, -1.12), "{t:?}");
    assert!(close(t.wind_effect, -1.12));
}

#[test]
fn fixture_a2_humidity_80_costs_0_30_degrees() {
    let t = effective_temp(&obs(0.0, 0.0, 80.0, 8.0), None, &Coefficients::default());
    assert!(close(t.value, -0.30), "{t:?}");
}

#[test]
fn fixture_a3_flipped_no_position_means_no_sun_term_even_by_day() {
    // The seed added ks·(1 − cloud/8)·0.5 = 7.5 at any hour without a position (12.5); with no
    // position there is no way to know whether the sun is up, so hemflux adds nothing.
    let t = effective_temp(&obs(5.0, 0.0, 50.0, 0.0), None, &Coefficients::default());
    assert!(close(t.value, 5.0), "{t:?}");
    assert_eq!(t.solar_effect, 0.0);
}

#[test]
fn fixture_a4_sun_at_30_degrees_under_half_cloud_adds_4_125() {
    let c = Coefficients::default();
    let t = effective_temp(&obs(0.0, 0.0, 50.0, 4.0), Some(30.0), &c);
    assert!(close(t.value, 4.125), "{t:?}");
    assert_eq!(
        effective_temp(&obs(0.0, 0.0, 50.0, 4.0), Some(0.0), &c).value,
        0.0
    );
    assert_eq!(
        effective_temp(&obs(0.0, 0.0, 50.0, 4.0), Some(-10.0), &c).value,
        0.0
    );
}

#[test]
fn fixture_a5_one_coefficient_set_per_entity_ml2_values() {
    let ml2 = Coefficients {
        wind: 0.15,
        humidity: 0.01,
        solar: 6.0,
    };
    let t = effective_temp(&obs(0.0, 4.0, 50.0, 8.0), None, &ml2);
    assert!(close(t.value, -0.30), "{t:?}");
}

#[test]
fn missing_wind_and_humidity_take_the_seeds_defaults() {
    let mut o = obs(0.0, 0.0, 0.0, 8.0);
    (o.wind_ms, o.humidity_pct) = (None, None);
    let t = effective_temp(&o, None, &Coefficients::default());
    assert!(close(t.value, -0.56 * 3f64.sqrt() - 0.1), "{t:?}");
}

#[test]
fn the_sun_term_follows_the_computed_elevation_and_is_zero_at_night() {
    let c = Coefficients::default();
    let stockholm = Some(Location {
        lat: 59.33,
        lon: 18.07,
    });
    let hourly = [WeatherObs {
        time: "2026-06-21T10:00:00Z".parse().unwrap(),
        ..obs(15.0, 0.0, 50.0, 0.0)
    }];
    let w = WeatherAsOf::new(&hourly, DEFAULT_MAX_WEATHER_AGE);
    let noon =
        effective_temp_at(&w, stockholm, &c, "2026-06-21T10:48:00Z".parse().unwrap()).unwrap();
    assert!(
        (noon.solar_effect - 15.0 * 54.11f64.to_radians().sin()).abs() < 0.02,
        "{noon:?}"
    );
    let night = WeatherObs {
        time: "2026-06-21T22:00:00Z".parse().unwrap(),
        ..hourly[0]
    };
    let w = WeatherAsOf::new(std::slice::from_ref(&night), DEFAULT_MAX_WEATHER_AGE);
    let dark =
        effective_temp_at(&w, stockholm, &c, "2026-06-21T23:00:00Z".parse().unwrap()).unwrap();
    assert_eq!(dark.solar_effect, 0.0);
}

#[test]
fn weather_joins_as_of_the_preceding_observation_not_on_an_exact_15_minute_key() {
    // Hourly observations; the seed looked up 10:45 exactly, found nothing and used defaults.
    let hourly: Vec<WeatherObs> = (9..12)
        .map(|h| WeatherObs {
            time: format!("2026-01-15T{h:02}:00:00Z").parse().unwrap(),
            ..obs(f64::from(h), 1.0, 50.0, 8.0)
        })
        .collect();
    let w = WeatherAsOf::new(&hourly, DEFAULT_MAX_WEATHER_AGE);
    let at = |s: &str| w.at(s.parse().unwrap()).map(|o| o.temp_c);
    assert_eq!(at("2026-01-15T10:45:00Z"), Some(10.0));
    assert_eq!(at("2026-01-15T10:00:00Z"), Some(10.0));
    assert_eq!(
        at("2026-01-15T08:59:00Z"),
        None,
        "nothing before the first observation"
    );
    assert_eq!(
        at("2026-01-15T14:00:00Z"),
        Some(11.0),
        "3 h old is still fresh enough"
    );
    assert_eq!(
        at("2026-01-15T14:01:00Z"),
        None,
        "older than 3 h is not used"
    );
}
