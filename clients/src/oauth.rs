//! What the OAuth clients (Dropbox, WattiVahti) share: redeeming a refresh token.

use reqwest::StatusCode;
use serde_json::Value;

/// Posts `form` to a token endpoint: the answer's status and its JSON body, `Null` when the
/// body is not JSON (the status then still says what went wrong).
pub(crate) async fn post_token_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> reqwest::Result<(StatusCode, Value)> {
    let resp = http.post(url).form(form).send().await?;
    let status = resp.status();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}
