//! `/entity/{id}/control`: a house's comfort (room target and tolerance) and heat-curve control
//! settings as a form with typed inputs and units, beside the whole-profile editor of
//! [`super::settings`]. Only the values that change are written, in place in the file's text
//! ([`super::json_edit`]); the result is checked as `hemflux check` checks it (errors name the
//! field, shown beside it), replaced atomically, and audited with the section before and after.
//! Who may open it: as the profile editor (users with the house; viewers get 403).

use std::fmt::Write;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hemflux_shared::config::control::ControlConfig;
use hemflux_shared::config::{parse_entity, EntityKind};
use serde_json::Value;

use super::html::{csrf_field, esc, page as frame};
use super::i18n::{with_lang_cookie, Lang, PageLang};
use super::settings::EditableProfile;
use crate::auth::Principal;
use crate::http::AppState;

const SECTION: &str = "heat_curve_control";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Number,
    Whole,
    Flag,
    Mode,
}

/// One input: its path in the section, kind, unit, and whether it belongs to comfort.
struct Field {
    path: &'static str,
    kind: Kind,
    unit: &'static str,
    comfort: bool,
}

const fn f(path: &'static str, kind: Kind, unit: &'static str, comfort: bool) -> Field {
    Field {
        path,
        kind,
        unit,
        comfort,
    }
}

const FIELDS: &[Field] = &[
    f("target", Kind::Number, "°C", true),
    f("tolerance", Kind::Number, "°C", true),
    f("enabled", Kind::Flag, "", false),
    f("mode", Kind::Mode, "", false),
    f("max_supply_temp", Kind::Number, "°C", false),
    f("reduction_hours", Kind::Number, "h", false),
    f("min_write_step", Kind::Number, "°C", false),
    f("default_tau_hours", Kind::Number, "h", false),
    f("pi.gain", Kind::Number, "", false),
    f("pi.integral_minutes", Kind::Number, "min", false),
    f("pi.dead_band_fraction", Kind::Number, "", false),
    f("poll_interval_secs", Kind::Whole, "s", false),
    f("forecast_interval_secs", Kind::Whole, "s", false),
];

/// The section as it applies now: the file's values over the defaults.
fn effective(profile: &Value) -> Value {
    let mut v = serde_json::to_value(ControlConfig::default()).unwrap_or(Value::Null);
    if let Some(section) = profile.get(SECTION) {
        merge(&mut v, section);
    }
    v
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

/// The form's value for `field` as JSON text, or the error to show beside it.
fn parse(field: &Field, form: &[(String, String)]) -> Result<String, String> {
    let raw = form
        .iter()
        .find(|(k, _)| k == field.path)
        .map(|(_, v)| v.trim());
    match field.kind {
        Kind::Flag => Ok(raw.is_some_and(|v| v == "on" || v == "true").to_string()),
        Kind::Mode => match raw {
            Some(m @ ("reduction" | "intelligent")) => Ok(format!("\"{m}\"")),
            other => Err(format!("{other:?}: reduction or intelligent")),
        },
        Kind::Number => match raw.map(|r| r.replace(',', ".").parse::<f64>()) {
            Some(Ok(x)) if x.is_finite() => Ok(serde_json::to_string(&x).unwrap_or_default()),
            _ => Err(format!("{:?} is not a number", raw.unwrap_or(""))),
        },
        Kind::Whole => match raw.map(str::parse::<u64>) {
            Some(Ok(n)) => Ok(n.to_string()),
            _ => Err(format!("{:?} is not a whole number", raw.unwrap_or(""))),
        },
    }
}

fn form_html(
    lang: Lang,
    who: &Principal,
    id: &str,
    shown: &Value,
    errors: &[(String, String)],
) -> String {
    let mut out = format!(r#"<h1>{} · {}</h1>"#, esc(id), lang.t("control_settings"));
    if !errors.is_empty() {
        out.push_str(r#"<ul id="error" class="bad" role="alert">"#);
        for (path, e) in errors {
            let _ = write!(out, r#"<li data-field="{}">{}</li>"#, esc(path), esc(e));
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        r#"<form method="post" id="control-form" class="stack">{}"#,
        csrf_field(who)
    );
    for (comfort, legend) in [(true, "comfort"), (false, "heat_curve_control")] {
        let _ = write!(
            out,
            r#"<fieldset class="settings"><legend>{}</legend>"#,
            lang.t(legend)
        );
        for field in FIELDS.iter().filter(|f| f.comfort == comfort) {
            let name = field.path;
            let dom = name.replace('.', "-");
            let value = get(shown, name);
            let input = match field.kind {
                Kind::Flag => format!(
                    r#"<input type="checkbox" name="{name}" id="{dom}"{}>"#,
                    if value == &Value::Bool(true) {
                        " checked"
                    } else {
                        ""
                    }
                ),
                Kind::Mode => {
                    let mut s = format!(r#"<select name="{name}" id="{dom}">"#);
                    for m in ["intelligent", "reduction"] {
                        let sel = if value.as_str() == Some(m) {
                            " selected"
                        } else {
                            ""
                        };
                        let _ = write!(s, r#"<option value="{m}"{sel}>{m}</option>"#);
                    }
                    s + "</select>"
                }
                Kind::Number | Kind::Whole => format!(
                    r#"<input type="number" step="{}" name="{name}" id="{dom}" value="{}">"#,
                    if field.kind == Kind::Whole {
                        "1"
                    } else {
                        "any"
                    },
                    esc(&value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_string)),
                ),
            };
            let error = errors
                .iter()
                .find(|(p, _)| p == &format!("{SECTION}.{name}"))
                .map(|(p, e)| {
                    // Beside the field, the message without the file and field it names.
                    let short = e
                        .split_once(&format!("{p}: "))
                        .map_or(e.as_str(), |(_, m)| m);
                    format!(
                        r#" <span class="bad" id="error-{dom}">{}</span>"#,
                        esc(short)
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                out,
                r#"<label>{label} <code>{SECTION}.{name}</code><span>{input} {unit}{error}</span></label>"#,
                label = lang.t(name),
                unit = field.unit,
            );
        }
        out.push_str("</fieldset>");
    }
    let _ = write!(
        out,
        r#"<button id="save-control">{}</button></form><p><a href="/entity/{eid}/settings">{}</a></p>"#,
        lang.t("save_settings"),
        lang.t("whole_profile"),
        eid = esc(id)
    );
    out
}

/// The profile's text and value, or why it cannot be read (answered as a server error).
fn read_profile(path: &std::path::Path) -> Result<(String, Value), String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: {e} (fix it in the profile editor)", path.display()))?;
    Ok((text, value))
}

pub async fn edit(
    EditableProfile { who, id, path }: EditableProfile,
    PageLang { lang, chosen }: PageLang,
) -> Response {
    let (_, profile) = match read_profile(&path) {
        Ok(p) => p,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    let body = form_html(lang, &who, &id, &effective(&profile), &[]);
    with_lang_cookie(chosen, lang, frame(lang, &id, &who, &body))
}

pub async fn save(
    EditableProfile { who, id, path }: EditableProfile,
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let lang = Lang::from_request(None, &headers);
    let (mut text, profile) = match read_profile(&path) {
        Ok(p) => p,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    let original = text.clone();
    let current = effective(&profile);
    let mut errors = Vec::new();
    let mut shown = current.clone();
    for field in FIELDS {
        let new = match parse(field, &form) {
            Ok(new) => new,
            Err(e) => {
                let at = format!("{SECTION}.{}", field.path);
                errors.push((at.clone(), format!("{at}: {e}")));
                continue;
            }
        };
        let new_value: Value = serde_json::from_str(&new).unwrap_or(Value::Null);
        let old = get(&current, field.path);
        let same = match (old.as_f64(), new_value.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => old == &new_value,
        };
        if same {
            continue;
        }
        let mut keys = vec![SECTION];
        keys.extend(field.path.split('.'));
        match super::json_edit::set(&text, &keys, &new) {
            Ok(t) => text = t,
            Err(e) => {
                let at = format!("{SECTION}.{}", field.path);
                errors.push((at.clone(), format!("{at}: {e:#}")));
            }
        }
        merge(&mut shown, &path_value(field.path, new_value));
    }
    if errors.is_empty() {
        if let Err(problems) = parse_entity(EntityKind::House, &path, &text) {
            errors = problems
                .iter()
                .map(|p| (p.path.clone(), p.to_string()))
                .collect();
        }
    }
    if !errors.is_empty() {
        let body = form_html(lang, &who, &id, &shown, &errors);
        let mut resp = with_lang_cookie(false, lang, frame(lang, &id, &who, &body));
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return resp;
    }
    if text == original {
        // Nothing changed: nothing to write or audit.
        return Redirect::to(&format!("/entity/{id}")).into_response();
    }
    let before = profile.get(SECTION).cloned();
    if let Err(e) = crate::onboard::files::write_atomic(&path, text.as_bytes(), 0o644) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response();
    }
    let after = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get(SECTION).cloned());
    let what = format!("edit control settings of {id}");
    if let Err(e) = crate::users::audit::record(&state.users, &who, &what, before, after) {
        tracing::error!("recording {what:?} in the audit log: {e:#}");
    }
    Redirect::to(&format!("/entity/{id}")).into_response()
}

/// `{"a": {"b": v}}` for path `a.b`.
fn path_value(path: &str, v: Value) -> Value {
    path.rsplit('.').fold(v, |v, k| {
        Value::Object([(k.to_string(), v)].into_iter().collect())
    })
}
