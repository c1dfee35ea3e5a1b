//! `/entity/{id}`: one house or building: its workers (with restart) and charts of everything
//! stored for it, drawn by `app.js` from `/api/entity/{id}/series`.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::access::Visitor;
use super::fleet::entity_of;
use super::html::{esc, page as frame};
use super::i18n::Lang;
use super::overview::{with_lang_cookie, LangQuery};
use crate::http::AppState;
use crate::supervisor::Request;

pub async fn page(
    visitor: Visitor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_request(q.lang.as_deref(), &headers);
    let not_found = || (StatusCode::NOT_FOUND, lang.t("not_found")).into_response();
    if !visitor.can_see(&id) {
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
            .and_then(|r| super::series::entity_series_list(&r, &key))
            .map(|s| !s.is_empty())
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or(false);
    if workers.is_empty() && !has_data {
        return not_found();
    }

    let mut body = format!(r#"<h1>{}</h1><section class="workers"><h2>{}</h2><ul>"#, esc(&id), lang.t("workers"));
    for w in &workers {
        let _ = write!(
            body,
            r#"<li><span class="st st-{state}">{wid} <b>{state}</b></span> {err}"#,
            state = w.state.as_str(),
            wid = esc(&w.id),
            err = w.error.as_deref().map(esc).unwrap_or_default(),
        );
        if visitor.can_change() {
            let _ = write!(
                body,
                r#" <form method="post" action="/web/workers/{wid}/restart" class="inline"><input type="hidden" name="csrf" value="{csrf}"><button>{restart}</button></form>"#,
                wid = esc(&w.id),
                csrf = esc(visitor.csrf_token().unwrap_or("")),
                restart = lang.t("restart"),
            );
        }
        body.push_str("</li>");
    }
    let _ = write!(
        body,
        r#"</ul></section>
<form class="range" id="range" onsubmit="return false">
<span>{range}:</span>
<button data-span="86400">24 h</button><button data-span="604800">7 d</button><button data-span="2592000">30 d</button><button data-span="31536000">1 y</button>
<label>{from} <input type="datetime-local" id="from"></label><label>{to} <input type="datetime-local" id="to"></label>
<button id="apply">{show}</button> <a id="csv" href="/api/entity/{eid}/csv">{csv}</a></form>
<div id="charts" data-entity="{eid}" data-loading="{loading}" data-empty="{empty}" data-points="{points}"></div>"#,
        range = lang.t("range"),
        from = lang.t("from"),
        to = lang.t("to"),
        show = lang.t("show"),
        eid = esc(&id),
        csv = lang.t("csv"),
        loading = lang.t("loading"),
        empty = lang.t("no_data"),
        points = lang.t("points"),
    );
    with_lang_cookie(q.lang.is_some(), lang, frame(lang, &id, &visitor, &body))
}

#[derive(Deserialize)]
pub struct ChangeForm {
    pub csrf: Option<String>,
}

/// `POST /web/workers/{id}/restart` from the entity page's button (a form, with its CSRF token).
pub async fn restart(
    visitor: Visitor,
    State(state): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ChangeForm>,
) -> Response {
    let Some(id) = rest.strip_suffix("/restart") else {
        return (StatusCode::NOT_FOUND, "expected /web/workers/<id>/restart").into_response();
    };
    let (_, entity) = entity_of(id);
    let presented = form
        .csrf
        .as_deref()
        .or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()));
    if !visitor.can_change() || !visitor.can_see(entity) {
        return (StatusCode::FORBIDDEN, "you may not change anything here").into_response();
    }
    if !visitor.csrf_ok(presented) {
        return (StatusCode::FORBIDDEN, "the form's CSRF token is missing or wrong").into_response();
    }
    let (reply, rx) = oneshot::channel();
    let sent = state
        .supervisor
        .send(Request::Restart {
            id: id.to_string(),
            reply,
        })
        .await;
    let result = match sent {
        Ok(()) => rx.await.unwrap_or_else(|_| Err("shutting down".into())),
        Err(_) => Err("shutting down".into()),
    };
    match result {
        Ok(()) => {
            tracing::info!(worker = id, by = visitor.name(), "restart requested from the web UI");
            let back = headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .filter(|r| r.contains("/entity/"))
                .map_or_else(|| format!("/entity/{entity}"), str::to_string);
            Redirect::to(&back).into_response()
        }
        Err(why) => (StatusCode::CONFLICT, why).into_response(),
    }
}
