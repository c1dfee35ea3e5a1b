//! A WattiVahti client (Pori Energia, Finland; `../shared/protocols/wattivahti.md`): redeeming a
//! refresh token (Azure AD B2C, which rotates it on every redemption) and reading 15-minute or
//! hourly consumption. Used by the `meter` worker, which keeps the rotated token durable.
//!
//! The API speaks naive Helsinki local time; the repeated autumn hour comes as pairs with
//! identical strings, the first of each pair being the earlier instant (EEST). Tokens never
//! appear in `Debug` output or in errors.

use std::collections::HashMap;
use std::fmt;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::Value;

use crate::oauth::post_token_form;

const DATA_PATH: &str = "/api/onlineapi/v1/meterdata2";
const CLIENT_ID: &str = "84ebdb93-9ea6-42c7-bd7d-302abf7556fa";
const SCOPE: &str =
    "https://pesv.onmicrosoft.com/salpa/customer.read openid profile offline_access";

#[derive(Debug, thiserror::Error)]
pub enum WattivahtiError {
    /// `invalid_grant`: the refresh token is spent or revoked; only a new login helps.
    #[error("WattiVahti refused the refresh token ({why})")]
    TokenRefused { why: String },
    #[error("the WattiVahti token endpoint answered {status}: {what}")]
    TokenEndpoint { status: StatusCode, what: String },
    #[error("the WattiVahti token answer has no access_token")]
    NoAccessToken,
    /// 401 on meter data: the access token expired early or was revoked.
    #[error("WattiVahti meterdata2 answered 401 Unauthorized: {snippet}")]
    Unauthorized { snippet: String },
    #[error(
        "WattiVahti refused metering point {metering_point} (403): the token belongs to a customer \
         account that does not own it; check metering_point and the token file"
    )]
    Forbidden { metering_point: String },
    #[error("WattiVahti meterdata2 answered {status}: {snippet}")]
    Http { status: StatusCode, snippet: String },
    #[error("WattiVahti time {time:?} is not a local date-time")]
    BadTime {
        time: String,
        #[source]
        source: jiff::Error,
    },
    #[error(transparent)]
    Zone(#[from] jiff::Error),
    /// No answer at all, or the answer broke off or was not JSON.
    #[error("{what}")]
    Transport {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
}

impl WattivahtiError {
    /// No (whole) answer: worth trying again sooner than the next poll.
    pub fn is_retryable(&self) -> bool {
        matches!(self, WattivahtiError::Transport { .. })
    }
}

pub type Result<T, E = WattivahtiError> = std::result::Result<T, E>;

/// What redeeming a refresh token gives.
pub struct Tokens {
    pub access: String,
    /// The rotated refresh token; the one redeemed no longer works once this exists.
    pub refresh: Option<String>,
    pub expires_in_secs: u64,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in_secs", &self.expires_in_secs)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct WattivahtiClient {
    http: reqwest::Client,
    data_url: String,
    token_url: String,
}

impl WattivahtiClient {
    /// `base_url` without `/api/onlineapi/v1/meterdata2`.
    pub fn new(http: reqwest::Client, base_url: &str, token_url: &str) -> Self {
        WattivahtiClient {
            http,
            data_url: format!("{}{DATA_PATH}", base_url.trim_end_matches('/')),
            token_url: token_url.to_string(),
        }
    }

    /// Redeems a refresh token for an access token and the rotated refresh token.
    pub async fn redeem(&self, refresh: &str) -> Result<Tokens> {
        let form = [
            ("client_id", CLIENT_ID),
            ("scope", SCOPE),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_info", "1"),
        ];
        let (status, body) = post_token_form(&self.http, &self.token_url, &form)
            .await
            .map_err(|source| WattivahtiError::Transport {
                what: "redeeming the WattiVahti refresh token",
                source,
            })?;
        if status == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant" {
            let why = body["error_description"].as_str().unwrap_or_default();
            let why = why.lines().next().unwrap_or_default();
            return Err(WattivahtiError::TokenRefused { why: why.into() });
        }
        if !status.is_success() {
            let what = body["error_description"]
                .as_str()
                .or(body["error"].as_str());
            return Err(WattivahtiError::TokenEndpoint {
                status,
                what: what.unwrap_or("no description").into(),
            });
        }
        let access = body["access_token"]
            .as_str()
            .ok_or(WattivahtiError::NoAccessToken)?
            .to_string();
        Ok(Tokens {
            access,
            refresh: body["refresh_token"].as_str().map(str::to_string),
            expires_in_secs: body["expires_in"].as_u64().unwrap_or(3600),
        })
    }

    /// Readings whose interval starts in [start, stop) at `step` (`PT15MIN` or `PT1H`), as UTC
    /// instants with kWh.
    pub async fn meter_data(
        &self,
        access: &str,
        metering_point: &str,
        start: Timestamp,
        stop: Timestamp,
        step: &str,
    ) -> Result<Vec<(Timestamp, f64)>> {
        let tz = helsinki();
        let fmt = |t: Timestamp| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        };
        let query = [
            ("meteringPointCode", metering_point.to_string()),
            ("measurementType", "1".into()),
            ("start", fmt(start)),
            ("stop", fmt(stop)),
            ("resultStep", step.into()),
        ];
        let transport = |what| move |source| WattivahtiError::Transport { what, source };
        let resp = self
            .http
            .get(&self.data_url)
            .query(&query)
            .bearer_auth(access)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(transport("fetching WattiVahti meter data"))?;
        let status = resp.status();
        if status == StatusCode::FORBIDDEN {
            return Err(WattivahtiError::Forbidden {
                metering_point: metering_point.into(),
            });
        }
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            let snippet = text.chars().take(200).collect();
            return Err(if status == StatusCode::UNAUTHORIZED {
                WattivahtiError::Unauthorized { snippet }
            } else {
                WattivahtiError::Http { status, snippet }
            });
        }
        let body: Value = resp
            .json()
            .await
            .map_err(transport("WattiVahti meter data is not JSON"))?;
        decode_rows(&body, &tz)
    }
}

/// WattiVahti's time zone.
pub fn helsinki() -> TimeZone {
    TimeZone::get("Europe/Helsinki").expect("bundled tz database has Europe/Helsinki")
}

/// Decodes `tsv` rows into UTC instants. A local time seen twice in one answer is the repeated
/// autumn hour: its first reading is the earlier instant, its second the later one.
fn decode_rows(body: &Value, tz: &TimeZone) -> Result<Vec<(Timestamp, f64)>> {
    let rows = &body["getconsumptionsresult"]["consumptiondata"]["timeseries"]["values"]["tsv"];
    let Some(rows) = rows.as_array() else {
        return Ok(Vec::new());
    };
    let mut seen: HashMap<DateTime, u32> = HashMap::new();
    let mut out = Vec::new();
    for row in rows {
        let Some(time) = row["time"].as_str() else {
            continue;
        };
        let local: DateTime =
            time.trim_end_matches('Z')
                .parse()
                .map_err(|source| WattivahtiError::BadTime {
                    time: time.into(),
                    source,
                })?;
        let nth = seen.entry(local).or_default();
        let zoned = tz.to_ambiguous_zoned(local);
        let zoned = if *nth == 0 {
            zoned.compatible()
        } else {
            zoned.later()
        }?;
        *nth += 1;
        if let Some(kwh) = row["quantity"].as_f64() {
            out.push((zoned.timestamp(), kwh));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(times: &[&str]) -> Value {
        let tsv: Vec<Value> = times
            .iter()
            .map(|t| json!({"quantity": 0.1, "time": t}))
            .collect();
        json!({"getconsumptionsresult": {"consumptiondata": {"timeseries": {"values": {"tsv": tsv}}}}})
    }

    #[test]
    fn the_repeated_autumn_hour_becomes_two_utc_instants() {
        let rows = decode_rows(
            &answer(&[
                "2025-10-26T02:45:00",
                "2025-10-26T03:00:00",
                "2025-10-26T03:00:00",
                "2025-10-26T03:15:00",
                "2025-10-26T03:15:00",
                "2025-10-26T04:00:00",
            ]),
            &helsinki(),
        )
        .unwrap();
        let utc: Vec<String> = rows.iter().map(|(t, _)| t.to_string()).collect();
        assert_eq!(
            utc,
            [
                "2025-10-25T23:45:00Z",
                "2025-10-26T00:00:00Z",
                "2025-10-26T01:00:00Z",
                "2025-10-26T00:15:00Z",
                "2025-10-26T01:15:00Z",
                "2025-10-26T02:00:00Z"
            ]
        );
    }

    #[test]
    fn missing_keys_and_null_quantities_are_no_data() {
        assert!(
            decode_rows(&json!({"getconsumptionsresult": null}), &helsinki())
                .unwrap()
                .is_empty()
        );
        let nulls = json!({"getconsumptionsresult": {"consumptiondata": {"timeseries": {"values": {"tsv": [{"quantity": null, "time": "2025-01-01T00:00:00"}]}}}}});
        assert!(decode_rows(&nulls, &helsinki()).unwrap().is_empty());
    }

    #[test]
    fn a_time_that_is_not_local_names_itself() {
        let e = decode_rows(&answer(&["yesterday"]), &helsinki()).unwrap_err();
        assert!(e.to_string().contains("\"yesterday\""), "{e}");
        assert!(!e.is_retryable());
    }
}
