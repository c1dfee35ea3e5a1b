//! `hemflux check`: validate every config file (and `hemflux.toml`) without running anything.

use std::path::PathBuf;

use anyhow::Result;
use hemflux_shared::config::{desired_workers, parse_entity, EntityKind};

use crate::configset::config_files;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[arg(long, default_value = "profiles")]
    pub profiles: PathBuf,
    #[arg(long, default_value = "buildings")]
    pub buildings: PathBuf,
    /// Also check this settings file.
    #[arg(long)]
    pub config: Option<PathBuf>,
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
        for file in config_files(dir) {
            files += 1;
            match std::fs::read_to_string(&file) {
                Ok(text) => match parse_entity(kind, &file, &text) {
                    Ok(e) => entities.push((file, e)),
                    Err(errs) => problems.extend(errs.iter().map(ToString::to_string)),
                },
                Err(e) => problems.push(format!("{}: cannot read: {e}", file.display())),
            }
        }
    }
    let mut globals = Default::default();
    if let Some(path) = &args.config {
        match Settings::load(path) {
            Ok(s) => globals = s.globals,
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
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
    let (specs, clashes) = desired_workers(&entities, &globals);
    problems.extend(clashes.iter().map(ToString::to_string));
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
