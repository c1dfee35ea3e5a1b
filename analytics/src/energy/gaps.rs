//! Gaps in a series (heating.md §8, fixed): a gap is a stretch longer than twice the source's own
//! cadence, so hourly weather is not a gap every hour (the seed used 5 minutes for everything).

use hemflux_shared::config::Location;
use jiff::{SignedDuration, Timestamp};

/// What a series comes from, for its expected cadence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Heating-system polls, at the entity's poll interval.
    Heating(SignedDuration),
    /// Weather observations: hourly.
    Weather,
    /// Meter energy: hourly.
    Energy,
}

impl Source {
    pub fn cadence(self) -> SignedDuration {
        match self {
            Source::Heating(poll) => poll,
            Source::Weather | Source::Energy => SignedDuration::from_hours(1),
        }
    }
}

/// The stretches of `[from, to]` without a point for longer than twice `cadence` (strictly),
/// counted from `from` to the first point, between points, and from the last point to `to`.
/// `times` must be sorted; repeats are harmless. No point at all: the whole range is one gap.
pub fn find_gaps(
    times: &[Timestamp],
    from: Timestamp,
    to: Timestamp,
    cadence: SignedDuration,
) -> Vec<(Timestamp, Timestamp)> {
    let limit = cadence * 2;
    let inside = times.iter().copied().filter(|t| (from..=to).contains(t));
    let mut gaps = Vec::new();
    let mut prev = from;
    for t in inside.chain(std::iter::once(to)) {
        if t.duration_since(prev) > limit {
            gaps.push((prev, t));
        }
        prev = prev.max(t);
    }
    gaps
}

/// A weather backfill to fetch: the observation history at the entity's own position (the seed
/// used the position of whichever house ran the job, for every entity).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeatherRefill {
    pub from: Timestamp,
    pub to: Timestamp,
    pub at: Location,
}

/// The weather refills an entity needs over `[from, to]`; none without a position.
pub fn weather_refills(
    observed: &[Timestamp],
    from: Timestamp,
    to: Timestamp,
    at: Option<Location>,
) -> Vec<WeatherRefill> {
    let Some(at) = at else { return Vec::new() };
    find_gaps(observed, from, to, Source::Weather.cadence())
        .into_iter()
        .map(|(from, to)| WeatherRefill { from, to, at })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hhmm: &str) -> Timestamp {
        format!("2026-01-15T{hhmm}:00Z").parse().unwrap()
    }
    const FIVE: SignedDuration = SignedDuration::from_mins(5);

    #[test]
    fn fixture_g1_one_gap_between_00_10_and_00_30() {
        let pts = [t("00:00"), t("00:05"), t("00:10"), t("00:30"), t("00:35")];
        assert_eq!(
            find_gaps(&pts, t("00:00"), t("00:40"), FIVE),
            vec![(t("00:10"), t("00:30"))]
        );
    }

    #[test]
    fn fixture_g2_points_exactly_twice_the_cadence_apart_are_no_gap() {
        let pts = [t("00:00"), t("00:10"), t("00:20"), t("00:30")];
        assert!(find_gaps(&pts, t("00:00"), t("00:30"), FIVE).is_empty());
    }

    #[test]
    fn fixture_g3_an_empty_range_is_one_gap() {
        assert_eq!(
            find_gaps(&[], t("00:00"), t("06:00"), FIVE),
            vec![(t("00:00"), t("06:00"))]
        );
    }

    #[test]
    fn fixture_g4_flipped_hourly_weather_is_not_a_gap_every_hour_at_its_own_cadence() {
        let day: Vec<Timestamp> = (0..24).map(|h| t(&format!("{h:02}:00"))).collect();
        let end = t("23:00") + SignedDuration::from_hours(1);
        // The seed's 5-minute threshold: every hour is a gap.
        assert_eq!(find_gaps(&day, t("00:00"), end, FIVE).len(), 24);
        // The weather's own cadence: none.
        assert!(find_gaps(&day, t("00:00"), end, Source::Weather.cadence()).is_empty());
        // A missing 3 hours is one.
        let holed: Vec<Timestamp> = day
            .iter()
            .copied()
            .filter(|x| !(t("05:00")..=t("07:00")).contains(x))
            .collect();
        assert_eq!(
            find_gaps(&holed, t("00:00"), end, Source::Weather.cadence()),
            vec![(t("04:00"), t("08:00"))]
        );
    }

    #[test]
    fn weather_refills_ask_for_the_entitys_own_position() {
        let here = Location {
            lat: 63.8,
            lon: 20.3,
        };
        let r = weather_refills(
            &[t("00:00"), t("05:00")],
            t("00:00"),
            t("05:00"),
            Some(here),
        );
        assert_eq!(
            r,
            vec![WeatherRefill {
                from: t("00:00"),
                to: t("05:00"),
                at: here
            }]
        );
        assert!(weather_refills(&[], t("00:00"), t("05:00"), None).is_empty());
    }
}
