//! `/`: the fleet at a glance, filtered and searched in the browser, kept live by `/events`.

use std::fmt::Write;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::fleet::{overview_model, EntityRow};
use super::html::{esc, page as frame};
use super::i18n::{with_lang_cookie, Lang, PageLang};
use super::meters::{visible_meters, MeterInfo};
use crate::auth::{ApiReader, PageUser};
use crate::http::AppState;
use crate::sinks::SinkStatus;

/// Everything the overview shows, for the page, `/api/overview` and the live updates.
#[derive(Serialize)]
pub struct Overview {
    pub entities: Vec<EntityRow>,
    /// The meters of `meters.yaml` the caller may see.
    pub meters: Vec<MeterInfo>,
    pub sinks: Vec<SinkStatus>,
    pub config_errors: Vec<String>,
}

/// The overview for a caller who sees the entities `can_see` allows; config problems only
/// for those who see everything.
pub async fn load(
    state: &AppState,
    can_see: impl Fn(&str) -> bool,
    sees_all: bool,
) -> Result<Overview, Response> {
    let snapshot = crate::http::snapshot(state).await?;
    let store = state.store.clone();
    let workers = snapshot.workers;
    let visible: Vec<String> = workers
        .iter()
        .map(|w| super::fleet::entity_of(&w.id).1.to_string())
        .filter(|id| can_see(id))
        .collect();
    let entities = tokio::task::spawn_blocking(move || {
        let reader = store.reader()?;
        overview_model(
            &workers,
            &reader,
            |id| visible.iter().any(|v| v == id),
            now_ns(),
        )
    })
    .await
    .map_err(|e| internal(&e.to_string()))?
    .map_err(|e| internal(&format!("{e:#}")))?;
    Ok(Overview {
        entities,
        meters: visible_meters(&state.meters, &can_see, sees_all),
        sinks: state.sinks.status(),
        config_errors: if sees_all {
            snapshot.config_errors
        } else {
            Vec::new()
        },
    })
}

pub fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

fn internal(why: &str) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, why.to_string()).into_response()
}

pub async fn json(reader: ApiReader, State(state): State<AppState>) -> Response {
    match load(&state, |id| reader.can_see(id), reader.sees_all()).await {
        Ok(o) => Json(o).into_response(),
        Err(r) => r,
    }
}

pub async fn page(
    PageUser(who): PageUser,
    State(state): State<AppState>,
    PageLang { lang, chosen }: PageLang,
) -> Response {
    let overview = match load(&state, |id| who.can_see(id), who.is_admin()).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let body = render(lang, &overview);
    with_lang_cookie(chosen, lang, frame(lang, lang.t("overview"), &who, &body))
}

/// The overview's body: the sinks' lag, the filters, and the table of entities.
pub fn render(lang: Lang, o: &Overview) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<section class="summary" id="sinks">{}</section>"#,
        sinks_html(lang, o)
    );
    let _ = write!(
        out,
        r#"<form class="filters" role="search" onsubmit="return false">
<input type="search" id="search" placeholder="{search}" aria-label="{search}">
<select id="kind"><option value="">{all_kinds}</option><option value="house">{house}</option><option value="building">{building}</option><option value="service">{service}</option></select>
<select id="state"><option value="">{all_states}</option><option value="problem">{problems}</option><option value="running">running</option><option value="failed">failed</option><option value="backoff">backoff</option></select>
<span class="live" id="live" title="{live}">●</span></form>
<table class="fleet" id="fleet"><thead><tr><th>{entity}</th><th>{kind}</th><th>{workers}</th><th>{last_data}</th><th>{alarms}</th><th>{k}</th><th>{dhw}</th></tr></thead>
<tbody id="fleet-rows">{rows}</tbody></table>"#,
        search = lang.t("search"),
        all_kinds = lang.t("all_kinds"),
        house = lang.t("house"),
        building = lang.t("building"),
        service = lang.t("service"),
        all_states = lang.t("all_states"),
        problems = lang.t("problems"),
        live = lang.t("live"),
        entity = lang.t("entity"),
        kind = lang.t("kind"),
        workers = lang.t("workers"),
        last_data = lang.t("last_data"),
        alarms = lang.t("alarms"),
        k = lang.t("k"),
        dhw = lang.t("dhw_share"),
        rows = rows_html(lang, &o.entities),
    );
    if o.entities.is_empty() {
        let _ = write!(out, r#"<p class="empty">{}</p>"#, lang.t("nothing"));
    }
    out.push_str(&meters_html(lang, &o.meters));
    out
}

/// The meters of `meters.yaml`, each linked to its page.
fn meters_html(lang: Lang, meters: &[MeterInfo]) -> String {
    if meters.is_empty() {
        return String::new();
    }
    let mut out = format!(
        r#"<h2>{}</h2><table class="fleet" id="meters"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>"#,
        lang.t("meters"),
        lang.t("meter"),
        lang.t("unit"),
        lang.t("owner"),
    );
    for m in meters {
        let owners: Vec<String> = m.owners.iter().map(|o| esc(o)).collect();
        let _ = write!(
            out,
            r#"<tr data-id="{id}"><td data-label="{meter_t}"><a href="/meter/{id}">{id}</a> {desc}</td><td data-label="{unit_t}">{unit}</td><td data-label="{owner_t}">{owners}</td></tr>"#,
            id = esc(&m.id),
            desc = esc(&m.description),
            unit = esc(&m.unit),
            owners = owners.join(", "),
            meter_t = lang.t("meter"),
            unit_t = lang.t("unit"),
            owner_t = lang.t("owner"),
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The sinks' lag and config problems, also sent live.
pub fn sinks_html(lang: Lang, o: &Overview) -> String {
    let mut out = format!("<h2>{}</h2><ul>", lang.t("sinks"));
    if o.sinks.is_empty() {
        let _ = write!(out, "<li>{}</li>", lang.t("no_sinks"));
    }
    for s in &o.sinks {
        let _ = write!(
            out,
            r#"<li class="{cls}"><b>{name}</b> ({kind}): {behind} {behind_t}, {oldest_t} {age}{err}</li>"#,
            cls = if s.error.is_some() { "bad" } else { "ok" },
            name = esc(&s.name),
            kind = esc(&s.kind),
            behind = s.points_behind,
            behind_t = lang.t("behind"),
            oldest_t = lang.t("oldest"),
            age = s
                .oldest_unsent_age_secs
                .map_or("–".to_string(), |a| format!("{a:.0} s")),
            err = s
                .error
                .as_deref()
                .map_or(String::new(), |e| format!(" — {}", esc(e))),
        );
    }
    out.push_str("</ul>");
    if !o.config_errors.is_empty() {
        let _ = write!(
            out,
            r#"<h2 class="bad">{}</h2><ul>"#,
            lang.t("config_errors")
        );
        for e in &o.config_errors {
            let _ = write!(out, "<li>{}</li>", esc(e));
        }
        out.push_str("</ul>");
    }
    out
}

/// One `<tr>` per entity; the `data-` attributes are what the filters match.
pub fn rows_html(lang: Lang, rows: &[EntityRow]) -> String {
    let mut out = String::with_capacity(rows.len() * 400);
    for r in rows {
        let states: Vec<&str> = r.workers.iter().map(|w| w.state.as_str()).collect();
        let name = if r.kind == "service" {
            esc(&r.id)
        } else {
            format!(r#"<a href="/entity/{0}">{0}</a>"#, esc(&r.id))
        };
        let _ = write!(
            out,
            r#"<tr data-id="{id}" data-kind="{kind}" data-states="{states}{problem}"><td data-label="{entity_t}">{name}</td><td data-label="{kind_t}">{kind_l}</td><td data-label="{workers_t}">"#,
            id = esc(&r.id),
            kind = r.kind,
            states = states.join(" "),
            problem = if r.has_problem() { " problem" } else { "" },
            entity_t = lang.t("entity"),
            kind_t = lang.t("kind"),
            kind_l = lang.t(r.kind),
            workers_t = lang.t("workers"),
        );
        for w in &r.workers {
            let _ = write!(
                out,
                r#"<span class="st st-{state}" title="{title}">{id} <b>{state}</b></span> "#,
                state = w.state.as_str(),
                id = esc(&w.id),
                title = esc(w.error.as_deref().unwrap_or("")),
            );
        }
        let _ = write!(
            out,
            r#"</td><td data-label="{last_t}">{last}</td><td data-label="{alarms_t}" class="{alarm_cls}">{alarms}</td><td data-label="{k_t}">{k}</td><td data-label="{dhw_t}">{dhw}</td></tr>"#,
            last_t = lang.t("last_data"),
            last = r
                .last_data_time
                .as_deref()
                .map_or("–".to_string(), short_time),
            alarms_t = lang.t("alarms"),
            alarm_cls = if r.open_alarms.unwrap_or(0) > 0 {
                "bad"
            } else {
                ""
            },
            alarms = r.open_alarms.map_or("–".to_string(), |n| n.to_string()),
            k_t = lang.t("k"),
            k = r.k_kw_per_k.map_or("–".to_string(), |k| match r.k_r2_adj {
                Some(r2) => format!("{k:.3} <small>R² {r2:.2}</small>"),
                None => format!("{k:.3}"),
            }),
            dhw_t = lang.t("dhw_share"),
            dhw = r
                .dhw_share
                .map_or("–".to_string(), |s| format!("{:.0} %", s * 100.0)),
        );
    }
    out
}

/// `2026-11-29T09:41:07.123Z` as `2026-11-29 09:41:07Z`.
fn short_time(t: &str) -> String {
    match t.parse::<jiff::Timestamp>() {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        Err(_) => esc(t),
    }
}
