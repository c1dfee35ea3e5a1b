//! A HomeSide API client (`../shared/protocols/homeside.md`): login (session token), the houses of
//! a login, the BMS token, reading all variables, writing one. Used by the `house` worker, and by
//! onboarding (`hemflux add-house`) to verify credentials before writing anything:
//!
//! ```ignore
//! let client = HomesideClient::new(base_url, Duration::from_secs(30))?;
//! let session = client.login(username, password).await?; // Err(LoginRefused) = bad credentials
//! let houses = client.houses(&session).await?;            // each has .name, .controller()
//! let house = client.house(&session, "HEM_FJV_Villa_149").await?; // Err(NoSuchHouse{available})
//! ```
//!
//! Tokens and passwords never appear in `Debug` output or in errors.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum HomesideError {
    #[error("HomeSide refused the login (HTTP {0}): check the username and password")]
    LoginRefused(u16),
    #[error("{0}: the session token was refused or has expired (401)")]
    Unauthorized(&'static str),
    #[error("{0}: HomeSide forbids this client id (403 Method forbiden)")]
    Forbidden(&'static str),
    #[error("getarrigobmstoken answered an error instead of a token: {0}")]
    BmsRefused(String),
    #[error("the login has no house named {wanted:?}; it has {available:?}")]
    NoSuchHouse {
        wanted: String,
        available: Vec<String>,
    },
    #[error("{endpoint}: HTTP {status}: {snippet}")]
    Http {
        endpoint: &'static str,
        status: u16,
        snippet: String,
    },
    #[error("{endpoint}: the answer is not the expected JSON ({error}); it starts {snippet:?}")]
    Decode {
        endpoint: &'static str,
        error: String,
        snippet: String,
    },
    #[error("{endpoint}: {source}")]
    Transport {
        endpoint: &'static str,
        #[source]
        source: reqwest::Error,
    },
}

impl HomesideError {
    /// The session (or BMS token) is gone: log in again and retry.
    pub fn is_expiry(&self) -> bool {
        matches!(self, HomesideError::Unauthorized(_))
    }
}

pub type Result<T, E = HomesideError> = std::result::Result<T, E>;

/// The session token (`querykey`), sent raw in `Authorization`.
#[derive(Clone)]
pub struct Session(String);

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Session(..)")
    }
}

/// One house of a login, from `housefidlist`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HouseEntry {
    #[serde(default)]
    pub name: String,
    /// Such as `38/Sysinst10/HEM_FJV_149/HEM_FJV_Villa_149`: the client id of later calls.
    pub restapiurl: String,
}

impl HouseEntry {
    /// The controller name, the last segment of `restapiurl` (hemflux's default house id).
    pub fn controller(&self) -> &str {
        self.restapiurl.rsplit('/').next().unwrap_or_default()
    }
}

/// The BMS token set from `getarrigobmstoken`.
#[derive(Clone, Deserialize)]
pub struct BmsToken {
    token: String,
    uid: String,
    #[serde(rename = "extendUid")]
    extend_uid: String,
}

impl fmt::Debug for BmsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BmsToken(..)")
    }
}

/// One variable from `getducvariables`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Variable {
    /// The full name, `<controller>.<short name>`.
    pub variable: String,
    /// `Cwl.Advise.A[n]`, the only name a write accepts.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub value: Value,
    /// `Response`, `Update`, `Pending`, `ErrorUnreachable`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub timestamp: Option<String>,
}

impl Variable {
    /// A value that was read (`Response`/`Update` and not null).
    pub fn has_value(&self) -> bool {
        matches!(self.kind.as_str(), "Response" | "Update") && !self.value.is_null()
    }

    pub fn is_pending(&self) -> bool {
        self.kind == "Pending"
    }
}

#[derive(Clone)]
pub struct HomesideClient {
    http: reqwest::Client,
    base_url: String,
}

impl HomesideClient {
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(HomesideClient {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// Logs in; HomeSide prints usernames with a space (`FC 2000233091`), which is stripped.
    pub async fn login(&self, username: &str, password: &str) -> Result<Session> {
        const AT: &str = "authorize/account";
        let username: String = username.chars().filter(|c| !c.is_whitespace()).collect();
        let body = json!({
            "user": {"Account": "homeside", "UserName": username, "Password": password},
            "lang": "sv",
        });
        let (status, text) = self.post(AT, None, &body).await?;
        if status == 401 || status == 403 {
            return Err(HomesideError::LoginRefused(status));
        }
        // The answer carries the token: never quote it in an error.
        let value = expect_json(AT, status, &text, false)?;
        match value["querykey"].as_str() {
            Some(k) if !k.is_empty() => Ok(Session(k.to_string())),
            _ => Err(HomesideError::LoginRefused(status)),
        }
    }

    pub async fn houses(&self, session: &Session) -> Result<Vec<HouseEntry>> {
        const AT: &str = "housefidlist";
        let (status, text) = self.post(AT, Some(session), &json!({})).await?;
        check_auth(AT, status)?;
        decode(AT, expect_json(AT, status, &text, true)?, &text)
    }

    /// The house of this login whose controller is `controller`.
    pub async fn house(&self, session: &Session, controller: &str) -> Result<HouseEntry> {
        let houses = self.houses(session).await?;
        houses
            .iter()
            .find(|h| h.controller() == controller)
            .cloned()
            .ok_or_else(|| HomesideError::NoSuchHouse {
                wanted: controller.to_string(),
                available: houses.iter().map(|h| h.controller().to_string()).collect(),
            })
    }

    /// A new BMS token; HomeSide answers a refusal with HTTP 200 and `{"error": ...}`.
    pub async fn bms_token(&self, session: &Session, clientid: &str) -> Result<BmsToken> {
        const AT: &str = "getarrigobmstoken";
        let body = json!({ "clientid": clientid });
        let (status, text) = self
            .post("housearrigobmsapi/getarrigobmstoken", Some(session), &body)
            .await?;
        check_auth(AT, status)?;
        let value = expect_json(AT, status, &text, false)?;
        if value.get("token").and_then(Value::as_str).is_none() {
            let error = value.get("error").map(|e| e.to_string());
            return Err(HomesideError::BmsRefused(
                error.unwrap_or_else(|| "no token in the answer".into()),
            ));
        }
        serde_json::from_value(value).map_err(|e| HomesideError::Decode {
            endpoint: AT,
            error: e.to_string(),
            snippet: String::new(),
        })
    }

    /// All variables. An empty list is how HomeSide often says a token expired.
    pub async fn variables(
        &self,
        session: &Session,
        clientid: &str,
        bms: &BmsToken,
    ) -> Result<Vec<Variable>> {
        const AT: &str = "getducvariables";
        let body = json!({
            "uid": bms.uid, "clientid": clientid, "extendUid": bms.extend_uid, "token": bms.token,
        });
        let (status, text) = self
            .post("housearrigobmsapi/getducvariables", Some(session), &body)
            .await?;
        check_auth(AT, status)?;
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            variables: Vec<Variable>,
        }
        let answer: Answer = decode(AT, expect_json(AT, status, &text, true)?, &text)?;
        Ok(answer.variables)
    }

    /// Writes one variable by its `Cwl.Advise.A[n]` path (writing by name times out), with the
    /// value as a string (`"21.5"`, `"False"`), as HomeSide's own client does.
    pub async fn write(
        &self,
        session: &Session,
        clientid: &str,
        bms: &BmsToken,
        path: &str,
        value: &str,
    ) -> Result<()> {
        const AT: &str = "save";
        let tokens = json!({
            "uid": bms.uid, "token": bms.token, "refreshToken": "", "extendUid": bms.extend_uid,
        });
        let body = json!({
            "clientid": clientid,
            "arrigoBMSTokenAndUid": tokens.to_string(),
            "input": [{"Name": path, "Value": value}],
        });
        let (status, text) = self
            .post("housearrigobmsapi/save", Some(session), &body)
            .await?;
        check_auth(AT, status)?;
        if !(200..300).contains(&status) {
            return Err(http_error(AT, status, &text));
        }
        Ok(())
    }

    async fn post(
        &self,
        endpoint: &'static str,
        session: Option<&Session>,
        body: &Value,
    ) -> Result<(u16, String)> {
        let url = format!("{}/api/v2/{endpoint}", self.base_url);
        let mut req = self.http.post(url).json(body);
        if let Some(Session(token)) = session {
            // The raw token: HomeSide refuses `Bearer <token>`.
            req = req.header(reqwest::header::AUTHORIZATION, token);
        }
        let transport = |source| HomesideError::Transport { endpoint, source };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(transport)?;
        Ok((status, text))
    }
}

fn check_auth(endpoint: &'static str, status: u16) -> Result<()> {
    match status {
        401 => Err(HomesideError::Unauthorized(endpoint)),
        403 => Err(HomesideError::Forbidden(endpoint)),
        _ => Ok(()),
    }
}

/// The body as JSON, or an error with status and (if `quote`) the start of the body.
fn expect_json(endpoint: &'static str, status: u16, text: &str, quote: bool) -> Result<Value> {
    if !(200..300).contains(&status) {
        return Err(if quote {
            http_error(endpoint, status, text)
        } else {
            http_error(endpoint, status, "")
        });
    }
    serde_json::from_str(text).map_err(|e| HomesideError::Decode {
        endpoint,
        error: e.to_string(),
        snippet: if quote { snippet(text) } else { String::new() },
    })
}

fn decode<T: serde::de::DeserializeOwned>(
    endpoint: &'static str,
    value: Value,
    text: &str,
) -> Result<T> {
    serde_json::from_value(value).map_err(|e| HomesideError::Decode {
        endpoint,
        error: e.to_string(),
        snippet: snippet(text),
    })
}

fn http_error(endpoint: &'static str, status: u16, text: &str) -> HomesideError {
    HomesideError::Http {
        endpoint,
        status,
        snippet: snippet(text),
    }
}

/// The start of a body, whitespace collapsed, for logs (an HTML error page, a cut-off JSON).
fn snippet(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(120).collect()
}
