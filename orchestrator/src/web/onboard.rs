//! `/onboard`: adding a house (HomeSide) or a building (Arrigo) from the browser, through the
//! same steps as `hemflux add-house` / `add-building` ([`crate::onboard`]): verify the login and
//! discover what there is, then pick (house, signals, id, name, position) and write the config
//! and `.env`. Between the two steps the verified login waits here, in memory, for 15 minutes;
//! the password never goes back to the browser. Admins only; each addition is audited.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

use super::html::{csrf_field, esc, page as frame};
use super::i18n::{with_lang_cookie, Lang, PageLang};
use crate::auth::{AdminUser, Principal};
use crate::http::AppState;
use crate::onboard::{
    discover_building, signal_configs, verify_house, write_building, write_house, Analog, Digital,
    Login, NewEntity, HOMESIDE_URL,
};

const PENDING_FOR: Duration = Duration::from_secs(15 * 60);

/// A login that worked, waiting for the second step.
struct Pending {
    login: Login,
    found: Found,
    since: Instant,
}

enum Found {
    Houses(Vec<(String, String)>),
    Building {
        controller: String,
        analogs: Vec<Analog>,
        digitals: Vec<Digital>,
    },
}

static PENDING: LazyLock<Mutex<HashMap<String, Pending>>> = LazyLock::new(Default::default);

fn new_key() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The form's fields; a repeated name (`signal`) keeps every value.
fn fields(body: &str) -> Result<Vec<(String, String)>> {
    serde_urlencoded::from_str(body).context("the form is not URL-encoded")
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn page(lang: Lang, who: &Principal, body: &str, chosen: bool) -> Response {
    with_lang_cookie(chosen, lang, frame(lang, lang.t("onboard"), who, body))
}

/// Step 1: which vendor, where, and the login.
pub async fn start(AdminUser(who): AdminUser, PageLang { lang, chosen }: PageLang) -> Response {
    page(lang, &who, &step1(lang, &who, ""), chosen)
}

fn step1(lang: Lang, who: &Principal, error: &str) -> String {
    let error = if error.is_empty() {
        String::new()
    } else {
        format!(
            r#"<p id="error" class="bad" role="alert">{}</p>"#,
            esc(error)
        )
    };
    format!(
        r#"<h1>{title}</h1>{error}<form method="post" action="/onboard/verify" id="onboard-form" class="stack">{csrf}
<label><input type="radio" name="kind" value="house" checked> {house} (HomeSide)</label>
<label><input type="radio" name="kind" value="building"> {building} (Arrigo)</label>
<label>{url} <input name="base_url" id="base_url" placeholder="{homeside}"></label>
<label>{user} <input name="username" id="username" required autocomplete="off"></label>
<label>{pass} <input name="password" id="password" type="password" required autocomplete="new-password"></label>
<button id="verify">{verify}</button></form>"#,
        title = lang.t("onboard"),
        csrf = csrf_field(who),
        house = lang.t("house"),
        building = lang.t("building"),
        url = lang.t("server"),
        homeside = HOMESIDE_URL,
        user = lang.t("username"),
        pass = lang.t("password"),
        verify = lang.t("verify"),
    )
}

/// Verifies the login and discovers the houses or signals; shows step 2.
pub async fn verify(
    AdminUser(who): AdminUser,
    PageLang { lang, .. }: PageLang,
    body: String,
) -> Response {
    match verified(&body).await {
        Ok((key, pending)) => {
            let html = step2(lang, &who, &key, &pending);
            let mut all = PENDING.lock().unwrap_or_else(|e| e.into_inner());
            all.retain(|_, p| p.since.elapsed() < PENDING_FOR);
            all.insert(key, pending);
            page(lang, &who, &html, false)
        }
        Err(e) => {
            let html = step1(lang, &who, &format!("{e:#}"));
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                page(lang, &who, &html, false),
            )
                .into_response()
        }
    }
}

async fn verified(body: &str) -> Result<(String, Pending)> {
    let form = fields(body)?;
    let kind = field(&form, "kind").unwrap_or("house");
    let login = Login {
        base_url: field(&form, "base_url").unwrap_or(HOMESIDE_URL).to_string(),
        username: field(&form, "username")
            .context("the username is missing")?
            .to_string(),
        password: form
            .iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .context("the password is missing")?,
    };
    let found = match kind {
        "house" => Found::Houses(verify_house(&login).await?),
        "building" => {
            if field(&form, "base_url").is_none() {
                bail!("a building needs its Arrigo API root, such as https://<host>/arrigo/api");
            }
            let d = discover_building(&login).await?;
            Found::Building {
                controller: d.controller,
                analogs: d.analogs,
                digitals: d.digitals,
            }
        }
        other => bail!("unknown kind {other:?}"),
    };
    if let Found::Houses(h) = &found {
        if h.is_empty() {
            bail!("this login has no houses; nothing was written");
        }
    }
    Ok((
        new_key()?,
        Pending {
            login,
            found,
            since: Instant::now(),
        },
    ))
}

fn step2(lang: Lang, who: &Principal, key: &str, p: &Pending) -> String {
    let mut out = format!(
        r#"<h1>{title}</h1><p id="notice">{ok}</p><form method="post" action="/onboard/save" id="onboard-save" class="stack">{csrf}<input type="hidden" name="key" value="{key}">"#,
        title = lang.t("onboard"),
        ok = lang.t("login_ok"),
        csrf = csrf_field(who),
    );
    let default_id = match &p.found {
        Found::Houses(houses) => {
            let _ = write!(
                out,
                r#"<label>{} <select name="id" id="id">"#,
                lang.t("house")
            );
            for (id, name) in houses {
                let _ = write!(
                    out,
                    r#"<option value="{0}">{0} ({1})</option>"#,
                    esc(id),
                    esc(name)
                );
            }
            out.push_str("</select></label>");
            None
        }
        Found::Building { controller, .. } => Some(controller.as_str()),
    };
    if let Some(id) = default_id {
        let _ = write!(
            out,
            r#"<label>{} <input name="id" id="id" value="{}" required></label>"#,
            lang.t("id"),
            esc(id)
        );
    }
    let _ = write!(
        out,
        r#"<label>{name} <input name="name" id="name" placeholder="{same}"></label>
<label>{lat} <input name="lat" id="lat" inputmode="decimal"></label><label>{lon} <input name="lon" id="lon" inputmode="decimal"></label>
<label>{poll} <input name="poll_interval_secs" id="poll" value="300" inputmode="numeric"></label>"#,
        name = lang.t("name"),
        same = lang.t("name_default"),
        lat = lang.t("lat"),
        lon = lang.t("lon"),
        poll = lang.t("poll"),
    );
    if let Found::Building { analogs, .. } = &p.found {
        let _ = write!(
            out,
            r#"<fieldset id="signals"><legend>{}</legend>"#,
            lang.t("signals")
        );
        for a in analogs {
            let _ = write!(
                out,
                r#"<label><input type="checkbox" name="signal" value="{id}" checked> {name} <small>{unit}</small></label>"#,
                id = esc(&a.id),
                name = esc(&a.name),
                unit = esc(&a.unit),
            );
        }
        out.push_str("</fieldset>");
    }
    let _ = write!(
        out,
        r#"<button id="save">{}</button></form>"#,
        lang.t("add")
    );
    out
}

/// Writes the config and the credentials, as the CLI does; back to the overview.
pub async fn save(
    AdminUser(who): AdminUser,
    State(state): State<AppState>,
    PageLang { lang, .. }: PageLang,
    body: String,
) -> Response {
    let form = match fields(&body) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
    };
    let pending = field(&form, "key").and_then(|k| {
        let mut all = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(k).filter(|p| p.since.elapsed() < PENDING_FOR)
    });
    let Some(pending) = pending else {
        let html = step1(lang, &who, lang.t("expired"));
        return (StatusCode::GONE, page(lang, &who, &html, false)).into_response();
    };
    match written(&state, &form, &pending) {
        Ok((what, path)) => {
            let after = json!({ "file": path.display().to_string() });
            if let Err(e) =
                crate::users::audit::record(&state.users, &who, &what, None, Some(after))
            {
                tracing::error!("recording {what:?} in the audit log: {e:#}");
            }
            Redirect::to("/").into_response()
        }
        Err(e) => {
            // The login stays verified: the form can be corrected and sent again.
            let key = field(&form, "key").unwrap_or_default().to_string();
            let mut html = format!(
                r#"<p id="error" class="bad" role="alert">{}</p>"#,
                esc(&format!("{e:#}"))
            );
            html.push_str(&step2(lang, &who, &key, &pending));
            PENDING
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, pending);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                page(lang, &who, &html, false),
            )
                .into_response()
        }
    }
}

fn written(
    state: &AppState,
    form: &[(String, String)],
    p: &Pending,
) -> Result<(String, std::path::PathBuf)> {
    let number = |name: &str| -> Result<Option<f64>> {
        field(form, name)
            .map(|v| {
                v.parse::<f64>()
                    .with_context(|| format!("{name} {v:?} is not a number"))
            })
            .transpose()
    };
    let location = match (number("lat")?, number("lon")?) {
        (Some(lat), Some(lon)) => Some(json!({"lat": lat, "lon": lon})),
        (None, None) => None,
        _ => bail!("give both latitude and longitude, or neither"),
    };
    let id = field(form, "id").context("the id is missing")?.to_string();
    let poll_interval_secs = match field(form, "poll_interval_secs") {
        Some(v) => v
            .parse()
            .with_context(|| format!("the poll interval {v:?} is not a whole number of seconds"))?,
        None => 300,
    };
    let name = match (field(form, "name"), &p.found) {
        (Some(n), _) => n.to_string(),
        (None, Found::Houses(houses)) => houses
            .iter()
            .find(|h| h.0 == id)
            .with_context(|| format!("this login has no house {id:?}"))?
            .1
            .clone(),
        (None, Found::Building { .. }) => id.clone(),
    };
    let new = NewEntity {
        id,
        name,
        location,
        poll_interval_secs,
    };
    match &p.found {
        Found::Houses(_) => {
            let (path, _) = write_house(&state.paths, &p.login, &new)?;
            Ok((format!("add house {}", new.id), path))
        }
        Found::Building {
            analogs, digitals, ..
        } => {
            let picked: Vec<&str> = form
                .iter()
                .filter(|(k, _)| k == "signal")
                .map(|(_, v)| v.as_str())
                .collect();
            if picked.is_empty() {
                bail!("pick at least one signal");
            }
            // Digital signals stay listed and unfetched, as the CLI writes them.
            let signals: Vec<Value> = signal_configs(analogs, digitals)
                .into_iter()
                .map(|mut s| {
                    if s["kind"] != "digital" {
                        s["fetch"] = json!(picked.iter().any(|id| s["signal_id"] == *id));
                    }
                    s
                })
                .collect();
            let (path, _) = write_building(&state.paths, &p.login, &new, signals)?;
            Ok((format!("add building {}", new.id), path))
        }
    }
}
