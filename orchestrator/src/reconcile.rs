//! The desired set of workers against the running set: what to start, stop and restart.
//! Pure, so that it is tested on its own.

use std::collections::BTreeMap;

/// Worker id to the hash of everything that shapes it (config, secrets).
pub type Fingerprints = BTreeMap<String, u64>;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub start: Vec<String>,
    pub stop: Vec<String>,
    pub restart: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.start.is_empty() && self.stop.is_empty() && self.restart.is_empty()
    }
}

pub fn plan(desired: &Fingerprints, running: &Fingerprints) -> Plan {
    let mut plan = Plan::default();
    for (id, hash) in desired {
        match running.get(id) {
            None => plan.start.push(id.clone()),
            Some(h) if h != hash => plan.restart.push(id.clone()),
            Some(_) => {}
        }
    }
    plan.stop = running
        .keys()
        .filter(|id| !desired.contains_key(*id))
        .cloned()
        .collect();
    plan
}

/// First-poll delays for `n` workers started together: evenly spread over `window_ms`, so that
/// 300 houses starting at once do not all poll in the same second.
pub fn stagger_offset(index: usize, n: usize, window_ms: u64) -> u64 {
    window_ms * index as u64 / n.max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[(&str, u64)]) -> Fingerprints {
        items.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn new_gone_and_changed() {
        let p = plan(
            &set(&[("a", 1), ("b", 2), ("c", 3)]),
            &set(&[("b", 2), ("c", 4), ("d", 5)]),
        );
        assert_eq!(p.start, ["a"]);
        assert_eq!(p.restart, ["c"]);
        assert_eq!(p.stop, ["d"]);
    }

    #[test]
    fn a_fleet_start_is_spread_over_the_window() {
        let offsets: Vec<u64> = (0..300).map(|i| stagger_offset(i, 300, 60_000)).collect();
        assert_eq!(offsets[0], 0);
        assert_eq!(offsets[150], 30_000);
        assert_eq!(offsets[299], 59_800);
        // At most 5 first polls in any one second.
        let busiest = (0..60)
            .map(|s| offsets.iter().filter(|o| **o / 1000 == s).count())
            .max();
        assert_eq!(busiest, Some(5));
    }

    #[test]
    fn nothing_to_do_when_equal() {
        let s = set(&[("a", 1), ("b", 2)]);
        assert!(plan(&s, &s).is_empty());
    }

    #[test]
    fn empty_desired_stops_everything() {
        let p = plan(&set(&[]), &set(&[("a", 1), ("b", 2)]));
        assert_eq!(p.stop, ["a", "b"]);
        assert!(p.start.is_empty() && p.restart.is_empty());
    }

    #[test]
    fn one_change_among_many_touches_only_that_one() {
        let running: Fingerprints = (0..50).map(|i| (format!("w{i}"), i)).collect();
        let mut desired = running.clone();
        desired.insert("w17".into(), 999);
        assert_eq!(
            plan(&desired, &running),
            Plan {
                start: vec![],
                stop: vec![],
                restart: vec!["w17".into()]
            }
        );
    }
}
