//! Changing a few values in a JSON file's text without re-serializing it: every other key, the
//! order of the keys and the spacing stay as the file had them. (`serde_json::Value`
//! would sort the keys and reformat the whole file.)

use std::ops::Range;

use anyhow::{bail, Result};

/// Sets the value at `path` (object keys from the root) to `value` (JSON text), adding the key
/// (and the objects on the way) where it is missing. `text` must be valid JSON with an object
/// at the root.
pub fn set(text: &str, path: &[&str], value: &str) -> Result<String> {
    let Some((last, parents)) = path.split_last() else {
        bail!("an empty path");
    };
    // The deepest existing object on the path, and what is missing below it.
    let mut obj = object_span(text, &[])?;
    let mut depth = 0;
    while depth < parents.len() {
        match find_key(text, obj.clone(), parents[depth])? {
            Some(span) if text.as_bytes().get(span.start) == Some(&b'{') => {
                obj = span;
                depth += 1;
            }
            Some(_) => bail!("{} is not an object", parents[..=depth].join(".")),
            None => break,
        }
    }
    if depth == parents.len() {
        if let Some(span) = find_key(text, obj.clone(), last)? {
            return Ok(format!(
                "{}{value}{}",
                &text[..span.start],
                &text[span.end..]
            ));
        }
    }
    // Build what is missing as one nested value and insert it into `obj`.
    let mut nested = value.to_string();
    let missing: Vec<&str> = parents[depth..]
        .iter()
        .copied()
        .chain(std::iter::once(*last))
        .collect();
    for key in missing[1..].iter().rev() {
        nested = format!("{{\n{}: {nested}\n}}", quote(key));
    }
    Ok(insert(text, obj, missing[0], &nested))
}

fn quote(key: &str) -> String {
    serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""))
}

/// Inserts `"key": value` as the first member of the object spanning `obj`, indented like the
/// object's members (or one step more than the object's line when it has none).
fn insert(text: &str, obj: Range<usize>, key: &str, value: &str) -> String {
    let open = obj.start + 1;
    let inner = &text[open..obj.end - 1];
    let empty = inner.trim().is_empty();
    let line_start = text[..obj.start].rfind('\n').map_or(0, |i| i + 1);
    let outer: String = text[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let lead: String = inner
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect::<String>();
    let first = open + lead.len();
    if !empty && !lead.contains('\n') {
        // A one-line object stays on one line.
        let flat: Vec<&str> = value.split('\n').map(str::trim).collect();
        let flat = flat.join(" ").replace("{ ", "{").replace(" }", "}");
        return format!(
            "{}{}: {flat}, {}",
            &text[..first],
            quote(key),
            &text[first..]
        );
    }
    let indent = if empty {
        format!("{outer}  ")
    } else {
        lead.rsplit('\n').next().unwrap_or("").to_string()
    };
    // Nested objects built by `set` come with bare newlines: indent them a step per level.
    let mut value_text = String::new();
    let mut level = 0usize;
    for (i, line) in value.split('\n').enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('}') {
            level = level.saturating_sub(1);
        }
        if i > 0 {
            value_text.push('\n');
            value_text.push_str(&indent);
            value_text.push_str(&"  ".repeat(level));
        }
        value_text.push_str(trimmed);
        if trimmed.ends_with('{') {
            level += 1;
        }
    }
    let member = format!("{}: {value_text}", quote(key));
    if empty {
        format!(
            "{}\n{indent}{member}\n{outer}{}",
            &text[..open],
            &text[obj.end - 1..]
        )
    } else {
        format!("{}{member},\n{indent}{}", &text[..first], &text[first..])
    }
}

/// The span of the object at `path` (the root for an empty path).
fn object_span(text: &str, path: &[&str]) -> Result<Range<usize>> {
    let b = text.as_bytes();
    let start = skip_ws(b, 0);
    if b.get(start) != Some(&b'{') {
        bail!("the file is not a JSON object");
    }
    let mut span = start..value_end(b, start)?;
    for key in path {
        span = find_key(text, span, key)?.ok_or_else(|| anyhow::anyhow!("no key {key:?}"))?;
    }
    Ok(span)
}

/// The span of the value of `key` among the members of the object spanning `obj`.
fn find_key(text: &str, obj: Range<usize>, key: &str) -> Result<Option<Range<usize>>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, obj.start + 1);
    while i < obj.end && b[i] != b'}' {
        let key_end = value_end(b, i)?;
        let name: String = serde_json::from_str(&text[i..key_end])?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            bail!("expected ':' at byte {i}");
        }
        let start = skip_ws(b, i + 1);
        let end = value_end(b, start)?;
        if name == key {
            return Ok(Some(start..end));
        }
        i = skip_ws(b, end);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    Ok(None)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Where the JSON value starting at `i` ends.
fn value_end(b: &[u8], i: usize) -> Result<usize> {
    match b.get(i) {
        Some(b'"') => {
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    b'\\' => j += 2,
                    b'"' => return Ok(j + 1),
                    _ => j += 1,
                }
            }
            bail!("an unterminated string at byte {i}")
        }
        Some(b'{') | Some(b'[') => {
            let mut j = skip_ws(b, i + 1);
            loop {
                match b.get(j) {
                    Some(b'}') | Some(b']') => return Ok(j + 1),
                    Some(b',') | Some(b':') => j = skip_ws(b, j + 1),
                    Some(_) => j = skip_ws(b, value_end(b, j)?),
                    None => bail!("an unterminated object or array at byte {i}"),
                }
            }
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !b",}] \t\r\n:".contains(&b[j]) {
                j += 1;
            }
            if j == i {
                bail!("expected a value at byte {i}");
            }
            Ok(j)
        }
        None => bail!("expected a value at the end"),
    }
}

#[cfg(test)]
mod tests {
    use super::set;

    const FILE: &str = "{\n  \"name\": \"Villa \\\"x\\\"\",\n  \"homeside\": {\"base_url\": \"http://h/\"},\n  \"heat_curve_control\": {\n    \"enabled\": false,\n    \"target\": 21.0,\n    \"pi\": {\"gain\": 1.25}\n  }\n}\n";

    fn parsed(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn replaces_a_value_in_place_and_nothing_else() {
        let out = set(FILE, &["heat_curve_control", "target"], "22.5").unwrap();
        assert_eq!(out, FILE.replace("21.0", "22.5"));
        let out = set(FILE, &["heat_curve_control", "pi", "gain"], "2.0").unwrap();
        assert_eq!(out, FILE.replace("1.25", "2.0"));
    }

    #[test]
    fn adds_missing_keys_and_sections_indented_like_their_neighbours() {
        let out = set(FILE, &["heat_curve_control", "tolerance"], "0.5").unwrap();
        assert!(
            out.contains(
                "  \"heat_curve_control\": {\n    \"tolerance\": 0.5,\n    \"enabled\": false,"
            ),
            "{out}"
        );
        let out = set(
            &out,
            &["heat_curve_control", "pi", "integral_minutes"],
            "60.0",
        )
        .unwrap();
        assert!(
            out.contains("\"pi\": {\"integral_minutes\": 60.0, \"gain\": 1.25}"),
            "{out}"
        );
        let bare = "{\n  \"name\": \"a\"\n}\n";
        let out = set(bare, &["heat_curve_control", "pi", "gain"], "2.0").unwrap();
        assert_eq!(
            out,
            "{\n  \"heat_curve_control\": {\n    \"pi\": {\n      \"gain\": 2.0\n    }\n  },\n  \"name\": \"a\"\n}\n"
        );
        let out = set("{}", &["heat_curve_control", "enabled"], "true").unwrap();
        assert_eq!(parsed(&out)["heat_curve_control"]["enabled"], true);
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        assert!(set("[1]", &["a"], "1").is_err());
        assert!(set(FILE, &["name", "x"], "1").is_err());
    }
}
