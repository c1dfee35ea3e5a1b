//! English and Swedish. The language comes from `?lang=`, else the `lang` cookie, else the
//! browser's `Accept-Language`; a `?lang=` choice is remembered in the cookie.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Sv,
}

impl Lang {
    pub fn from_request(query: Option<&str>, headers: &HeaderMap) -> Lang {
        Lang::pick(query, headers).0
    }

    /// The language for a request, and whether `?lang=` chose it (to set the cookie).
    pub fn pick(query: Option<&str>, headers: &HeaderMap) -> (Lang, bool) {
        if let Some(l) = query.and_then(Lang::parse) {
            return (l, true);
        }
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("lang="));
        if let Some(l) = cookie.and_then(Lang::parse) {
            return (l, false);
        }
        // The first language of `Accept-Language` that we have.
        let accepted = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(Lang::parse));
        (accepted.unwrap_or(Lang::En), false)
    }

    /// `en`, `sv`, or a tag such as `sv-SE;q=0.8`.
    fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_', ';']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "sv" => Some(Lang::Sv),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Sv => "sv",
        }
    }

    /// The other language, for the switch in the header.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Sv,
            Lang::Sv => Lang::En,
        }
    }

    /// The text for `key` in this language; the key itself if the table lacks it.
    pub fn t(self, key: &'static str) -> &'static str {
        TEXTS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, en, sv)| if self == Lang::Sv { *sv } else { *en })
            .unwrap_or(key)
    }
}

/// A page's language, extracted from the request as [`Lang::pick`] chooses it; `chosen` when
/// `?lang=` chose it, so that [`with_lang_cookie`] remembers the choice.
#[derive(Debug, Clone, Copy)]
pub struct PageLang {
    pub lang: Lang,
    pub chosen: bool,
}

impl PageLang {
    /// From the cookie or `Accept-Language` alone, as for a form's post.
    pub fn from_headers(headers: &HeaderMap) -> PageLang {
        PageLang {
            lang: Lang::from_request(None, headers),
            chosen: false,
        }
    }
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = QueryRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(q) = Query::<LangQuery>::from_request_parts(parts, state).await?;
        let (lang, chosen) = Lang::pick(q.lang.as_deref(), &parts.headers);
        Ok(PageLang { lang, chosen })
    }
}

/// The page as HTML, remembering a `?lang=` choice in a cookie.
pub fn with_lang_cookie(chosen: bool, lang: Lang, html: String) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    if chosen {
        let cookie = format!(
            "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
            lang.code()
        );
        if let Ok(v) = cookie.parse() {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp
}

const TEXTS: &[(&str, &str, &str)] = &[
    ("overview", "Overview", "Översikt"),
    ("entity", "Entity", "Objekt"),
    ("kind", "Kind", "Typ"),
    ("house", "house", "hus"),
    ("building", "building", "fastighet"),
    ("service", "service", "tjänst"),
    ("workers", "Workers", "Processer"),
    ("state", "State", "Status"),
    ("last_data", "Last data", "Senaste data"),
    ("alarms", "Open alarms", "Öppna larm"),
    ("k", "k (kW/K)", "k (kW/K)"),
    ("dhw_share", "Hot water (30 d)", "Varmvatten (30 d)"),
    ("search", "Search", "Sök"),
    ("all_kinds", "All kinds", "Alla typer"),
    ("all_states", "All states", "Alla lägen"),
    ("problems", "With problems", "Med problem"),
    ("sinks", "Sinks", "Mottagare"),
    (
        "no_sinks",
        "None: the data stays in the embedded store.",
        "Inga: data stannar i den inbyggda lagringen.",
    ),
    ("behind", "points behind", "punkter efter"),
    ("oldest", "oldest unsent", "äldsta osända"),
    ("config_errors", "Config problems", "Konfigurationsfel"),
    ("live", "live", "live"),
    ("range", "Range", "Period"),
    ("from", "From", "Från"),
    ("to", "To", "Till"),
    ("show", "Show", "Visa"),
    ("csv", "Download CSV", "Ladda ner CSV"),
    ("restart", "Restart", "Starta om"),
    (
        "no_data",
        "No data in this range.",
        "Inga data under perioden.",
    ),
    ("loading", "Loading…", "Laddar…"),
    ("points", "points", "punkter"),
    ("downsampled", "min/max per pixel", "min/max per pixel"),
    ("error", "Error", "Fel"),
    ("not_found", "Not found", "Hittades inte"),
    ("server", "Server (API root)", "Server (API-adress)"),
    ("username", "Username", "Användarnamn"),
    ("password", "Password", "Lösenord"),
    ("verify", "Verify login", "Kontrollera inloggning"),
    (
        "login_ok",
        "The login works. Choose what to add:",
        "Inloggningen fungerar. Välj vad som ska läggas till:",
    ),
    ("id", "Id", "Id"),
    ("name", "Name", "Namn"),
    (
        "name_default",
        "as the vendor calls it",
        "som leverantören kallar det",
    ),
    ("lat", "Latitude", "Latitud"),
    ("lon", "Longitude", "Longitud"),
    ("poll", "Poll every (s)", "Hämta var (s)"),
    ("signals", "Signals to fetch", "Signaler att hämta"),
    ("add", "Add", "Lägg till"),
    (
        "expired",
        "The verified login expired: verify it again.",
        "Den kontrollerade inloggningen har gått ut: kontrollera igen.",
    ),
    ("settings", "Settings", "Inställningar"),
    ("save_settings", "Check and save", "Kontrollera och spara"),
    ("sign_out", "Sign out", "Logga ut"),
    ("account", "Account", "Konto"),
    ("users", "Users", "Användare"),
    ("audit", "Audit log", "Ändringslogg"),
    (
        "onboard",
        "Add house or building",
        "Lägg till hus eller fastighet",
    ),
    (
        "control_settings",
        "Comfort and control",
        "Komfort och styrning",
    ),
    ("comfort", "Comfort", "Komfort"),
    (
        "heat_curve_control",
        "Heat-curve control",
        "Styrning av värmekurvan",
    ),
    (
        "whole_profile",
        "Edit the whole profile",
        "Redigera hela profilen",
    ),
    ("target", "Room target", "Rumsmål"),
    ("tolerance", "Tolerance (±)", "Tolerans (±)"),
    (
        "enabled",
        "Write to the substation (off: only record what it would write)",
        "Skriv till undercentralen (av: logga bara vad som skulle skrivas)",
    ),
    ("mode", "Mode", "Läge"),
    (
        "max_supply_temp",
        "Highest supply temperature",
        "Högsta framledningstemperatur",
    ),
    (
        "reduction_hours",
        "Reduction lasts (reduction mode)",
        "Sänkningen varar (sänkningsläge)",
    ),
    (
        "min_write_step",
        "Smallest change worth a write",
        "Minsta ändring värd en skrivning",
    ),
    (
        "default_tau_hours",
        "Time constant until the model has one",
        "Tidskonstant tills modellen har en",
    ),
    ("pi.gain", "PI gain", "PI-förstärkning"),
    ("pi.integral_minutes", "PI integral time", "PI-integraltid"),
    (
        "pi.dead_band_fraction",
        "PI dead band (share of tolerance)",
        "PI-dödband (andel av toleransen)",
    ),
    (
        "poll_interval_secs",
        "Read the house every",
        "Läs huset var",
    ),
    (
        "forecast_interval_secs",
        "Fetch the forecast every",
        "Hämta prognosen var",
    ),
    ("remove_entity", "Remove", "Ta bort"),
    (
        "soft_title",
        "Soft removal: restorable until the purge",
        "Mjuk borttagning: kan återställas fram till rensningen",
    ),
    ("soft_remove", "Remove softly", "Ta bort mjukt"),
    (
        "hard_title",
        "Hard removal: everything goes now, for good",
        "Hård borttagning: allt försvinner nu, för gott",
    ),
    ("hard_remove", "Remove for good", "Ta bort för gott"),
    (
        "type_id",
        "Type the id to confirm:",
        "Skriv id:t för att bekräfta:",
    ),
    (
        "wrong_confirm",
        "Not removed: the typed id does not match:",
        "Inte borttaget: det inskrivna id:t stämmer inte:",
    ),
    ("offboarded", "Removed entities", "Borttagna objekt"),
    ("restore", "Restore", "Återställ"),
    ("removed_at", "Removed", "Borttaget"),
    ("purge_after", "Purged after", "Rensas efter"),
    (
        "none_offboarded",
        "Nothing is waiting for its purge.",
        "Inget väntar på rensning.",
    ),
    (
        "nothing",
        "No houses or buildings yet.",
        "Inga hus eller fastigheter än.",
    ),
    // The purpose-built charts and the meter pages (web-charts).
    (
        "fig_split",
        "Heating and hot water per day",
        "Uppvärmning och varmvatten per dygn",
    ),
    ("fig_heating", "Space heating", "Uppvärmning"),
    ("fig_hot_water", "Hot water", "Varmvatten"),
    ("fig_no_breakdown", "No breakdown", "Ingen uppdelning"),
    (
        "fig_energy_forecast",
        "Energy: forecast and metered",
        "Energi: prognos och uppmätt",
    ),
    ("fig_forecast", "Forecast", "Prognos"),
    ("fig_metered", "Metered", "Uppmätt"),
    (
        "fig_indoor_forecast",
        "Indoor temperature: forecast and measured",
        "Inomhustemperatur: prognos och uppmätt",
    ),
    ("fig_measured", "Measured", "Uppmätt"),
    ("fig_k_history", "k history", "k över tid"),
    ("fig_k", "k", "k"),
    ("fig_k_low", "Plausible low", "Rimlig lägsta"),
    ("fig_k_high", "Plausible high", "Rimlig högsta"),
    ("fig_r2", "Adjusted R²", "Justerat R²"),
    ("fig_poor_fit", "Rejected fit", "Underkänd anpassning"),
    (
        "fig_heat_curve",
        "Heat-curve adjustments",
        "Justeringar av värmekurvan",
    ),
    ("fig_dry_run", "Dry run", "Provkörning"),
    ("fig_applied", "Applied", "Tillämpad"),
    ("fig_consumption", "Consumption", "Förbrukning"),
    ("fig_anomaly", "Anomaly", "Avvikelse"),
    (
        "fig_meter_day",
        "Consumption per day",
        "Förbrukning per dygn",
    ),
    (
        "fig_meter_month",
        "Consumption per month",
        "Förbrukning per månad",
    ),
    ("meters", "Meters", "Mätare"),
    ("meter", "Meter", "Mätare"),
    ("anomalies", "Anomalies", "Avvikelser"),
    ("flag", "Flag", "Flagga"),
    ("reason", "Reason", "Orsak"),
    ("day", "Day", "Dygn"),
    (
        "no_anomalies",
        "No anomalies in the range.",
        "Inga avvikelser i intervallet.",
    ),
    ("owner", "Belongs to", "Tillhör"),
    ("unit", "Unit", "Enhet"),
    // The sign-in, registration, account and admin pages.
    ("sign_in", "Sign in", "Logga in"),
    ("email", "E-mail", "E-post"),
    ("register", "Register", "Registrera"),
    (
        "no_account",
        "No account? Register",
        "Inget konto? Registrera dig",
    ),
    (
        "have_account",
        "Have an account? Sign in",
        "Har du ett konto? Logga in",
    ),
    (
        "wrong_login",
        "Wrong user name or password.",
        "Fel användarnamn eller lösenord.",
    ),
    (
        "pending_login",
        "Your account waits for an administrator's approval.",
        "Ditt konto väntar på att en administratör godkänner det.",
    ),
    (
        "too_many",
        "Too many failed attempts. Try again in a few minutes.",
        "För många misslyckade försök. Försök igen om några minuter.",
    ),
    (
        "registered",
        "Thank you. Your account waits for an administrator's approval.",
        "Tack. Ditt konto väntar på att en administratör godkänner det.",
    ),
    ("change_password", "Change password", "Byt lösenord"),
    ("current_password", "Current password", "Nuvarande lösenord"),
    (
        "new_password",
        "New password (at least 10 characters)",
        "Nytt lösenord (minst 10 tecken)",
    ),
    (
        "password_changed",
        "Password changed. Sign in again on your other devices.",
        "Lösenordet är bytt. Logga in igen på dina andra enheter.",
    ),
    ("notifications", "E-mail me when", "Mejla mig när"),
    ("save", "Save", "Spara"),
    ("saved", "Saved.", "Sparat."),
    ("role", "Role", "Roll"),
    ("status", "Status", "Status"),
    ("pending", "pending", "väntar"),
    ("active", "active", "aktiv"),
    (
        "entities",
        "Houses, buildings and meters",
        "Hus, byggnader och mätare",
    ),
    ("approve", "Approve", "Godkänn"),
    ("reject", "Reject", "Avslå"),
    ("set_role", "Set role", "Sätt roll"),
    ("assign", "Assign", "Tilldela"),
    ("remove", "Remove", "Ta bort"),
    ("when", "When", "När"),
    ("who", "Who", "Vem"),
    ("what", "What", "Vad"),
    ("before", "Before", "Före"),
    ("after", "After", "Efter"),
    (
        "event_worker_failed",
        "a worker has failed",
        "en worker har slutat fungera",
    ),
    (
        "event_no_data",
        "an entity has sent no data for hours",
        "en enhet inte har skickat data på flera timmar",
    ),
    (
        "event_building_alarm",
        "a building raises an alarm",
        "en byggnad larmar",
    ),
    (
        "event_registration",
        "a registration waits for approval (admins)",
        "en registrering väntar på godkännande (administratörer)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_order_query_cookie_browser() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "sv-SE,sv;q=0.9".parse().unwrap());
        assert_eq!(Lang::from_request(None, &h), Lang::Sv);
        h.insert(header::COOKIE, "a=b; lang=en".parse().unwrap());
        assert_eq!(Lang::from_request(None, &h), Lang::En);
        assert_eq!(Lang::from_request(Some("sv"), &h), Lang::Sv);
        assert_eq!(Lang::from_request(Some("xx"), &HeaderMap::new()), Lang::En);
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            "de-DE, sv-SE;q=0.8, en;q=0.5".parse().unwrap(),
        );
        assert_eq!(Lang::pick(None, &h), (Lang::Sv, false));
        assert_eq!(Lang::pick(Some("sv"), &h), (Lang::Sv, true));
    }

    #[tokio::test]
    async fn page_lang_from_the_query_else_the_headers() {
        let extract = |uri: &'static str, accept: &'static str| async move {
            let request = axum::http::Request::builder()
                .uri(uri)
                .header(header::ACCEPT_LANGUAGE, accept)
                .body(())
                .unwrap();
            let (mut parts, ()) = request.into_parts();
            PageLang::from_request_parts(&mut parts, &())
                .await
                .map(|p| (p.lang, p.chosen))
        };
        assert_eq!(extract("/?lang=sv", "en").await.unwrap(), (Lang::Sv, true));
        assert_eq!(extract("/e/x", "sv-SE").await.unwrap(), (Lang::Sv, false));
        // Only a language we have is a choice to remember.
        assert_eq!(extract("/?lang=xx", "sv").await.unwrap(), (Lang::Sv, false));
        assert!(extract("/?lang=sv&lang=en", "en").await.is_err());
    }

    #[test]
    fn every_text_in_both_languages() {
        for (key, en, sv) in TEXTS {
            assert!(!en.is_empty() && !sv.is_empty(), "{key}");
            assert_eq!(
                TEXTS.iter().filter(|(k, _, _)| k == key).count(),
                1,
                "{key}"
            );
        }
        assert_eq!(Lang::Sv.t("restart"), "Starta om");
    }
}
