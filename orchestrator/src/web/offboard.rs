//! Offboarding from the browser, admins only: `/entity/{id}/remove` previews a soft and a hard
//! removal (what `hemflux remove --dry-run` prints, with the stored point counts) and carries out
//! the one chosen, the hard one only once the entity's id is typed to confirm it;
//! `/admin/offboarded` lists the soft-removed entities with their purge dates and a Restore
//! button. All of it through [`crate::onboard::remove`], as the CLI; every attempt is audited
//! with the config before and the outcome after (credential names, never their values).

use std::fmt::Write;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use hemflux_shared::config::EntityKind;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};

use super::html::{csrf_field, esc, page as frame};
use super::i18n::{with_lang_cookie, Lang, PageLang};
use crate::auth::{AdminUser, Principal};
use crate::http::AppState;
use crate::onboard::remove::{hard_remove, plan, restore, soft_remove, Plan};
use crate::onboard::Offboarded;

/// How long a hard removal waits for the entity's workers to stop before purging anyway.
const STOP_WAIT: Duration = Duration::from_secs(20);

#[derive(Deserialize)]
pub struct KindQuery {
    /// `house` or `building`, when both have the id.
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn kinds(kind: Option<&str>) -> Vec<EntityKind> {
    match kind {
        Some("house") => vec![EntityKind::House],
        Some("building") => vec![EntityKind::Building],
        _ => vec![EntityKind::House, EntityKind::Building],
    }
}

fn kind_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::House => "house",
        EntityKind::Building => "building",
    }
}

/// Lines of text as a `<pre>` with `id`.
fn lines_html(id: &str, lines: &[String]) -> String {
    format!(r#"<pre id="{id}">{}</pre>"#, esc(&lines.join("\n")))
}

fn error_html(msg: &str) -> String {
    format!(r#"<p id="error" class="bad" role="alert">{}</p>"#, esc(msg))
}

fn respond(status: StatusCode, lang: Lang, title: &str, who: &Principal, body: &str) -> Response {
    let mut resp = with_lang_cookie(false, lang, frame(lang, title, who, body));
    *resp.status_mut() = status;
    resp
}

/// The plan for `id`, with the store's counts.
async fn plan_counted(state: &AppState, id: &str, kinds: Vec<EntityKind>) -> anyhow::Result<Plan> {
    let paths = state.paths.clone();
    let store = state.store.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let mut plan = plan(&paths, &id, &kinds)?;
        plan.count_stored(&store.reader()?)?;
        Ok(plan)
    })
    .await?
}

fn preview_page(state: &AppState, lang: Lang, who: &Principal, plan: &Plan, error: &str) -> String {
    let now = Timestamp::now();
    let kind = format!(
        r#"<input type="hidden" name="type" value="{}">"#,
        kind_name(plan.kind)
    );
    let csrf = csrf_field(who);
    let mut body = format!(
        "<h1>{} · {}</h1>{error}",
        esc(&plan.id),
        lang.t("remove_entity")
    );
    let _ = write!(
        body,
        r#"<section class="stack"><h2>{soft_title}</h2>{soft}
<form method="post" id="soft-form">{csrf}{kind}<input type="hidden" name="mode" value="soft"><button id="soft-remove">{soft_button}</button></form></section>
<section class="stack"><h2>{hard_title}</h2>{hard}
<form method="post" id="hard-form">{csrf}{kind}<input type="hidden" name="mode" value="hard"><label>{type_id} <input name="confirm" id="confirm" autocomplete="off" placeholder="{id}"></label> <button id="hard-remove" class="danger">{hard_button}</button></form></section>"#,
        soft_title = lang.t("soft_title"),
        soft = lines_html("soft-preview", &plan.preview(&state.paths, true, now)),
        soft_button = lang.t("soft_remove"),
        hard_title = lang.t("hard_title"),
        hard = lines_html("hard-preview", &plan.preview(&state.paths, false, now)),
        type_id = lang.t("type_id"),
        id = esc(&plan.id),
        hard_button = lang.t("hard_remove"),
    );
    body
}

/// `GET /entity/{id}/remove`: the two previews and their forms.
pub async fn preview(
    AdminUser(who): AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<KindQuery>,
    PageLang { lang, chosen }: PageLang,
) -> Response {
    let title = lang.t("remove_entity");
    match plan_counted(&state, &id, kinds(q.kind.as_deref())).await {
        Ok(plan) => {
            let body = preview_page(&state, lang, &who, &plan, "");
            with_lang_cookie(chosen, lang, frame(lang, title, &who, &body))
        }
        Err(e) => respond(
            StatusCode::NOT_FOUND,
            lang,
            title,
            &who,
            &error_html(&format!("{e:#}")),
        ),
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    mode: String,
    #[serde(default)]
    confirm: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `POST /entity/{id}/remove`: `mode=soft`, or `mode=hard` with `confirm=<id>`.
pub async fn remove(
    AdminUser(who): AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<RemoveForm>,
) -> Response {
    let lang = Lang::from_request(None, &headers);
    let title = lang.t("remove_entity");
    let plan = match plan_counted(&state, &id, kinds(f.kind.as_deref())).await {
        Ok(plan) => plan,
        Err(e) => {
            let body = error_html(&format!("{e:#}"));
            return respond(StatusCode::NOT_FOUND, lang, title, &who, &body);
        }
    };
    let soft = match f.mode.as_str() {
        "soft" => true,
        "hard" if f.confirm.trim() == id => false,
        "hard" => {
            let error = error_html(&format!(
                "{} {:?} ≠ {id:?}",
                lang.t("wrong_confirm"),
                f.confirm
            ));
            let body = preview_page(&state, lang, &who, &plan, &error);
            return respond(StatusCode::UNPROCESSABLE_ENTITY, lang, title, &who, &body);
        }
        other => {
            let body = error_html(&format!("unknown mode {other:?}: soft or hard"));
            return respond(StatusCode::BAD_REQUEST, lang, title, &who, &body);
        }
    };
    let before = json!({
        "file": plan.file,
        "config": std::fs::read_to_string(&plan.file).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()),
        "credentials": plan.keys,
        "stored": plan.stored,
    });
    let outcome = if soft {
        soft_remove(&state.paths, &plan, Timestamp::now())
    } else {
        let stopped = workers_stopped(&state, &plan.workers);
        hard_remove(&state.paths, &plan, stopped, state.purger.as_ref()).await
    };
    let mode = if soft { "soft" } else { "hard" };
    let what = format!("remove {} {id} ({mode})", kind_name(plan.kind));
    finish(&state, lang, &who, &what, Some(before), outcome)
}

/// Audits the outcome and shows it: what was done, or why not.
fn finish(
    state: &AppState,
    lang: Lang,
    who: &Principal,
    what: &str,
    before: Option<Value>,
    outcome: anyhow::Result<Vec<String>>,
) -> Response {
    let (ok, message) = match &outcome {
        Ok(lines) => (true, lines.join("\n")),
        Err(e) => (false, format!("{e:#}")),
    };
    let after = json!({"ok": ok, "message": message});
    if let Err(e) = crate::users::audit::record(&state.users, who, what, before, Some(after)) {
        tracing::error!("{what} ({ok}), but not in the audit log: {e:#}");
    }
    let title = lang.t("offboarded");
    let back = format!(
        r#"<p><a href="/admin/offboarded" id="to-offboarded">{}</a></p>"#,
        lang.t("offboarded")
    );
    match outcome {
        Ok(lines) => {
            let body = format!("<h1>{}</h1>{}{back}", esc(what), lines_html("done", &lines));
            respond(StatusCode::OK, lang, title, who, &body)
        }
        Err(_) => {
            let body = format!("<h1>{}</h1>{}{back}", esc(what), error_html(&message));
            respond(StatusCode::CONFLICT, lang, title, who, &body)
        }
    }
}

/// Resolves once the supervisor runs none of `ids` (it stops them when their config goes), or
/// after [`STOP_WAIT`].
async fn workers_stopped(state: &AppState, ids: &[String]) {
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    while tokio::time::Instant::now() < deadline {
        let Ok(snapshot) = crate::http::snapshot(state).await else {
            return;
        };
        if !snapshot.workers.iter().any(|w| ids.contains(&w.id)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!("workers {ids:?} still run: purging anyway");
}

/// `GET /admin/offboarded`: every soft removal, its purge date and a Restore button.
pub async fn list(
    AdminUser(who): AdminUser,
    State(state): State<AppState>,
    PageLang { lang, chosen }: PageLang,
) -> Response {
    let title = lang.t("offboarded");
    let state_file = match Offboarded::load(&state.paths.data) {
        Ok(s) => s,
        Err(e) => {
            let body = error_html(&format!("{e:#}"));
            return respond(StatusCode::INTERNAL_SERVER_ERROR, lang, title, &who, &body);
        }
    };
    let now = Timestamp::now();
    let csrf = csrf_field(&who);
    let mut rows = String::new();
    for e in &state_file.entities {
        let kind = kind_name(e.kind);
        let what = restore(&state.paths, &e.id, &[e.kind], now, true)
            .map(|l| l.join(" "))
            .unwrap_or_else(|err| format!("{err:#}"));
        let _ = write!(
            rows,
            r#"<tr id="offboarded-{kind}-{id}"><td class="id">{id}</td><td>{kind}</td><td class="removed"><time>{removed}</time></td><td class="purge"><time>{purge}</time></td><td class="restore-preview">{what}</td><td><form method="post" action="/admin/offboarded/{kind}/{id}/restore" class="restore">{csrf}<button>{restore}</button></form></td></tr>"#,
            id = esc(&e.id),
            removed = e.removed_at,
            purge = e.purge_after,
            what = esc(&what),
            restore = lang.t("restore"),
        );
    }
    let body = if rows.is_empty() {
        format!(
            r#"<h1>{title}</h1><p id="none">{}</p>"#,
            lang.t("none_offboarded")
        )
    } else {
        format!(
            r#"<h1>{title}</h1><table id="offboarded"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th><th></th></tr></thead><tbody>{rows}</tbody></table>"#,
            lang.t("id"),
            lang.t("kind"),
            lang.t("removed_at"),
            lang.t("purge_after"),
        )
    };
    with_lang_cookie(chosen, lang, frame(lang, title, &who, &body))
}

/// `POST /admin/offboarded/{kind}/{id}/restore`.
pub async fn restore_one(
    AdminUser(who): AdminUser,
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_request(None, &headers);
    let kinds = match kind.as_str() {
        "house" | "building" => kinds(Some(&kind)),
        _ => {
            let body = error_html(&format!("unknown kind {kind:?}: house or building"));
            return respond(StatusCode::NOT_FOUND, lang, "", &who, &body);
        }
    };
    let before = Offboarded::load(&state.paths.data).ok().and_then(|s| {
        s.entities
            .into_iter()
            .find(|e| e.id == id && kinds.contains(&e.kind))
            .map(|e| json!({"removed_at": e.removed_at, "purge_after": e.purge_after, "file": e.config_file}))
    });
    let outcome = restore(&state.paths, &id, &kinds, Timestamp::now(), false);
    finish(
        &state,
        lang,
        &who,
        &format!("restore {kind} {id}"),
        before,
        outcome,
    )
}
