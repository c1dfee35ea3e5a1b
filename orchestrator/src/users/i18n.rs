//! The words of the sign-in, registration, account and admin pages, in English and Swedish.
//! The language: `?lang=` (remembered in a `lang` cookie), else the cookie, else the first
//! of `Accept-Language` that we have, else English.

use axum::http::{header, HeaderMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Sv,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Sv => "sv",
        }
    }

    fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_', ';']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "sv" => Some(Lang::Sv),
            _ => None,
        }
    }

    /// The language for a request, and whether `?lang=` chose it (to set the cookie).
    pub fn pick(query_lang: Option<&str>, headers: &HeaderMap) -> (Lang, bool) {
        if let Some(l) = query_lang.and_then(Lang::parse) {
            return (l, true);
        }
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::parse(v));
        if let Some(l) = cookie {
            return (l, false);
        }
        let accepted = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(Lang::parse));
        (accepted.unwrap_or(Lang::En), false)
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::Sv => &SV,
        }
    }
}

pub struct Text {
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub email: &'static str,
    pub register: &'static str,
    pub no_account: &'static str,
    pub have_account: &'static str,
    pub wrong_login: &'static str,
    pub pending_login: &'static str,
    pub too_many: &'static str,
    pub registered: &'static str,
    pub account: &'static str,
    pub users: &'static str,
    pub audit: &'static str,
    pub overview: &'static str,
    pub change_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub password_changed: &'static str,
    pub notifications: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub role: &'static str,
    pub status: &'static str,
    pub pending: &'static str,
    pub active: &'static str,
    pub entities: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,
    pub set_role: &'static str,
    pub assign: &'static str,
    pub remove: &'static str,
    pub when: &'static str,
    pub who: &'static str,
    pub what: &'static str,
    pub before: &'static str,
    pub after: &'static str,
    pub event_worker_failed: &'static str,
    pub event_no_data: &'static str,
    pub event_building_alarm: &'static str,
    pub event_registration: &'static str,
}

static EN: Text = Text {
    sign_in: "Sign in",
    sign_out: "Sign out",
    username: "User name",
    password: "Password",
    email: "E-mail",
    register: "Register",
    no_account: "No account? Register",
    have_account: "Have an account? Sign in",
    wrong_login: "Wrong user name or password.",
    pending_login: "Your account waits for an administrator's approval.",
    too_many: "Too many failed attempts. Try again in a few minutes.",
    registered: "Thank you. Your account waits for an administrator's approval.",
    account: "Account",
    users: "Users",
    audit: "Audit log",
    overview: "Overview",
    change_password: "Change password",
    current_password: "Current password",
    new_password: "New password (at least 10 characters)",
    password_changed: "Password changed. Sign in again on your other devices.",
    notifications: "E-mail me when",
    save: "Save",
    saved: "Saved.",
    role: "Role",
    status: "Status",
    pending: "pending",
    active: "active",
    entities: "Houses, buildings and meters",
    approve: "Approve",
    reject: "Reject",
    set_role: "Set role",
    assign: "Assign",
    remove: "Remove",
    when: "When",
    who: "Who",
    what: "What",
    before: "Before",
    after: "After",
    event_worker_failed: "a worker has failed",
    event_no_data: "an entity has sent no data for hours",
    event_building_alarm: "a building raises an alarm",
    event_registration: "a registration waits for approval (admins)",
};

static SV: Text = Text {
    sign_in: "Logga in",
    sign_out: "Logga ut",
    username: "Användarnamn",
    password: "Lösenord",
    email: "E-post",
    register: "Registrera",
    no_account: "Inget konto? Registrera dig",
    have_account: "Har du ett konto? Logga in",
    wrong_login: "Fel användarnamn eller lösenord.",
    pending_login: "Ditt konto väntar på att en administratör godkänner det.",
    too_many: "För många misslyckade försök. Försök igen om några minuter.",
    registered: "Tack. Ditt konto väntar på att en administratör godkänner det.",
    account: "Konto",
    users: "Användare",
    audit: "Ändringslogg",
    overview: "Översikt",
    change_password: "Byt lösenord",
    current_password: "Nuvarande lösenord",
    new_password: "Nytt lösenord (minst 10 tecken)",
    password_changed: "Lösenordet är bytt. Logga in igen på dina andra enheter.",
    notifications: "Mejla mig när",
    save: "Spara",
    saved: "Sparat.",
    role: "Roll",
    status: "Status",
    pending: "väntar",
    active: "aktiv",
    entities: "Hus, byggnader och mätare",
    approve: "Godkänn",
    reject: "Avslå",
    set_role: "Sätt roll",
    assign: "Tilldela",
    remove: "Ta bort",
    when: "När",
    who: "Vem",
    what: "Vad",
    before: "Före",
    after: "Efter",
    event_worker_failed: "en worker har slutat fungera",
    event_no_data: "en enhet inte har skickat data på flera timmar",
    event_building_alarm: "en byggnad larmar",
    event_registration: "en registrering väntar på godkännande (administratörer)",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_then_cookie_then_accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::pick(None, &h), (Lang::En, false));
        h.insert(
            "accept-language",
            "de-DE, sv-SE;q=0.8, en;q=0.5".parse().unwrap(),
        );
        assert_eq!(Lang::pick(None, &h), (Lang::Sv, false));
        h.insert("cookie", "a=b; lang=en".parse().unwrap());
        assert_eq!(Lang::pick(None, &h), (Lang::En, false));
        assert_eq!(Lang::pick(Some("sv"), &h), (Lang::Sv, true));
        assert_eq!(Lang::pick(Some("xx"), &h), (Lang::En, false));
    }
}
