use super::*;

fn stockholm() -> TimeZone {
    TimeZone::get("Europe/Stockholm").unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Runs everything due at `now` and returns the tasks, as a worker would.
fn tick(state: &mut ScheduleState, now: &str) -> Vec<Task> {
    let due = state.due(&default_slots(), &stockholm(), at(now));
    due.iter().for_each(|d| state.mark_done(d));
    due.iter().map(|d| d.task).collect()
}

#[test]
fn a_day_runs_each_slot_once_on_the_local_wall_clock() {
    use Task::{EnergyPipeline, GapFill};
    let mut s = ScheduleState::default();
    // Winter: 07:30 Stockholm is 06:30Z. The first start catches up on yesterday's slots once.
    let day: [(&str, &[Task]); 8] = [
        ("2026-01-15T06:00:00Z", &[GapFill, EnergyPipeline]),
        ("2026-01-15T06:29:00Z", &[]),
        ("2026-01-15T06:30:00Z", &[GapFill]),
        ("2026-01-15T06:45:00Z", &[]),
        ("2026-01-15T07:00:00Z", &[EnergyPipeline]),
        ("2026-01-15T10:59:00Z", &[]),
        ("2026-01-15T11:00:00Z", &[GapFill]),
        ("2026-01-15T22:00:00Z", &[]),
    ];
    for (now, tasks) in day {
        assert_eq!(tick(&mut s, now), tasks, "at {now}");
    }
}

#[test]
fn restart_mid_schedule_neither_reruns_nor_skips() {
    let mut s = ScheduleState::default();
    tick(&mut s, "2026-01-15T05:00:00Z");
    assert_eq!(tick(&mut s, "2026-01-15T06:31:00Z"), vec![Task::GapFill]);
    // The state goes through the checkpoint (JSON) and the worker restarts at 07:10Z (08:10
    // local): the 08:00 pipeline was missed and runs once; 07:30 does not run again.
    let mut restarted: ScheduleState =
        serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(
        tick(&mut restarted, "2026-01-15T07:10:00Z"),
        vec![Task::EnergyPipeline]
    );
    // Another restart right after: nothing.
    assert_eq!(tick(&mut restarted, "2026-01-15T07:11:00Z"), vec![]);
    // Down from 10:00Z to 14:00Z: the 12:00 gap fill runs once, late.
    assert_eq!(
        tick(&mut restarted, "2026-01-15T14:00:00Z"),
        vec![Task::GapFill]
    );
}

#[test]
fn three_missed_days_run_each_task_once() {
    let mut s = ScheduleState::default();
    tick(&mut s, "2026-01-15T12:00:00Z");
    assert_eq!(
        tick(&mut s, "2026-01-18T12:00:00Z"),
        vec![Task::GapFill, Task::EnergyPipeline]
    );
    assert_eq!(tick(&mut s, "2026-01-18T12:01:00Z"), vec![]);
}

#[test]
fn slots_follow_summer_time() {
    let mut s = ScheduleState::default();
    tick(&mut s, "2026-03-28T12:00:00Z");
    // 29 March is 23 hours long: 08:00 CEST is 06:00Z.
    assert_eq!(tick(&mut s, "2026-03-29T05:59:00Z"), vec![Task::GapFill]);
    assert_eq!(
        tick(&mut s, "2026-03-29T06:00:00Z"),
        vec![Task::EnergyPipeline]
    );
}

#[test]
fn recalibration_is_timed_from_the_last_fit_not_from_process_start() {
    let last = at("2026-01-15T07:00:00Z");
    assert!(recalibration_due(None, last, 72));
    assert!(!recalibration_due(
        Some(last),
        at("2026-01-18T06:59:00Z"),
        72
    ));
    assert!(recalibration_due(
        Some(last),
        at("2026-01-18T07:00:00Z"),
        72
    ));
}

#[test]
fn the_next_slot_is_the_first_local_occurrence_after_now() {
    let tz = stockholm();
    let slots = default_slots();
    // 06:30Z is 07:30 in Stockholm in winter: that slot is due now, the next is 08:00.
    let next = next_slot(&slots, &tz, at("2026-01-15T06:30:00Z"));
    assert_eq!(next, Some(at("2026-01-15T07:00:00Z")));
    // After 12:00 the next is tomorrow's 07:30; across the spring change it is 05:30Z.
    let next = next_slot(&slots, &tz, at("2026-03-28T12:00:00Z"));
    assert_eq!(next, Some(at("2026-03-29T05:30:00Z")));
    assert_eq!(next_slot(&[], &tz, at("2026-01-15T06:30:00Z")), None);
}
