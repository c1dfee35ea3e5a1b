//! `hemflux check`: validate every config file (and `hemflux.toml`) without running anything.

use std::path::PathBuf;

use anyhow::Result;
use hemflux_shared::config::{desired_workers, parse_entity_bytes, EntityKind};

use crate::configset::{config_entries, first_holders_first, modified_ns};
use crate::credentials::refuse_unbound;
use crate::secrets::Secrets;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[arg(long, default_value = "profiles")]
    pub profiles: PathBuf,
    #[arg(long, default_value = "buildings")]
    pub buildings: PathBuf,
    /// Also check this settings file (its `[credentials]` allow-list applies); default
    /// `hemflux.toml` when there is one.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The credentials file, to check which credentials each worker may receive.
    #[arg(long, default_value = ".env")]
    pub env_file: PathBuf,
    /// Meter definitions to check; default `meters.yaml` beside the settings file, if there.
    #[arg(long)]
    pub meters: Option<PathBuf>,
}

/// Prints every problem as `file:line:column: field.path: message`; returns whether all is well.
pub fn run(args: CheckArgs) -> Result<bool> {
    let mut problems = Vec::new();
    let mut entities = Vec::new();
    let mut files = 0;
    for (dir, kind) in [
        (&args.profiles, EntityKind::House),
        (&args.buildings, EntityKind::Building),
    ] {
        let (found, unreadable) = config_entries(dir);
        files += found.len() + unreadable.len();
        problems.extend(unreadable.iter().map(ToString::to_string));
        for file in found {
            match std::fs::read(&file) {
                Ok(text) => match parse_entity_bytes(kind, &file, &text) {
                    Ok(e) => entities.push((file, e)),
                    Err(errs) => problems.extend(errs.iter().map(ToString::to_string)),
                },
                Err(e) => problems.push(format!("{}: cannot read: {e}", file.display())),
            }
        }
    }
    let mut settings = Settings::default();
    let config = args.config.clone().unwrap_or_else(|| "hemflux.toml".into());
    match Settings::load(&config) {
        Ok(s) => settings = s,
        Err(e) => problems.push(format!("{e:#}")),
    }
    let secrets = Secrets::read(&args.env_file).unwrap_or_else(|e| {
        problems.push(e.to_string());
        Secrets::default()
    });
    let meters = args.meters.clone().or_else(|| {
        let beside = args
            .config
            .as_deref()
            .unwrap_or("hemflux.toml".as_ref())
            .with_file_name("meters.yaml");
        beside.exists().then_some(beside)
    });
    if let Some(path) = meters {
        files += 1;
        if let Err(e) = crate::meters::load(&path) {
            problems.extend(format!("{e:#}").lines().map(String::from));
        }
    }
    // Of two files with one id, the older keeps it (as in a running orchestrator).
    first_holders_first(&mut entities, modified_ns);
    settings.globals.dropbox_in_env = secrets.has_dropbox();
    let (specs, clashes) = desired_workers(&entities, &settings.globals);
    problems.extend(clashes.iter().map(ToString::to_string));
    let (specs, refused) = refuse_unbound(specs, &secrets, &settings.credentials);
    problems.extend(refused.iter().map(ToString::to_string));
    for p in &problems {
        eprintln!("{p}");
    }
    println!(
        "{files} file(s), {} worker(s), {} problem(s)",
        specs.len(),
        problems.len()
    );
    Ok(problems.is_empty())
}
