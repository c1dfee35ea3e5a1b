//! Daily tasks on the entity's local wall clock (the seed's `daily_tasks`), surviving restarts:
//! the state records the last occurrence of each slot that ran, so a slot that ran is not rerun
//! and one that was missed (however many times) runs once.

use std::collections::BTreeMap;

use hemflux_shared::config::ScheduleSlot;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The daily tasks (gap fill; the energy pipeline), as profiles name them.
pub use hemflux_shared::config::ScheduledTask as Task;

/// A task at a local time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub task: Task,
    pub at: Time,
}

impl From<ScheduleSlot> for Slot {
    fn from(s: ScheduleSlot) -> Slot {
        Slot {
            task: s.task,
            at: s.at,
        }
    }
}

impl Slot {
    fn key(&self) -> String {
        let task = match self.task {
            Task::GapFill => "gap_fill",
            Task::EnergyPipeline => "energy_pipeline",
        };
        format!("{task}@{}", self.at)
    }

    /// The first occurrence after `now`.
    fn next(&self, tz: &TimeZone, now: Timestamp) -> Timestamp {
        let today = super::days::local_date(now, tz);
        let t = on(self.at, today, tz);
        if t > now {
            t
        } else {
            on(self.at, today.tomorrow().expect("in range"), tz)
        }
    }
}

/// The instant of a local time of day on a local date (a time skipped by DST runs at the first
/// instant after the gap, and a repeated one at its first occurrence).
fn on(at: Time, date: Date, tz: &TimeZone) -> Timestamp {
    date.to_datetime(at)
        .to_zoned(tz.clone())
        .expect("a local time of a date in range")
        .timestamp()
}

/// The latest occurrence of the local time of day `at` at or before `now`.
pub fn latest_occurrence(at: Time, tz: &TimeZone, now: Timestamp) -> Timestamp {
    let today = super::days::local_date(now, tz);
    let t = on(at, today, tz);
    if t <= now {
        t
    } else {
        on(at, today.yesterday().expect("in range"), tz)
    }
}

/// The seed's slots: gap fill at 07:30 and 12:00, the energy pipeline at 08:00.
pub fn default_slots() -> Vec<Slot> {
    let at = |h, m| Time::new(h, m, 0, 0).expect("a valid time");
    vec![
        Slot {
            task: Task::GapFill,
            at: at(7, 30),
        },
        Slot {
            task: Task::EnergyPipeline,
            at: at(8, 0),
        },
        Slot {
            task: Task::GapFill,
            at: at(12, 0),
        },
    ]
}

/// When the next slot comes after `now` (`None` without slots).
pub fn next_slot(slots: &[Slot], tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    slots.iter().map(|s| s.next(tz, now)).min()
}

/// What has run: per slot, the occurrence it last ran for. Part of the worker's checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub last_run: BTreeMap<String, Timestamp>,
}

/// A task to run now, for the slot occurrences it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub task: Task,
    occurrences: Vec<(String, Timestamp)>,
}

impl Due {
    /// The slot occurrences this run stands for: `(slot key, its instant)`.
    pub fn occurrences(&self) -> &[(String, Timestamp)] {
        &self.occurrences
    }
}

impl ScheduleState {
    /// The tasks due at `now`, each once even if several of its slots were missed.
    pub fn due(&self, slots: &[Slot], tz: &TimeZone, now: Timestamp) -> Vec<Due> {
        let mut due: Vec<Due> = Vec::new();
        for slot in slots {
            let (key, latest) = (slot.key(), latest_occurrence(slot.at, tz, now));
            if self.last_run.get(&key).is_some_and(|ran| *ran >= latest) {
                continue;
            }
            match due.iter_mut().find(|d| d.task == slot.task) {
                Some(d) => d.occurrences.push((key, latest)),
                None => due.push(Due {
                    task: slot.task,
                    occurrences: vec![(key, latest)],
                }),
            }
        }
        due
    }

    /// Records that a due task ran (call once it has, before saving the checkpoint).
    pub fn mark_done(&mut self, due: &Due) {
        for (key, at) in &due.occurrences {
            self.last_run.insert(key.clone(), *at);
        }
    }
}

/// Whether k is to be refitted: `every` since the last fit (not since process start).
pub fn recalibration_due(last: Option<Timestamp>, now: Timestamp, every_hours: i64) -> bool {
    last.is_none_or(|l| now.duration_since(l) >= jiff::SignedDuration::from_hours(every_hours))
}

#[cfg(test)]
mod tests;
