//! InfluxDB sinks: the v2 write API (`/api/v2/write`, token) and the v1 one (`/write`, user and
//! password), as a thin writer on the project's reqwest and the shared line-protocol encoder.
//! Why not the `influxdb2` crate: see docs/data-path.md.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use hemflux_shared::point::write_line_protocol;
use hemflux_shared::Point;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::{Batching, KindConfig, SendError, Sink};

/// The unit of timestamps in line protocol: what a sink sends (`precision`) and what `hemflux
/// import` reads (`--precision`); points are stored in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Ns,
    Us,
    Ms,
    S,
}

impl Precision {
    /// Nanoseconds in one unit.
    fn divisor(self) -> i64 {
        match self {
            Precision::Ns => 1,
            Precision::Us => 1_000,
            Precision::Ms => 1_000_000,
            Precision::S => 1_000_000_000,
        }
    }

    /// `value` in this unit as nanoseconds, if it fits in an i64.
    pub fn to_nanos(self, value: i64) -> Option<i64> {
        value.checked_mul(self.divisor())
    }

    fn v2_name(self) -> &'static str {
        match self {
            Precision::Ns => "ns",
            Precision::Us => "us",
            Precision::Ms => "ms",
            Precision::S => "s",
        }
    }

    fn v1_name(self) -> &'static str {
        match self {
            Precision::Ns => "n",
            Precision::Us => "u",
            Precision::Ms => "ms",
            Precision::S => "s",
        }
    }
}

fn default_timeout_ms() -> u64 {
    30_000
}
fn default_true() -> bool {
    true
}

/// `type = "influxdb_v2"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxV2Config {
    /// Base URL, e.g. `http://influxdb:8086`.
    pub url: String,
    pub org: String,
    pub bucket: String,
    /// The API token, or `token_file`: a file holding it (one of the two).
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub precision: Precision,
    #[serde(default = "default_true")]
    pub gzip: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Only points of these measurements (all when empty): a seed wrote some measurements to
    /// their own org or bucket, and one sink per target routes them there.
    #[serde(default)]
    pub measurements: Vec<String>,
}

impl Default for InfluxV2Config {
    fn default() -> Self {
        InfluxV2Config {
            url: String::new(),
            org: String::new(),
            bucket: String::new(),
            token: None,
            token_file: None,
            precision: Precision::Ns,
            gzip: true,
            timeout_ms: default_timeout_ms(),
            measurements: Vec::new(),
        }
    }
}

/// `type = "influxdb_v1"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxV1Config {
    /// Base URL, e.g. `http://influxdb:8086`.
    pub url: String,
    pub db: String,
    /// Retention policy; default: the database's default.
    pub rp: Option<String>,
    pub username: Option<String>,
    /// The password, or `password_file`: a file holding it.
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub precision: Precision,
    #[serde(default = "default_true")]
    pub gzip: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Only points of these measurements (all when empty).
    #[serde(default)]
    pub measurements: Vec<String>,
}

impl Default for InfluxV1Config {
    fn default() -> Self {
        InfluxV1Config {
            url: String::new(),
            db: String::new(),
            rp: None,
            username: None,
            password: None,
            password_file: None,
            precision: Precision::Ns,
            gzip: true,
            timeout_ms: default_timeout_ms(),
            measurements: Vec::new(),
        }
    }
}

/// Bigger batches than the default: line protocol is cheap to send in bulk.
const BATCH: Batching = Batching {
    size: 5000,
    interval: Duration::from_millis(1000),
    ..Batching::DEFAULT
};

impl KindConfig for InfluxV2Config {
    type Sink = Writer;
    const BATCH: Batching = BATCH;

    fn build(&self) -> Result<Writer> {
        Writer::v2(self)
    }

    async fn delete_by_tag(&self, key: &str, value: &str) -> Option<Result<()>> {
        Some(delete_v2(self, key, value).await)
    }
}

impl KindConfig for InfluxV1Config {
    type Sink = Writer;
    const BATCH: Batching = BATCH;

    fn build(&self) -> Result<Writer> {
        Writer::v1(self)
    }

    async fn delete_by_tag(&self, key: &str, value: &str) -> Option<Result<()>> {
        Some(delete_v1(self, key, value).await)
    }
}

/// A secret given inline or in a file (trailing newline dropped); never both.
fn secret(what: &str, inline: &Option<String>, file: &Option<PathBuf>) -> Result<Option<String>> {
    let value = match (inline, file) {
        (Some(_), Some(_)) => bail!("give either `{what}` or `{what}_file`, not both"),
        (Some(v), None) => v.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{what}_file` {}", path.display()))?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
        (None, None) => return Ok(None),
    };
    if value.trim().is_empty() {
        bail!("`{what}` is empty");
    }
    Ok(Some(value))
}

/// Parses the base URL and appends `path`, with a clear error instead of a panic.
fn endpoint(base: &str, path: &str) -> Result<Url> {
    let url = Url::parse(base).with_context(|| format!("`url` {base:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("`url` {base:?} must be http:// or https:// with a host");
    }
    if url.query().is_some() {
        bail!("`url` {base:?} must not have a query string");
    }
    let joined = format!("{}/{}", url.as_str().trim_end_matches('/'), path);
    Ok(Url::parse(&joined)?)
}

fn client(timeout_ms: u64) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")
}

#[derive(Clone)]
enum Auth {
    None,
    Token(HeaderValue),
    Basic {
        user: String,
        password: Option<String>,
    },
}

impl Auth {
    fn token(token: &str) -> Result<Auth> {
        let mut value = HeaderValue::from_str(&format!("Token {token}"))
            .context("`token` contains characters not allowed in an HTTP header")?;
        value.set_sensitive(true);
        Ok(Auth::Token(value))
    }

    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Token(value) => request.header(AUTHORIZATION, value.clone()),
            Auth::Basic { user, password } => request.basic_auth(user, password.as_ref()),
        }
    }
}

fn v2_auth(c: &InfluxV2Config) -> Result<Auth> {
    match secret("token", &c.token, &c.token_file)? {
        Some(token) => Auth::token(&token),
        None => bail!("an influxdb_v2 sink needs `token` or `token_file`"),
    }
}

fn v1_auth(c: &InfluxV1Config) -> Result<Auth> {
    let password = secret("password", &c.password, &c.password_file)?;
    match (&c.username, password) {
        (Some(user), password) => Ok(Auth::Basic {
            user: user.clone(),
            password,
        }),
        (None, Some(_)) => bail!("`password` is set but `username` is not"),
        (None, None) => Ok(Auth::None),
    }
}

/// Writes line protocol to `/api/v2/write` or `/write`.
pub struct Writer {
    client: reqwest::Client,
    url: Url,
    auth: Auth,
    gzip: bool,
    precision: Precision,
    /// Only these measurements (all when empty).
    measurements: Vec<String>,
    body: Vec<u8>,
}

impl Writer {
    pub fn v2(c: &InfluxV2Config) -> Result<Writer> {
        if c.org.is_empty() || c.bucket.is_empty() {
            bail!("an influxdb_v2 sink needs `org` and `bucket`");
        }
        let mut url = endpoint(&c.url, "api/v2/write")?;
        url.query_pairs_mut()
            .append_pair("org", &c.org)
            .append_pair("bucket", &c.bucket)
            .append_pair("precision", c.precision.v2_name());
        Ok(Writer {
            client: client(c.timeout_ms)?,
            url,
            auth: v2_auth(c)?,
            gzip: c.gzip,
            precision: c.precision,
            measurements: c.measurements.clone(),
            body: Vec::new(),
        })
    }

    pub fn v1(c: &InfluxV1Config) -> Result<Writer> {
        if c.db.is_empty() {
            bail!("an influxdb_v1 sink needs `db`");
        }
        let mut url = endpoint(&c.url, "write")?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("db", &c.db);
            if let Some(rp) = &c.rp {
                query.append_pair("rp", rp);
            }
            query.append_pair("precision", c.precision.v1_name());
        }
        Ok(Writer {
            client: client(c.timeout_ms)?,
            url,
            auth: v1_auth(c)?,
            gzip: c.gzip,
            precision: c.precision,
            measurements: c.measurements.clone(),
            body: Vec::new(),
        })
    }

    /// The points this sink forwards; the others count as delivered.
    fn selected<'a>(&self, points: &'a [Point]) -> std::borrow::Cow<'a, [Point]> {
        if self.measurements.is_empty() {
            return points.into();
        }
        points
            .iter()
            .filter(|p| self.measurements.contains(&p.measurement))
            .cloned()
            .collect::<Vec<_>>()
            .into()
    }

    fn encode(&mut self, points: &[Point]) -> Result<Vec<u8>, SendError> {
        self.body.clear();
        if self.precision == Precision::Ns {
            write_line_protocol(points, &mut self.body);
        } else {
            let d = self.precision.divisor();
            let coarse: Vec<Point> = points
                .iter()
                .map(|p| Point {
                    time: p.time.div_euclid(d),
                    ..p.clone()
                })
                .collect();
            write_line_protocol(&coarse, &mut self.body);
        }
        if !self.gzip {
            return Ok(self.body.clone());
        }
        let mut gz = GzEncoder::new(
            Vec::with_capacity(self.body.len() / 4),
            flate2::Compression::fast(),
        );
        gz.write_all(&self.body)
            .and_then(|_| gz.finish())
            .map_err(|e| SendError::Failed(format!("gzip: {e}")))
    }
}

/// The server's reply to a write: what the runner should do with the batch.
fn classify(status: StatusCode, body: &str) -> Result<(), SendError> {
    if status.is_success() {
        return Ok(());
    }
    let message = format!("HTTP {}: {}", status.as_u16(), truncate(body.trim(), 1000));
    // Auth, rate limit, "database not found" (404), timeouts: fixable on the server side, so
    // keep the data and retry. Other 4xx (bad line, type conflict, too large): the data.
    let retry = status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 404 | 408 | 429);
    Err(if retry {
        SendError::Failed(message)
    } else {
        SendError::Rejected(message)
    })
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl Sink for Writer {
    async fn send(&mut self, points: &[Point]) -> Result<(), SendError> {
        let points = self.selected(points);
        if points.is_empty() {
            return Ok(());
        }
        let body = self.encode(&points)?;
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body);
        if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let response = self
            .auth
            .apply(request)
            .send()
            .await
            .map_err(|e| SendError::Failed(format!("cannot reach {}: {e}", host(&self.url))))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        classify(status, &text)
    }
}

fn host(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// v2 delete API: every point with `key=value`, all time.
pub async fn delete_v2(c: &InfluxV2Config, key: &str, value: &str) -> Result<()> {
    let mut url = endpoint(&c.url, "api/v2/delete")?;
    url.query_pairs_mut()
        .append_pair("org", &c.org)
        .append_pair("bucket", &c.bucket);
    let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
    let body = serde_json::json!({
        "start": "1677-09-21T00:12:43.145224194Z",
        "stop": "2262-04-11T23:47:16.854775806Z",
        "predicate": format!("{key}=\"{quoted}\""),
    });
    let client = client(c.timeout_ms)?;
    let auth = v2_auth(c)?;
    let response = auth.apply(client.post(url).json(&body)).send().await?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    // No v2 delete API here: VictoriaMetrics (which takes /api/v2/write) answers 400
    // "unsupported path requested"; it deletes by series selector instead, the tag being a label.
    if status == StatusCode::NOT_FOUND || text.contains("unsupported path") {
        let url = endpoint(&c.url, "api/v1/admin/tsdb/delete_series")?;
        let selector = format!("{{{key}=\"{quoted}\"}}");
        let request = client.post(url).form(&[("match[]", selector.as_str())]);
        let response = auth.apply(request).send().await?;
        let status = response.status();
        return check_delete(status, &response.text().await.unwrap_or_default());
    }
    check_delete(status, &text)
}

fn check_delete(status: StatusCode, text: &str) -> Result<()> {
    if !status.is_success() {
        bail!("delete refused: HTTP {}: {}", status.as_u16(), text.trim());
    }
    Ok(())
}

/// v1: InfluxQL `DROP SERIES WHERE "key" = 'value'` in the sink's database.
pub async fn delete_v1(c: &InfluxV1Config, key: &str, value: &str) -> Result<()> {
    let url = endpoint(&c.url, "query")?;
    let statement = format!(
        "DROP SERIES WHERE \"{}\" = '{}'",
        key.replace('\\', "\\\\").replace('"', "\\\""),
        value.replace('\\', "\\\\").replace('\'', "\\'")
    );
    let request = client(c.timeout_ms)?
        .post(url)
        .form(&[("db", c.db.as_str()), ("q", statement.as_str())]);
    let response = v1_auth(c)?.apply(request).send().await?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    // InfluxQL reports a failed statement inside a 200 reply.
    if !status.is_success() || text.contains("\"error\"") {
        bail!("delete refused: HTTP {}: {}", status.as_u16(), text.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(url: &str) -> InfluxV2Config {
        InfluxV2Config {
            url: url.into(),
            org: "o".into(),
            bucket: "b".into(),
            token: Some("t".into()),
            ..InfluxV2Config::default()
        }
    }

    #[test]
    fn bad_urls_and_secrets_are_errors_not_panics() {
        for bad in [
            "",
            "localhost:8086",
            "ftp://x",
            "http://",
            "http://[::1",
            "http://h/?a=b",
            "not a url",
        ] {
            let err = Writer::v2(&v2(bad))
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(format!("{err:#}").contains("url"), "{bad:?}: {err:#}");
        }
        let mut c = v2("http://127.0.0.1:8086");
        c.token = None;
        assert!(Writer::v2(&c).err().unwrap().to_string().contains("token"));
        c.token = Some("bad\ntoken".into());
        assert!(Writer::v2(&c).is_err());
        c.token = None;
        c.token_file = Some("/nonexistent/token".into());
        assert!(format!("{:#}", Writer::v2(&c).err().unwrap()).contains("/nonexistent/token"));
    }

    #[test]
    fn urls_keep_a_base_path_and_encode_the_query() {
        let w = Writer::v2(&InfluxV2Config {
            bucket: "my bucket".into(),
            ..v2("https://h.example/influx/")
        })
        .unwrap();
        assert_eq!(
            w.url.as_str(),
            "https://h.example/influx/api/v2/write?org=o&bucket=my+bucket&precision=ns"
        );
    }

    #[test]
    fn token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(
            secret("token", &None, &Some(path)).unwrap().as_deref(),
            Some("s3cret")
        );
    }

    #[test]
    fn statuses_split_into_retry_and_set_aside() {
        assert!(classify(StatusCode::NO_CONTENT, "").is_ok());
        for code in [401, 403, 404, 429, 500, 503] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(classify(status, "x"), Err(SendError::Failed(_))),
                "{code}"
            );
        }
        for code in [400, 413, 422] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(classify(status, "x"), Err(SendError::Rejected(_))),
                "{code}"
            );
        }
    }

    #[tokio::test]
    async fn measurements_route_points_and_the_rest_count_as_sent() {
        // Nothing listens on port 1: a request would fail.
        let mut w = Writer::v2(&InfluxV2Config {
            measurements: vec!["kWh".into()],
            gzip: false,
            ..v2("http://127.0.0.1:1")
        })
        .unwrap();
        let other = [Point::new("heating_system", 1).field("v", 1.0)];
        assert!(
            w.send(&other).await.is_ok(),
            "not this sink's: nothing sent"
        );
        let mixed = [other[0].clone(), Point::new("kWh", 2).field("value", 3.5)];
        let picked = w.selected(&mixed).into_owned();
        let body = w.encode(&picked).ok().unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), "kWh value=3.5 2\n");
        assert!(matches!(w.send(&mixed).await, Err(SendError::Failed(_))));
    }

    #[test]
    fn coarse_precision_divides_time() {
        let mut w = Writer::v1(&InfluxV1Config {
            url: "http://127.0.0.1:1".into(),
            db: "d".into(),
            precision: Precision::S,
            gzip: false,
            ..InfluxV1Config::default()
        })
        .unwrap();
        let body = w
            .encode(&[Point::new("m", 1_500_000_000).field("v", 1.0)])
            .ok()
            .unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), "m v=1 1\n");
        assert!(w.url.as_str().ends_with("/write?db=d&precision=s"));
    }
}
