//! Energy analytics of a house or building (heating.md §2, §5, §6, §8, §9): local days,
//! effective outdoor temperature, the heat-loss coefficient k by regression, the daily split of
//! metered energy into space heating and hot water, gaps, schedules and the energy forecast.
//!
//! Everything is a pure function of its inputs; `now` comes in as an argument. The records come
//! out as [`Point`](hemflux_shared::point::Point)s with the seed's measurement and field names
//! (see [`records`]), ready for a worker to deliver.
//!
//! The thermal analytics consume [`effective::effective_temp`] and the fitted k
//! ([`regression::DailyFit::k_kw_per_k`]).

pub mod analysis;
pub mod days;
pub mod effective;
pub mod forecast;
pub mod gaps;
pub mod hot_water;
pub mod inputs;
pub mod records;
pub mod regression;
pub mod run;
pub mod schedule;
pub mod separation;
pub mod solar;
pub mod synthetic;
