//! English and Swedish. The language comes from `?lang=`, else the `lang` cookie, else the
//! browser's `Accept-Language`; a `?lang=` choice is remembered in the cookie.

use axum::http::{header, HeaderMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Sv,
}

impl Lang {
    pub fn from_request(query: Option<&str>, headers: &HeaderMap) -> Lang {
        if let Some(l) = query.and_then(Lang::parse) {
            return l;
        }
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("lang="));
        if let Some(l) = cookie.and_then(Lang::parse) {
            return l;
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match accept.trim_start().get(..2) {
            Some(p) if p.eq_ignore_ascii_case("sv") => Lang::Sv,
            _ => Lang::En,
        }
    }

    fn parse(s: &str) -> Option<Lang> {
        match s {
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
    ("save", "Add", "Lägg till"),
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
