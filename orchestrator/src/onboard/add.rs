//! `hemflux add-house` and `hemflux add-building`: ask (or take flags), verify the login against
//! the vendor's API, discover what there is, then write `.env` and the config file. Nothing is
//! written unless the login worked and the config validates.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hemflux_shared::config::{parse_entity, ArrigoConfig, EntityKind};
use serde_json::{json, Value};

use super::arrigo::{Analog, Arrigo, Digital, LoginError};
use super::files::{env_set, write_atomic};
use super::homeside::{HomesideClient, HomesideError};
use super::prompt::Asker;
use super::Paths;

pub const HOMESIDE_URL: &str = "https://homeside.systeminstallation.se";

/// Flags shared by both commands.
#[derive(clap::Args, Debug)]
pub struct Common {
    #[command(flatten)]
    pub paths: Paths,
    /// The login's username.
    #[arg(long)]
    pub username: Option<String>,
    /// The password on the command line is visible to other users of this machine (`ps`):
    /// prefer the prompt or --password-stdin.
    #[arg(long)]
    pub password: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// A display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Latitude of the position (for weather); give --lon with it.
    #[arg(long, allow_hyphen_values = true)]
    pub lat: Option<f64>,
    #[arg(long, allow_hyphen_values = true)]
    pub lon: Option<f64>,
    /// How often the worker polls.
    #[arg(long, default_value_t = 300)]
    pub poll_interval_secs: u64,
    /// Never ask: a missing flag is an error (or takes its default).
    #[arg(long)]
    pub non_interactive: bool,
}

#[derive(clap::Args, Debug)]
pub struct AddHouseArgs {
    #[command(flatten)]
    pub common: Common,
    /// The house id (the controller, such as `HEM_FJV_Villa_149`); needed only when the login
    /// has several houses.
    #[arg(long)]
    pub house_id: Option<String>,
    /// The HomeSide API root.
    #[arg(long, default_value = HOMESIDE_URL)]
    pub base_url: String,
}

#[derive(clap::Args, Debug)]
pub struct AddBuildingArgs {
    #[command(flatten)]
    pub common: Common,
    /// The Arrigo server, such as `exodrift05.systeminstallation.se` (API at `https://<host>/arrigo/api`).
    #[arg(long)]
    pub host: Option<String>,
    /// The API root itself, instead of --host (such as `http://127.0.0.1:8081/arrigo/api`).
    #[arg(long, conflicts_with = "host")]
    pub base_url: Option<String>,
    /// The building id (`building_id` tag and file name); default: the controller of its signals.
    #[arg(long)]
    pub building_id: Option<String>,
}

impl Common {
    /// The login at `base_url`: the username (asked as `username_prompt` unless given), then
    /// the password.
    fn login(&self, ask: &Asker, base_url: String, username_prompt: &str) -> Result<Login> {
        let username = ask.value(self.username.clone(), "--username", username_prompt, None)?;
        let password = ask.password(self.password.clone(), self.password_stdin)?;
        Ok(Login {
            base_url,
            username,
            password,
        })
    }
}

/// Name and location, asked for after the login worked.
fn describe(ask: &Asker, c: &Common, default_name: &str) -> Result<(String, Option<Value>)> {
    let name = ask.value(c.name.clone(), "--name", "Name", Some(default_name))?;
    let parse = |v: Option<String>, what: &str| -> Result<Option<f64>> {
        v.map(|s| {
            s.trim()
                .parse::<f64>()
                .with_context(|| format!("{what} {s:?} is not a number"))
        })
        .transpose()
    };
    let lat = parse(
        ask.optional(c.lat.map(|v| v.to_string()), "Latitude")?,
        "latitude",
    )?;
    let lon = match lat {
        Some(_) => parse(
            ask.optional(c.lon.map(|v| v.to_string()), "Longitude")?,
            "longitude",
        )?,
        None => c.lon,
    };
    let location = match (lat, lon) {
        (Some(lat), Some(lon)) => Some(json!({"lat": lat, "lon": lon})),
        (None, None) => None,
        _ => bail!("give both --lat and --lon, or neither"),
    };
    Ok((name, location))
}

/// Adds the entity's location to `config`, validates it as the orchestrator will, then writes
/// the login and the config; returns the file and the credentials' `.env` prefix.
fn write_entity(
    paths: &Paths,
    kind: EntityKind,
    login: &Login,
    new: &NewEntity,
    mut config: Value,
) -> Result<(std::path::PathBuf, String)> {
    if let Some(loc) = &new.location {
        config["location"] = loc.clone();
    }
    let id = &new.id;
    let prefix = match kind {
        EntityKind::House => format!("HOUSE_{id}"),
        EntityKind::Building => format!("BUILDING_{id}"),
    };
    let creds = credentials(
        &prefix,
        login.username.clone(),
        login.password.clone(),
        &login.base_url,
    )?;
    let path = paths.folder(kind).join(format!("{id}.json"));
    if path.exists() {
        bail!(
            "{} already exists: remove it first (hemflux remove {id})",
            path.display()
        );
    }
    let mut text = serde_json::to_string_pretty(&config)?;
    text.push('\n');
    if let Err(errors) = parse_entity(kind, &path, &text) {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bail!("the new config would not be valid:\n{}", all.join("\n"));
    }
    // Credentials first: when the watcher sees the config, its secrets are already there.
    env_set(&paths.env_file, &creds)?;
    write_atomic(&path, text.as_bytes(), 0o644)?;
    if super::offboarded::cancel_purge(&paths.data, kind, id)? {
        println!("{id} was soft-removed: its pending purge is cancelled and its data kept.");
    }
    Ok((path, prefix))
}

/// The login, and where it was verified: the only place it will be sent to.
fn credentials(
    prefix: &str,
    username: String,
    password: String,
    verified_at: &str,
) -> Result<[(String, String); 3]> {
    let origin = crate::credentials::origin(verified_at)
        .with_context(|| format!("{verified_at:?} is not a URL"))?;
    Ok([
        (format!("{prefix}_USERNAME"), username),
        (format!("{prefix}_PASSWORD"), password),
        (format!("{prefix}_URL"), origin),
    ])
}

pub async fn add_building(a: AddBuildingArgs) -> Result<()> {
    let c = &a.common;
    let ask = Asker::new(c.non_interactive);
    let base_url = match a.base_url.clone() {
        Some(u) => u,
        None => {
            let host = ask.value(
                a.host.clone(),
                "--host (or --base-url)",
                "Arrigo server (host name)",
                None,
            )?;
            format!("https://{host}/arrigo/api")
        }
    };
    let login = c.login(&ask, base_url, "Arrigo username")?;
    let found = discover_building(&login).await?;
    let id = ask.value(
        a.building_id.clone(),
        "--building-id",
        "Building id",
        Some(&found.controller),
    )?;
    let (name, location) = describe(&ask, c, &id)?;
    let signals = signal_configs(&found.analogs, &found.digitals);
    let new = NewEntity {
        id,
        name,
        location,
        poll_interval_secs: c.poll_interval_secs,
    };
    let (path, prefix) = write_building(&c.paths, &login, &new, signals)?;
    println!(
        "Added building {}: {} analog and {} digital signals discovered, written to {}; credentials in {} as {prefix}_USERNAME and {prefix}_PASSWORD.",
        new.id,
        found.analogs.len(),
        found.digitals.len(),
        path.display(),
        c.paths.env_file.display()
    );
    println!("A running orchestrator starts polling it within seconds. Set \"fetch\": false on signals you do not want.");
    Ok(())
}

/// A vendor login to verify, and where.
pub struct Login {
    pub base_url: String,
    pub username: String,
    pub password: String,
}

/// What the person onboarding decides after the login worked.
pub struct NewEntity {
    pub id: String,
    pub name: String,
    /// `{"lat": .., "lon": ..}`, for the weather.
    pub location: Option<Value>,
    pub poll_interval_secs: u64,
}

/// A building's signals, as its Arrigo server lists them once the login worked.
pub struct Discovery {
    /// The controller most signals belong to: the default building id.
    pub controller: String,
    pub analogs: Vec<Analog>,
    /// Listed with `"fetch": false`, as the seed kept them.
    pub digitals: Vec<Digital>,
}

/// Verifies an Arrigo login and lists the building's analog signals; nothing is written.
pub async fn discover_building(login: &Login) -> Result<Discovery> {
    let base_url = &login.base_url;
    let timeout = Duration::from_secs(ArrigoConfig::default_timeout());
    let mut client = Arrigo::new(base_url, &login.username, &login.password, timeout)?;
    match client.login().await {
        Ok(()) => {}
        Err(e @ LoginError::BadCredentials) => bail!("{e} at {base_url}: nothing was written"),
        Err(e) => {
            return Err(anyhow::Error::from(e).context(format!(
                "verifying the login at {base_url}; nothing was written"
            )))
        }
    }
    let reading = client
        .analogs()
        .await
        .context("discovering the building's signals; nothing was written")?;
    if reading.analogs.is_empty() {
        bail!("the login works but the server lists no analog signals; nothing was written");
    }
    // Listed as the seed kept them; a server that cannot list them still onboards.
    let digitals = match client.digitals().await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("warning: the digital signals could not be listed ({e:#}); only analog signals are written");
            Vec::new()
        }
    };
    Ok(Discovery {
        controller: main_controller(&reading.analogs),
        analogs: reading.analogs,
        digitals,
    })
}

/// Writes a building's config with `signals` (entries of [`signal_configs`]) and its login;
/// returns the file and the credentials' `.env` prefix.
pub fn write_building(
    paths: &Paths,
    login: &Login,
    new: &NewEntity,
    signals: Vec<Value>,
) -> Result<(std::path::PathBuf, String)> {
    let config = json!({
        "id": new.id, "name": new.name,
        "arrigo": {"base_url": login.base_url, "poll_interval_secs": new.poll_interval_secs},
        "signals": signals,
    });
    write_entity(paths, EntityKind::Building, login, new, config)
}

/// The controller most signals belong to (`<controller>.<signal>`).
fn main_controller(analogs: &[Analog]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for a in analogs {
        *counts
            .entry(a.name.split_once('.').map_or(a.name.as_str(), |(c, _)| c))
            .or_default() += 1;
    }
    let best = counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(c, _)| c)
        .unwrap_or("building");
    best.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A signal's name after its controller (`Kontor1.GT_UTE` → `GT_UTE`): its default field.
pub(crate) fn short_signal_name(name: &str) -> String {
    name.split_once('.')
        .map_or(name.to_string(), |(_, s)| s.to_string())
}

/// One signal entry per analog, then one per digital (listed with `"fetch": false`: only
/// analog values are polled); the field is the signal name after its controller, or the whole
/// name where two signals share it.
pub fn signal_configs(analogs: &[Analog], digitals: &[Digital]) -> Vec<Value> {
    let names = analogs
        .iter()
        .map(|a| &a.name)
        .chain(digitals.iter().map(|d| &d.name));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for name in names {
        *seen.entry(short_signal_name(name)).or_default() += 1;
    }
    let field = |name: &str| {
        let short = short_signal_name(name);
        if seen[&short] > 1 {
            name.to_string()
        } else {
            short
        }
    };
    let analog = analogs.iter().map(|a| {
        json!({"signal_id": a.id, "field": field(&a.name), "name": a.name, "unit": a.unit, "fetch": true})
    });
    let digital = digitals.iter().map(|d| {
        json!({"signal_id": d.id, "field": field(&d.name), "name": d.name, "kind": "digital", "fetch": false})
    });
    analog.chain(digital).collect()
}

pub async fn add_house(a: AddHouseArgs) -> Result<()> {
    let c = &a.common;
    let ask = Asker::new(c.non_interactive);
    let login = c.login(
        &ask,
        a.base_url.clone(),
        "HomeSide username (such as FC2000233091)",
    )?;
    let houses = verify_house(&login).await?;
    let controllers: Vec<&str> = houses.iter().map(|h| h.0.as_str()).collect();
    let wanted = match (&a.house_id, controllers.as_slice()) {
        (Some(want), _) => want.clone(),
        (None, [one]) => one.to_string(),
        (None, []) => bail!("this login has no houses; nothing was written"),
        (None, several) => ask.value(
            None,
            "--house-id (this login has several houses)",
            &format!("House id, one of {}", several.join(", ")),
            None,
        )?,
    };
    let (id, house_name) = houses
        .iter()
        .find(|h| h.0 == wanted)
        .with_context(|| {
            format!(
                "this login has no house {wanted:?}; it has {controllers:?}; nothing was written"
            )
        })?
        .clone();
    let (name, location) = describe(&ask, c, &house_name)?;
    let new = NewEntity {
        id,
        name,
        location,
        poll_interval_secs: c.poll_interval_secs,
    };
    let (path, prefix) = write_house(&c.paths, &login, &new)?;
    println!(
        "Added house {} ({}), written to {}; credentials in {} as {prefix}_USERNAME and {prefix}_PASSWORD.",
        new.id,
        new.name,
        path.display(),
        c.paths.env_file.display()
    );
    Ok(())
}

/// Verifies a HomeSide login and lists its houses as (id, name; the id when it has no name);
/// nothing is written.
pub async fn verify_house(login: &Login) -> Result<Vec<(String, String)>> {
    let base_url = &login.base_url;
    let client = HomesideClient::new(base_url, Duration::from_secs(30))
        .context("building the HTTP client")?;
    let session = match client.login(&login.username, &login.password).await {
        Ok(s) => s,
        Err(e @ HomesideError::LoginRefused(_)) => bail!("{e}: nothing was written"),
        Err(e) => bail!("verifying the login at {base_url}: {e}; nothing was written"),
    };
    let houses = client.houses(&session).await.with_context(|| {
        format!("listing the houses of this login at {base_url}; nothing was written")
    })?;
    Ok(houses
        .iter()
        .map(|h| {
            let id = h.controller().to_string();
            let name = if h.name.is_empty() {
                id.clone()
            } else {
                h.name.clone()
            };
            (id, name)
        })
        .collect())
}

/// Writes a house's config and its login; returns the file and the credentials' `.env` prefix.
pub fn write_house(
    paths: &Paths,
    login: &Login,
    new: &NewEntity,
) -> Result<(std::path::PathBuf, String)> {
    let mut homeside = json!({"poll_interval_secs": new.poll_interval_secs});
    if login.base_url != HOMESIDE_URL {
        homeside["base_url"] = json!(login.base_url);
    }
    let config = json!({"id": new.id, "name": new.name, "homeside": homeside});
    write_entity(paths, EntityKind::House, login, new, config)
}
