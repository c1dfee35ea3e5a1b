//! The energy company's `energy_*.txt`: `;`-separated, a header row, maybe a UTF-8 BOM;
//! `timestamp;serviceID;meterStand;consumption;volume;temperatureIn;temperatureOut`.

use std::collections::BTreeMap;

use jiff::Timestamp;

/// One hour of one meter.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub time: Timestamp,
    pub meter_id: String,
    /// Stored field name to value; missing or unparseable values are left out.
    pub fields: BTreeMap<&'static str, f64>,
}

/// A file's rows, and what is wrong with it (each naming the file and line).
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub problems: Vec<String>,
}

/// File columns (lower-cased) and the fields they are stored as.
const COLUMNS: [(&str, &str); 5] = [
    ("meterstand", "meter_reading"),
    ("consumption", "consumption"),
    ("volume", "volume"),
    ("temperaturein", "primary_temp_in"),
    ("temperatureout", "primary_temp_out"),
];

/// Parses one file. `known` says whether a meter id is configured; rows of unknown meters are
/// problems (the file is kept), but the other rows still count.
pub fn parse(name: &str, text: &str, known: impl Fn(&str) -> bool) -> Parsed {
    let mut out = Parsed::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        out.problems.push(format!("{name}: the file is empty"));
        return out;
    };
    let header: Vec<String> = header.split(';').map(|h| h.trim().to_lowercase()).collect();
    let col = |want: &str| header.iter().position(|h| h == want);
    let (Some(ts_col), Some(id_col)) = (col("timestamp"), col("serviceid")) else {
        out.problems.push(format!(
            "{name}:1: the header has no timestamp and serviceID columns"
        ));
        return out;
    };
    let value_cols: Vec<(usize, &'static str)> = COLUMNS
        .iter()
        .filter_map(|(c, field)| col(c).map(|i| (i, *field)))
        .collect();
    for (i, line) in lines {
        let at = format!("{name}:{}", i + 1);
        let cells: Vec<&str> = line.split(';').map(str::trim).collect();
        let cell = |i: usize| cells.get(i).copied().unwrap_or("");
        let raw_ts = cell(ts_col);
        let Ok(time) = raw_ts.parse::<Timestamp>() else {
            out.problems.push(format!(
                "{at}: timestamp {raw_ts:?} is not a UTC time like 2026-01-28T23:00:00Z"
            ));
            continue;
        };
        let meter_id = cell(id_col);
        if !known(meter_id) {
            out.problems.push(format!(
                "{at}: meter {meter_id:?} is not listed in any profile's meter_ids"
            ));
            continue;
        }
        let fields: BTreeMap<&'static str, f64> = value_cols
            .iter()
            .filter_map(|(i, field)| number(cell(*i)).map(|v| (*field, v)))
            .collect();
        if fields.is_empty() {
            out.problems.push(format!("{at}: no values"));
            continue;
        }
        out.rows.push(Row {
            time,
            meter_id: meter_id.to_string(),
            fields,
        });
    }
    if out.rows.is_empty() && out.problems.is_empty() {
        out.problems.push(format!("{name}: no data rows"));
    }
    out
}

/// A number, with a decimal comma allowed; `-`, empty, `null` and `N/A` are missing.
fn number(cell: &str) -> Option<f64> {
    match cell.to_ascii_lowercase().as_str() {
        "" | "-" | "null" | "n/a" => None,
        s => s
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_decimal_comma_missing_values_and_extra_columns() {
        let text = "\u{feff}Timestamp;serviceID;meterStand;consumption;volume;temperatureIn;temperatureOut;extra\n\
                    2026-01-28T23:00:00Z;7359;6920;3;0,08;64,24;33.9;x\n\
                    2026-01-29T00:00:00Z;7359;6923;3;-;N/A;;x\n";
        let p = parse("energy_20260129.txt", text, |m| m == "7359");
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].fields["volume"], 0.08);
        assert_eq!(p.rows[0].fields["primary_temp_in"], 64.24);
        assert_eq!(
            p.rows[1].fields.keys().copied().collect::<Vec<_>>(),
            ["consumption", "meter_reading"]
        );
    }

    #[test]
    fn a_bad_line_is_named_and_the_rest_still_parse() {
        let text = "timestamp;serviceID;meterStand;consumption\n2026-01-28T23:00:00Z;7359;1;1\n28.01.2026 24:00;7359;2;1\n2026-01-29T01:00:00Z;9999;3;1\n";
        let p = parse("energy_x.txt", text, |m| m == "7359");
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.problems.len(), 2);
        assert!(
            p.problems[0].starts_with("energy_x.txt:3: timestamp"),
            "{}",
            p.problems[0]
        );
        assert!(
            p.problems[1].starts_with("energy_x.txt:4: meter \"9999\""),
            "{}",
            p.problems[1]
        );
    }
}
