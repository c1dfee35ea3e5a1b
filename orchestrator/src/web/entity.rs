//! `/entity/{id}`: one house or building: its workers (with restart), its meters, the
//! purpose-built charts (`/api/entity/{id}/figures`) and a chart of everything else stored for
//! it (`/api/entity/{id}/series`), drawn by `app.js`. `/meter/{id}`: one meter of `meters.yaml`
//! the same way, with its anomaly flags listed.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::fleet::entity_of;
use super::html::{csrf_field, esc, page as frame};
use super::i18n::{with_lang_cookie, Lang, PageLang};
use crate::auth::PageUser;
use crate::http::AppState;

pub async fn page(
    PageUser(who): PageUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageLang { lang, chosen }: PageLang,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, lang.t("not_found")).into_response();
    if !who.can_see(&id) {
        return not_found();
    }
    let snapshot = match crate::http::snapshot(&state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let workers: Vec<_> = snapshot
        .workers
        .into_iter()
        .filter(|w| entity_of(&w.id).1 == id && entity_of(&w.id).0 != "service")
        .collect();
    let store = state.store.clone();
    let key = id.clone();
    let has_data = tokio::task::spawn_blocking(move || {
        store
            .reader()
            .and_then(|r| {
                super::series::entity_series_list(&r, &super::series::Subject::Entity(key))
            })
            .map(|s| !s.is_empty())
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or(false);
    if workers.is_empty() && !has_data {
        return not_found();
    }

    let mut body = format!(
        r#"<h1>{}</h1><section class="workers"><h2>{}</h2><ul>"#,
        esc(&id),
        lang.t("workers")
    );
    for w in &workers {
        let _ = write!(
            body,
            r#"<li><span class="st st-{state}">{wid} <b>{state}</b></span> {err}"#,
            state = w.state.as_str(),
            wid = esc(&w.id),
            err = w.error.as_deref().map(esc).unwrap_or_default(),
        );
        if who.can_change() {
            let _ = write!(
                body,
                r#" <form method="post" action="/web/workers/{wid}/restart" class="inline">{csrf}<button>{restart}</button></form>"#,
                wid = esc(&w.id),
                csrf = csrf_field(&who),
                restart = lang.t("restart"),
            );
        }
        body.push_str("</li>");
    }
    if super::settings::profile_path(&state, &who, &id).is_ok() {
        let _ = write!(
            body,
            r#"<li><a href="/entity/{id}/control" id="edit-control">{}</a> · <a href="/entity/{id}/settings" id="edit-settings">{}</a></li>"#,
            lang.t("control_settings"),
            lang.t("settings"),
            id = esc(&id),
        );
    }
    if who.is_admin() {
        let _ = write!(
            body,
            r#"<li><a href="/entity/{}/remove" id="remove-entity">{}</a></li>"#,
            esc(&id),
            lang.t("remove_entity")
        );
    }
    body.push_str("</ul></section>");
    let meters = super::meters::meters_of(&state.meters, &id, &|e| who.can_see(e), who.is_admin());
    if !meters.is_empty() {
        let _ = write!(
            body,
            r#"<section class="meters"><h2>{}</h2><ul>"#,
            lang.t("meters")
        );
        for m in &meters {
            let _ = write!(
                body,
                r#"<li><a href="/meter/{id}">{id}</a> {desc} ({unit})</li>"#,
                id = esc(&m.id),
                desc = esc(&m.description),
                unit = esc(&m.unit),
            );
        }
        body.push_str("</ul></section>");
    }
    body.push_str(&charts_html(lang, "entity", &id));
    with_lang_cookie(chosen, lang, frame(lang, &id, &who, &body))
}

/// The range picker, the CSV link and the boxes `app.js` draws the charts in.
fn charts_html(lang: Lang, kind: &str, id: &str) -> String {
    format!(
        r#"<form class="range" id="range" onsubmit="return false">
<span>{range}:</span>
<button data-span="86400">24 h</button><button data-span="604800">7 d</button><button data-span="2592000">30 d</button><button data-span="31536000">1 y</button>
<label>{from} <input type="datetime-local" id="from"></label><label>{to} <input type="datetime-local" id="to"></label>
<button id="apply">{show}</button> <a id="csv" href="/api/{kind}/{eid}/csv">{csv}</a></form>
<div id="figures"></div>
<div id="charts" data-kind="{kind}" data-entity="{eid}" data-loading="{loading}" data-empty="{empty}" data-points="{points}"></div>"#,
        range = lang.t("range"),
        from = lang.t("from"),
        to = lang.t("to"),
        show = lang.t("show"),
        eid = esc(id),
        csv = lang.t("csv"),
        loading = lang.t("loading"),
        empty = lang.t("no_data"),
        points = lang.t("points"),
    )
}

/// `/meter/{id}`: a meter the caller may see (through its house or building), else 404.
pub async fn meter_page(
    PageUser(who): PageUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageLang { lang, chosen }: PageLang,
) -> Response {
    let can_see = |e: &str| who.can_see(e);
    let Some(meter) = super::meters::visible_meter(&state.meters, &id, &can_see, who.is_admin())
    else {
        return (StatusCode::NOT_FOUND, lang.t("not_found")).into_response();
    };
    let store = state.store.clone();
    let key = id.clone();
    let flags = tokio::task::spawn_blocking(move || anomalies(&store.reader()?, &key)).await;
    let flags = match flags {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let mut body = format!(
        r#"<h1>{} · {}</h1><p>{} ({})</p><p>{}: "#,
        lang.t("meter"),
        esc(&id),
        esc(&meter.description),
        esc(&meter.unit),
        lang.t("owner"),
    );
    for o in &meter.owners {
        let _ = write!(body, r#"<a href="/entity/{o}">{o}</a> "#, o = esc(o));
    }
    let _ = write!(
        body,
        r#"</p><section class="anomalies"><h2>{}</h2>"#,
        lang.t("anomalies")
    );
    if flags.is_empty() {
        let _ = write!(body, "<p>{}</p>", lang.t("no_anomalies"));
    } else {
        let _ = write!(
            body,
            r#"<table id="anomalies"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>"#,
            lang.t("day"),
            lang.t("flag"),
            lang.t("reason")
        );
        for (time, flag, reason) in &flags {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(time),
                esc(flag),
                esc(reason)
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("</section>");
    body.push_str(&charts_html(lang, "meter", &id));
    with_lang_cookie(chosen, lang, frame(lang, &id, &who, &body))
}

/// A meter's anomaly flags, newest first: (time, flag, reason).
fn anomalies(
    reader: &crate::store::Reader,
    meter: &str,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    let query = crate::store::RangeQuery::new("meter_anomaly").tag("meter_id", meter);
    reader.for_each_point(&query, |series, time, fields| {
        let mut reason = String::new();
        for f in fields {
            if let ("reason", crate::store::RawValue::Str(r)) = f? {
                reason = r.to_string();
            }
        }
        let flag = series.tags.get("flag").cloned().unwrap_or_default();
        out.push((time, flag, reason));
        Ok(())
    })?;
    out.sort_by_key(|p| std::cmp::Reverse(p.0));
    Ok(out
        .into_iter()
        .map(|(t, f, r)| (hemflux_shared::time::from_nanos(t).to_string(), f, r))
        .collect())
}

/// `POST /web/workers/{id}/restart` from the entity page's button. The session guard has
/// already refused it without the session's CSRF token, and refused viewers.
pub async fn restart(
    PageUser(who): PageUser,
    State(state): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = rest.strip_suffix("/restart") else {
        return (StatusCode::NOT_FOUND, "expected /web/workers/<id>/restart").into_response();
    };
    let (_, entity) = entity_of(id);
    if !who.can_see(entity) {
        return (StatusCode::NOT_FOUND, "no such worker").into_response();
    }
    if !who.can_change() {
        return (StatusCode::FORBIDDEN, "you may not change anything here").into_response();
    }
    match crate::http::act_audited(&state, &who, id, "restart", None).await {
        Ok(Ok(_)) => {}
        Ok(Err(why)) => return (StatusCode::CONFLICT, why).into_response(),
        Err(refusal) => return refusal,
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .filter(|r| r.contains("/entity/"))
        .map_or_else(|| format!("/entity/{entity}"), str::to_string);
    Redirect::to(&back).into_response()
}
