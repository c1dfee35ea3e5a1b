//! Credentials go only where they belong. A config file chooses both the `.env` prefix its
//! worker reads (`credential_ref`) and the URL the worker sends it to (`base_url`), so without
//! these rules any profile could pull any credential to any listener. A worker gets its
//! credentials only when:
//!
//! - the prefix is not the sinks', the log shipper's or the orchestrator's own (`INFLUXDB_*`,
//!   `SEQ_*`, `HEMFLUX_*`) nor the file exchange's (`DROPBOX_*`, set up in `hemflux.toml`);
//! - a prefix that names an entity (`HOUSE_<id>`, `HOUSE_<id>_ARRIGO`, `BUILDING_<id>`,
//!   `BROUTE_<house>_...`) is that
//!   worker's entity, or `.env` shares it with that entity: `<PREFIX>_SHARED_WITH=id1,id2`;
//! - the URL's origin (scheme, host, port) is the vendor's own, or the one the credential was
//!   verified at (`<PREFIX>_URL` in `.env`, written by `hemflux add-house` / `add-building`), or
//!   listed in `[credentials] allowed_urls` in `hemflux.toml`.
//!
//! A worker that asks for more is refused with an error naming its file (`hemflux check`,
//! `/api/errors`, `hemflux status`) and does not start.

use hemflux_shared::config::{ConfigError, CredentialUse, WorkerSpec};
use serde::Deserialize;

use crate::secrets::Secrets;

/// `[credentials]` in `hemflux.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialSettings {
    /// Origins (`https://arrigo.example.se`, `http://127.0.0.1:4000`) any credential may go to.
    pub allowed_urls: Vec<String>,
}

/// Prefixes no worker's config may read.
const RESERVED: [&str; 4] = ["INFLUXDB", "SEQ", "HEMFLUX", "DROPBOX"];

/// Splits `specs` into those whose credentials are bound as they must be and an error for each
/// of the others.
pub fn refuse_unbound(
    specs: Vec<WorkerSpec>,
    secrets: &Secrets,
    settings: &CredentialSettings,
) -> (Vec<WorkerSpec>, Vec<ConfigError>) {
    let mut fit = Vec::with_capacity(specs.len());
    let mut errors = Vec::new();
    for spec in specs {
        let problem = spec
            .credentials
            .iter()
            .find_map(|c| problem(c, secrets, settings));
        match problem {
            None => fit.push(spec),
            Some((path, message)) => errors.push(ConfigError {
                file: spec.files.first().cloned().unwrap_or_default(),
                line: 0,
                column: 0,
                path,
                message: format!("{message}; {} is not started", spec.id),
            }),
        }
    }
    (fit, errors)
}

/// The field at fault and why, or `None` when the credentials may go.
fn problem(
    c: &CredentialUse,
    secrets: &Secrets,
    settings: &CredentialSettings,
) -> Option<(String, String)> {
    let prefix = c.prefix.as_str();
    if let Some(r) = RESERVED
        .iter()
        .find(|r| prefix == **r || prefix.starts_with(&format!("{r}_")))
    {
        return Some((
            "credential_ref".into(),
            format!("{prefix:?}: {r}_* credentials belong to hemflux itself and go to no worker"),
        ));
    }
    if !names_this_entity(prefix, &c.entity) && !shared_with(secrets, prefix, &c.entity) {
        return Some((
            "credential_ref".into(),
            format!(
                "{prefix:?} holds another entity's credentials, not {:?}'s (to share them, add {prefix}_SHARED_WITH={} to .env)",
                c.entity, c.entity
            ),
        ));
    }
    let (field, url) = c.url.as_ref()?;
    let Some(dest) = origin(url) else {
        return Some((field.clone(), format!("{url:?} is not a URL")));
    };
    let verified = secrets.get(&format!("{prefix}_URL"));
    let fit = c
        .vendor_url
        .iter()
        .chain(verified.iter())
        .chain(settings.allowed_urls.iter())
        .filter_map(|u| origin(u))
        .any(|o| o == dest);
    if fit {
        return None;
    }
    Some((
        field.clone(),
        format!(
            "{prefix}'s credentials were not verified at {dest}{}: add {prefix}_URL={dest} to .env \
             (`hemflux add-house`/`add-building` write it) or {dest:?} to [credentials] allowed_urls in hemflux.toml",
            verified.map(|v| format!(" (but at {v})")).unwrap_or_default()
        ),
    ))
}

/// Whether a prefix that names an entity names this one; a prefix that names none is neutral.
fn names_this_entity(prefix: &str, entity: &str) -> bool {
    if let Some(id) = prefix.strip_prefix("HOUSE_") {
        // `HOUSE_<id>_ARRIGO`: the house's Arrigo history login.
        return id == entity || id.strip_suffix("_ARRIGO") == Some(entity);
    }
    if let Some(id) = prefix.strip_prefix("BUILDING_") {
        return id == entity;
    }
    if let Some(rest) = prefix.strip_prefix("BROUTE_") {
        return rest
            .strip_prefix(entity)
            .is_some_and(|r| r.is_empty() || r.starts_with('_'));
    }
    true
}

fn shared_with(secrets: &Secrets, prefix: &str, entity: &str) -> bool {
    secrets
        .get(&format!("{prefix}_SHARED_WITH"))
        .is_some_and(|list| list.split(',').any(|id| id.trim() == entity))
}

/// `scheme://host:port`, the port made explicit.
pub fn origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url.trim()).ok()?;
    let host = u.host_str()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        host.to_ascii_lowercase(),
        u.port_or_known_default()?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(prefix: &str, entity: &str, url: Option<&str>, vendor: Option<&str>) -> WorkerSpec {
        let config = hemflux_shared::kinds::SyntheticWorker {
            house_id: entity.into(),
            synthetic: serde_json::from_str("{}").unwrap(),
        };
        WorkerSpec::new(
            format!("house:{entity}"),
            config,
            Vec::new(),
            "profiles/x.json".as_ref(),
        )
        .bound_to(CredentialUse {
            prefix: prefix.into(),
            entity: entity.into(),
            url: url.map(|u| ("homeside.base_url".into(), u.into())),
            vendor_url: vendor.map(Into::into),
        })
    }

    fn secrets(env: &str) -> Secrets {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, env).unwrap();
        Secrets::load(&path).unwrap()
    }

    fn refused(s: WorkerSpec, env: &str, allowed: &[&str]) -> Option<String> {
        let settings = CredentialSettings {
            allowed_urls: allowed.iter().map(|s| s.to_string()).collect(),
        };
        let (fit, errors) = refuse_unbound(vec![s], &secrets(env), &settings);
        assert_eq!(fit.len() + errors.len(), 1);
        errors.first().map(ToString::to_string)
    }

    const VENDOR: &str = "https://homeside.systeminstallation.se";

    #[test]
    fn the_vendors_own_host_is_fine() {
        let s = spec("HOUSE_a", "a", Some(VENDOR), Some(VENDOR));
        assert_eq!(refused(s, "", &[]), None);
        let s = spec(
            "HOUSE_a",
            "a",
            Some("https://HOMESIDE.systeminstallation.se:443/x"),
            Some(VENDOR),
        );
        assert_eq!(refused(s, "", &[]), None);
    }

    #[test]
    fn another_host_needs_the_verified_url_or_the_allow_list() {
        let attacker = "http://127.0.0.1:5555";
        let e = refused(spec("HOUSE_a", "a", Some(attacker), Some(VENDOR)), "", &[]).unwrap();
        assert!(
            e.contains("homeside.base_url") && e.contains("HOUSE_a_URL=http://127.0.0.1:5555"),
            "{e}"
        );
        assert!(e.contains("house:a is not started"), "{e}");
        // Verified at another port of the same host: still not there.
        let env = "HOUSE_a_URL=http://127.0.0.1:4000\n";
        let e = refused(spec("HOUSE_a", "a", Some(attacker), Some(VENDOR)), env, &[]).unwrap();
        assert!(e.contains("but at http://127.0.0.1:4000"), "{e}");
        let ok = spec(
            "HOUSE_a",
            "a",
            Some("http://127.0.0.1:4000/api"),
            Some(VENDOR),
        );
        assert_eq!(refused(ok, env, &[]), None);
        let ok = spec("HOUSE_a", "a", Some(attacker), Some(VENDOR));
        assert_eq!(refused(ok, "", &["http://127.0.0.1:5555/"]), None);
    }

    #[test]
    fn another_entitys_credentials_are_refused_unless_shared() {
        let e = refused(
            spec("HOUSE_villa1", "evil", Some(VENDOR), Some(VENDOR)),
            "",
            &[],
        )
        .unwrap();
        assert!(
            e.contains("credential_ref") && e.contains("HOUSE_villa1_SHARED_WITH=evil"),
            "{e}"
        );
        assert!(refused(spec("BUILDING_kontor", "annex", None, None), "", &[]).is_some());
        let shared = "BUILDING_kontor_SHARED_WITH=\"annex, other\"\n";
        assert_eq!(
            refused(spec("BUILDING_kontor", "annex", None, None), shared, &[]),
            None
        );
        // A neutral prefix names no entity.
        assert_eq!(
            refused(spec("ACME_ARRIGO", "annex", None, None), "", &[]),
            None
        );
        // B-route prefixes carry the house and the device name.
        assert_eq!(
            refused(spec("BROUTE_tokyo_broute", "tokyo", None, None), "", &[]),
            None
        );
        assert!(refused(spec("BROUTE_tokyo2_broute", "tokyo", None, None), "", &[]).is_some());
        assert!(refused(spec("HOUSE_a_b", "a", None, None), "", &[]).is_some());
    }

    #[test]
    fn hemflux_own_credentials_go_to_no_worker() {
        for prefix in ["INFLUXDB", "SEQ", "HEMFLUX_API", "DROPBOX_REFRESH"] {
            let e = refused(spec(prefix, "a", None, None), "", &["http://x"]).unwrap();
            assert!(e.contains("go to no worker"), "{e}");
        }
        assert_eq!(refused(spec("INFLUXDBX", "a", None, None), "", &[]), None);
    }

    #[test]
    fn a_houses_arrigo_login_is_its_own_and_each_binding_is_checked() {
        assert!(names_this_entity("HOUSE_a_ARRIGO", "a"));
        assert!(!names_this_entity("HOUSE_a_ARRIGO", "b"));
        assert!(!names_this_entity("HOUSE_b_ARRIGO", "a"));
        let arrigo = "http://127.0.0.1:4100/arrigo/api";
        let both = |prefix: &str| {
            spec("HOUSE_a", "a", Some(VENDOR), Some(VENDOR)).bound_to(CredentialUse {
                prefix: prefix.into(),
                entity: "a".into(),
                url: Some(("arrigo_history.arrigo.base_url".into(), arrigo.into())),
                vendor_url: None,
            })
        };
        let e = refused(both("HOUSE_a_ARRIGO"), "", &[]).unwrap();
        assert!(
            e.contains("arrigo_history.arrigo.base_url") && e.contains("HOUSE_a_ARRIGO_URL="),
            "{e}"
        );
        let env = "HOUSE_a_ARRIGO_URL=http://127.0.0.1:4100\n";
        assert_eq!(refused(both("HOUSE_a_ARRIGO"), env, &[]), None);
        let e = refused(
            both("HOUSE_b_ARRIGO"),
            "HOUSE_b_ARRIGO_URL=http://127.0.0.1:4100\n",
            &[],
        );
        assert!(e.unwrap().contains("another entity's credentials"));
    }
}
