//! Finds the line of a meter or of one of its keys in the YAML text, for errors found after
//! parsing (serde only knows where syntax and type errors are).

pub struct Locator<'a> {
    lines: Vec<&'a str>,
    /// 0-based line of each meter entry's `meter_id:`, in file order.
    entries: Vec<usize>,
}

/// The key a line starts, list dash and indentation stripped.
fn key_of(line: &str) -> Option<&str> {
    let body = line.trim_start();
    let body = body.strip_prefix("- ").unwrap_or(body).trim_start();
    let body = body.strip_prefix('{').unwrap_or(body).trim_start();
    let (key, _) = body.split_once(':')?;
    Some(key.trim().trim_matches('"').trim_matches('\''))
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let entries = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| key_of(l) == Some("meter_id"))
            .map(|(i, _)| i)
            .collect();
        Locator { lines, entries }
    }

    /// 1-based line of `key` inside meter entry `n`, else the entry's line.
    pub fn key(&self, n: usize, key: &str) -> usize {
        let Some(&from) = self.entries.get(n) else {
            return 0;
        };
        let to = self.entries.get(n + 1).copied().unwrap_or(self.lines.len());
        (from..to)
            .find(|&i| key_of(self.lines[i]) == Some(key))
            .map_or(from + 1, |i| i + 1)
    }

    /// 1-based line of the first line at or below `key` of entry `n` that mentions `value`.
    pub fn value(&self, n: usize, key: &str, value: &str) -> usize {
        let from = self.key(n, key).saturating_sub(1);
        let to = self.entries.get(n + 1).copied().unwrap_or(self.lines.len());
        (from..to.max(from))
            .find(|&i| self.lines[i].contains(value))
            .map_or(from + 1, |i| i + 1)
    }

    /// 1-based line of item `k` of the list under `key` of entry `n` (else the key's line).
    pub fn item(&self, n: usize, key: &str, k: usize) -> usize {
        let at = self.key(n, key).saturating_sub(1);
        let to = self.entries.get(n + 1).copied().unwrap_or(self.lines.len());
        let indent = |l: &str| l.len() - l.trim_start().len();
        let items: Vec<usize> = (at + 1..to.max(at + 1))
            .filter(|&i| self.lines[i].trim_start().starts_with("- "))
            .collect();
        let Some(&first) = items.first() else {
            return at + 1;
        };
        let width = indent(self.lines[first]);
        items
            .into_iter()
            .filter(|&i| indent(self.lines[i]) == width)
            .nth(k)
            .map_or(at + 1, |i| i + 1)
    }

    /// 1-based line of the first `key:` anywhere (a top-level key, a pattern's meter id).
    pub fn first(&self, key: &str) -> usize {
        self.lines
            .iter()
            .position(|l| key_of(l) == Some(key))
            .map_or(0, |i| i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_entries_and_keys() {
        let text = "meters:\n  - meter_id: \"a\"\n    type: physical\n  - type: master\n    meter_id: b\n    periods: []\n";
        let loc = Locator::new(text);
        assert_eq!((loc.key(0, "meter_id"), loc.key(1, "meter_id")), (2, 5));
        assert_eq!(loc.key(0, "type"), 3);
        assert_eq!(loc.key(1, "periods"), 6);
        assert_eq!(loc.key(1, "nothing"), 5);
        assert_eq!(loc.first("meters"), 1);
        let text = "meters:\n  - meter_id: m\n    periods:\n      - start_date: a\n        source_meters:\n          - x\n      - start_date: b\n";
        let loc = Locator::new(text);
        assert_eq!(
            (loc.item(0, "periods", 0), loc.item(0, "periods", 1)),
            (4, 7)
        );
        assert_eq!(loc.value(0, "periods", "x"), 6);
    }
}
