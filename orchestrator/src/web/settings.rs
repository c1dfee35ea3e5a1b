//! `/entity/{id}/settings`: editing a house's profile (its comfort, control and analytics
//! settings, its sources) in the browser. The text is checked as `hemflux check` checks it
//! (errors name line, column and field) and must keep its id; then the file is replaced
//! atomically, and the running orchestrator applies it within a second. Audited with the
//! profile before and after.

use std::path::PathBuf;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hemflux_shared::config::{parse_entity, EntityKind};
use serde_json::Value;

use super::html::{csrf_field, esc, page as frame};
use super::i18n::{with_lang_cookie, Lang, PageLang};
use crate::auth::{PageUser, Principal};
use crate::http::AppState;

/// The profile file of house `id`, if the caller may edit it and it exists; else the status to
/// answer ([`refusal`]).
pub fn profile_path(state: &AppState, who: &Principal, id: &str) -> Result<PathBuf, StatusCode> {
    let safe = !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    let path = state.paths.profiles.join(format!("{id}.json"));
    if !safe || !who.can_see(id) || !path.is_file() {
        return Err(StatusCode::NOT_FOUND);
    }
    if !who.can_change() {
        return Err(StatusCode::FORBIDDEN);
    }
    Ok(path)
}

fn refusal(status: StatusCode) -> Response {
    let why = if status == StatusCode::FORBIDDEN {
        "you may not change anything here"
    } else {
        "no such house profile"
    };
    (status, why).into_response()
}

/// A house profile that the signed-in caller may edit, from the path's `{id}`; else the
/// answer of [`refusal`] (or of [`PageUser`]: sign in).
pub struct EditableProfile {
    pub who: Principal,
    pub id: String,
    pub path: PathBuf,
}

impl FromRequestParts<AppState> for EditableProfile {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let PageUser(who) = PageUser::from_request_parts(parts, state).await?;
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let path = profile_path(state, &who, &id).map_err(refusal)?;
        Ok(EditableProfile { who, id, path })
    }
}

fn form(lang: Lang, who: &Principal, id: &str, text: &str, errors: &[String]) -> String {
    let mut out = format!(r#"<h1>{} · {}</h1>"#, esc(id), lang.t("settings"));
    if !errors.is_empty() {
        out.push_str(r#"<ul id="error" class="bad" role="alert">"#);
        for e in errors {
            out.push_str(&format!("<li>{}</li>", esc(e)));
        }
        out.push_str("</ul>");
    }
    out.push_str(&format!(
        r#"<form method="post" id="settings-form" class="stack">{csrf}<textarea name="profile" id="profile" rows="24" spellcheck="false">{text}</textarea><button id="save">{save}</button></form>"#,
        csrf = csrf_field(who),
        text = esc(text),
        save = lang.t("save_settings"),
    ));
    out
}

pub async fn edit(
    EditableProfile { who, id, path }: EditableProfile,
    PageLang { lang, chosen }: PageLang,
) -> Response {
    match std::fs::read_to_string(&path) {
        Ok(text) => with_lang_cookie(
            chosen,
            lang,
            frame(lang, &id, &who, &form(lang, &who, &id, &text, &[])),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading {}: {e}", path.display()),
        )
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct SettingsForm {
    profile: String,
}

pub async fn save(
    EditableProfile { who, id, path }: EditableProfile,
    State(state): State<AppState>,
    PageLang { lang, .. }: PageLang,
    axum::Form(f): axum::Form<SettingsForm>,
) -> Response {
    let mut text = f.profile.replace("\r\n", "\n");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let errors: Vec<String> = match parse_entity(EntityKind::House, &path, &text) {
        Ok(entity) if entity.id() == id => Vec::new(),
        Ok(entity) => vec![format!(
            "the id is {:?}: it must stay {id:?} (add a new house to change it)",
            entity.id()
        )],
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    };
    if !errors.is_empty() {
        let body = form(lang, &who, &id, &text, &errors);
        let page = with_lang_cookie(false, lang, frame(lang, &id, &who, &body));
        return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
    }
    let before = std::fs::read_to_string(&path).ok();
    if let Err(e) = crate::onboard::files::write_atomic(&path, text.as_bytes(), 0o644) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response();
    }
    let json = |t: Option<&str>| t.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let what = format!("edit settings of {id}");
    if let Err(e) = crate::users::audit::record(
        &state.users,
        &who,
        &what,
        json(before.as_deref()),
        json(Some(&text)),
    ) {
        tracing::error!("recording {what:?} in the audit log: {e:#}");
    }
    Redirect::to(&format!("/entity/{id}")).into_response()
}
