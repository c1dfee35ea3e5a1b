//! `/login`, `/logout`, `/register`, `/account`, `/admin/users`, `/admin/audit`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::Deserialize;
use serde_json::json;

use super::accounts::Login;
use super::guard::Client;
use super::notify::Event;
use super::{audit, pages, session, Role, Users};
use crate::auth::{AdminUser, PageUser, Principal, SessionUser};
use crate::http::AppState;
use crate::web::i18n::{Lang, PageLang};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/register", get(register_page).post(register))
        .route("/account", get(account_page))
        .route("/account/password", post(change_password))
        .route("/account/notifications", post(set_notifications))
        .route("/admin/users", get(users_page))
        .route("/admin/users/{name}/{action}", post(user_action))
        .route("/admin/audit", get(audit_page))
}

/// An HTML page in the request's language (setting the `lang` cookie when `?lang=` chose it).
fn html(
    status: StatusCode,
    PageLang { lang, chosen }: PageLang,
    title: &'static str,
    who: Option<&Principal>,
    body: impl Fn(Lang) -> String,
) -> Response {
    let page = pages::layout(lang, lang.t(title), who, &body(lang));
    let mut resp = crate::web::with_lang_cookie(chosen, lang, page);
    *resp.status_mut() = status;
    resp
}

fn failure(e: impl std::fmt::Display) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

/// `next` when it is a path on this site (`/entity/x?range=7d`), else nothing: an absolute
/// URL, `//host` or `/\\host` would send the user elsewhere after signing in (open redirect).
pub fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(char::is_control)
    })
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page(
    who: Option<Extension<SessionUser>>,
    Query(q): Query<LoginQuery>,
    lang: PageLang,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if who.is_some() {
        return Redirect::to(next.unwrap_or("/")).into_response();
    }
    html(StatusCode::OK, lang, "sign_in", None, |l| {
        pages::login(l, "", next)
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    State(users): State<Users>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = PageLang::from_headers(&headers);
    let next = safe_next(form.next.as_deref()).map(str::to_string);
    let refuse = |status, msg: &'static str| {
        html(status, lang, "sign_in", None, |l| {
            let msg = pages::message("error", l.t(msg));
            pages::login(l, &msg, next.as_deref())
        })
    };
    let name = form.username.trim().to_string();
    if let Err(wait) = users.login_allowed(&name, client.addr) {
        let mut r = refuse(StatusCode::TOO_MANY_REQUESTS, "too_many");
        if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let checking = users.clone();
    let who = name.clone();
    let outcome =
        tokio::task::spawn_blocking(move || checking.check_login(&who, &form.password)).await;
    match outcome {
        Ok(Ok(Login::Ok(_))) => {
            users.login_succeeded(&name);
            if let Some(old) = super::guard::session_cookie(&headers) {
                let _ = users.end_session(&old);
            }
            let id = match users.create_session(&name) {
                Ok(id) => id,
                Err(e) => return failure(format!("{e:#}")),
            };
            tracing::info!(user = %name, "signed in");
            let cookie = session::cookie(&id, users.settings(), client.https);
            let to = next.as_deref().unwrap_or("/");
            ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
        }
        Ok(Ok(Login::Pending)) => refuse(StatusCode::FORBIDDEN, "pending_login"),
        Ok(Ok(Login::Refused)) => {
            users.login_failed(&name, client.addr);
            tracing::warn!(user = %name, addr = ?client.addr, "sign-in refused");
            refuse(StatusCode::UNAUTHORIZED, "wrong_login")
        }
        Ok(Err(e)) => failure(format!("{e:#}")),
        Err(e) => failure(e),
    }
}

async fn logout(
    State(users): State<Users>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = super::guard::session_cookie(&headers) {
        if let Err(e) = users.end_session(&id) {
            return failure(format!("{e:#}"));
        }
    }
    (
        [(header::SET_COOKIE, session::clearing_cookie(client.https))],
        Redirect::to("/login"),
    )
        .into_response()
}

async fn register_page(lang: PageLang) -> Response {
    html(StatusCode::OK, lang, "register", None, |l| {
        pages::register(l, "")
    })
}

#[derive(Deserialize)]
struct RegisterForm {
    username: String,
    password: String,
    #[serde(default)]
    email: String,
}

async fn register(
    State(users): State<Users>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Response {
    let lang = PageLang::from_headers(&headers);
    let page =
        |status, msg: String| html(status, lang, "register", None, |l| pages::register(l, &msg));
    if users.registration_allowed(client.addr).is_err() {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            pages::message("error", lang.lang.t("too_many")),
        );
    }
    let name = form.username.trim().to_string();
    let email = form.email.trim().to_string();
    let registering = users.clone();
    let (n, e) = (name.clone(), email.clone());
    let done =
        tokio::task::spawn_blocking(move || registering.register(&n, &form.password, &e)).await;
    match done {
        Ok(Ok(())) => {
            let after = json!({"name": name, "email": email, "status": "pending"});
            if let Err(e) = audit::record_as(&users, &name, "register", None, Some(after)) {
                return failure(format!("{e:#}"));
            }
            if let Some(n) = users.notifier() {
                n.registration(&name);
            }
            html(StatusCode::OK, lang, "register", None, |l| {
                pages::message("registered", l.t("registered"))
            })
        }
        Ok(Err(e)) => page(
            StatusCode::BAD_REQUEST,
            pages::message("error", &format!("{e:#}")),
        ),
        Err(e) => failure(e),
    }
}

async fn account_page(
    State(users): State<Users>,
    PageUser(who): PageUser,
    lang: PageLang,
) -> Response {
    account_with(&users, &who, lang, StatusCode::OK, String::new())
}

fn account_with(
    users: &Users,
    who: &Principal,
    lang: PageLang,
    status: StatusCode,
    msg: String,
) -> Response {
    let me = match users.account(who.name()) {
        Ok(Some(a)) => a,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return failure(format!("{e:#}")),
    };
    html(status, lang, "account", Some(who), |l| {
        pages::account(l, who, &me, &msg)
    })
}

/// The account page again after a change, with its outcome (`notice` or `error`) on top.
fn account_after(
    users: &Users,
    who: &Principal,
    headers: &HeaderMap,
    status: StatusCode,
    id: &str,
    text: &str,
) -> Response {
    let lang = PageLang::from_headers(headers);
    account_with(users, who, lang, status, pages::message(id, text))
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(users): State<Users>,
    Extension(client): Extension<Client>,
    PageUser(who): PageUser,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let (lang, _) = Lang::pick(None, &headers);
    let name = who.name().to_string();
    let changing = users.clone();
    let done = tokio::task::spawn_blocking(move || {
        match changing.check_login(&name, &form.current_password)? {
            Login::Ok(_) => changing
                .set_password(&name, &form.new_password)
                .map(|()| true),
            _ => Ok(false),
        }
    })
    .await;
    match done {
        Ok(Ok(true)) => {
            let _ = audit::record(
                &users,
                &who,
                &format!("password {}", who.name()),
                None,
                None,
            );
            // Every session ended with the change; this browser gets a fresh one.
            match users.create_session(who.name()) {
                Ok(id) => (
                    [(
                        header::SET_COOKIE,
                        session::cookie(&id, users.settings(), client.https),
                    )],
                    Html(pages::layout(
                        lang,
                        lang.t("account"),
                        None,
                        &pages::message("notice", lang.t("password_changed")),
                    )),
                )
                    .into_response(),
                Err(e) => failure(format!("{e:#}")),
            }
        }
        Ok(Ok(false)) => account_after(
            &users,
            &who,
            &headers,
            StatusCode::FORBIDDEN,
            "error",
            lang.t("wrong_login"),
        ),
        Ok(Err(e)) => account_after(
            &users,
            &who,
            &headers,
            StatusCode::BAD_REQUEST,
            "error",
            &format!("{e:#}"),
        ),
        Err(e) => failure(e),
    }
}

async fn set_notifications(
    State(users): State<Users>,
    PageUser(who): PageUser,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let email = form
        .iter()
        .find(|(k, _)| k == "email")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let events: Vec<Event> = form
        .iter()
        .filter(|(k, _)| k == "notify")
        .filter_map(|(_, v)| Event::parse(v))
        .filter(|e| *e != Event::Registration || who.is_admin())
        .collect();
    let done = users.set_email(who.name(), &email).and_then(|before| {
        let after = users.set_notifications(who.name(), &events)?;
        let after = users.account(who.name())?.unwrap_or(after);
        audit::record(
            &users,
            &who,
            &format!("notifications {}", who.name()),
            Some(json!({"email": before.email, "notify": before.notify})),
            Some(json!({"email": after.email, "notify": after.notify})),
        )
    });
    let (lang, _) = Lang::pick(None, &headers);
    match done {
        Ok(()) => account_after(
            &users,
            &who,
            &headers,
            StatusCode::OK,
            "notice",
            lang.t("saved"),
        ),
        Err(e) => account_after(
            &users,
            &who,
            &headers,
            StatusCode::BAD_REQUEST,
            "error",
            &format!("{e:#}"),
        ),
    }
}

async fn users_page(
    State(state): State<AppState>,
    AdminUser(who): AdminUser,
    lang: PageLang,
) -> Response {
    users_with(&state, &who, lang, StatusCode::OK, String::new()).await
}

async fn users_with(
    state: &AppState,
    who: &Principal,
    lang: PageLang,
    status: StatusCode,
    msg: String,
) -> Response {
    let accounts = match state.users.accounts() {
        Ok(a) => a,
        Err(e) => return failure(format!("{e:#}")),
    };
    let known: Vec<String> = crate::http::snapshot(state)
        .await
        .map(|s| s.workers.into_iter().map(|w| w.id).collect())
        .unwrap_or_default();
    html(status, lang, "users", Some(who), |l| {
        pages::users(l, who, &accounts, &known, &msg)
    })
}

/// Approve, reject, set the role, assign entities, remove; each recorded in the audit log.
async fn user_action(
    State(state): State<AppState>,
    AdminUser(who): AdminUser,
    Path((name, action)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let users = &state.users;
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let snapshot = |a: &super::accounts::Account| json!({"role": a.role, "pending": a.pending, "entities": a.entities});
    let result = (|| -> anyhow::Result<()> {
        let before = match action.as_str() {
            "approve" => users.approve(&name, Role::parse(field("role"))?)?,
            "role" => users.set_role(&name, Role::parse(field("role"))?)?,
            "assign" => {
                let entities: Vec<String> = field("entities")
                    .split([' ', ',', '\n', '\r', '\t'])
                    .filter(|e| !e.is_empty())
                    .map(str::to_string)
                    .collect();
                users.assign(&name, &entities)?
            }
            "reject" | "remove" => {
                let before = users.remove(&name)?;
                let what = format!("{action} {name}");
                return audit::record(users, &who, &what, Some(snapshot(&before)), None);
            }
            other => anyhow::bail!("unknown action {other:?}"),
        };
        let after = users.account(&name)?.map(|a| snapshot(&a));
        audit::record(
            users,
            &who,
            &format!("{action} {name}"),
            Some(snapshot(&before)),
            after,
        )
    })();
    match result {
        Ok(()) => Redirect::to("/admin/users").into_response(),
        Err(e) => {
            let lang = PageLang::from_headers(&headers);
            let msg = pages::message("error", &format!("{e:#}"));
            users_with(&state, &who, lang, StatusCode::BAD_REQUEST, msg).await
        }
    }
}

async fn audit_page(
    State(users): State<Users>,
    AdminUser(who): AdminUser,
    lang: PageLang,
) -> Response {
    match audit::recent(&users, 500) {
        Ok(entries) => html(StatusCode::OK, lang, "audit", Some(&who), |l| {
            pages::audit(l, &entries)
        }),
        Err(e) => failure(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        for ok in ["/", "/entity/house:a", "/entity/x?range=7d&lang=sv"] {
            assert_eq!(safe_next(Some(ok)), Some(ok));
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "entity/x",
            "javascript:alert(1)",
            "/x\r\nSet-Cookie: a=b",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_next(None), None);
    }
}
