//! `hemflux migrate --from DIR [--to DIR] [--dry-run]`: a seed installation, as it is, into
//! hemflux's files, saying what was mapped, what was dropped and why, and what is left to do.
//!
//! Everything is read and checked first; if a seed file cannot be read, or a file hemflux would
//! write already exists with other contents, nothing is written. Learned parameters of the
//! seed's profiles and buildings (`learned`, `energy_separation`, `heat_curve_control`, and
//! the `comfort`/`heating_system`/`building` hints) become the analytics' starting state:
//! worker state `analytics:<id>` in the store, where the analytics worker of that house or
//! building finds it (`analytics:settings` holds the seed's global `heating`, `calibration`
//! and `daily_tasks`).

mod bvpro;
mod env;
mod history;
mod plan;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hemflux_shared::config::{parse_entity, EntityKind};
use jiff::Timestamp;

use crate::onboard::files::{env_get, env_set, write_atomic};
use crate::onboard::{Offboarded, Removed};
use crate::store::{Reader, Store, StoreConfig};
pub use bvpro::analytics_state_id;
use plan::Plan;

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// A seed installation: a BVPro folder (profiles/, buildings/, .env, settings.json,
    /// variables_config.json, offboarded.json), the B-route collector's or the WattiVahti
    /// sync's folder (with its .env). Repeatable.
    #[arg(long, required = true)]
    pub from: Vec<PathBuf>,
    /// The hemflux folder to write: profiles/, buildings/, .env, hemflux.toml, data/.
    #[arg(long, default_value = ".")]
    pub to: PathBuf,
    /// Print what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Reads every `--from` folder into one plan.
fn read_seeds(from: &[PathBuf]) -> Result<Plan> {
    let mut plan = Plan::default();
    for dir in from {
        if !dir.is_dir() {
            bail!("--from {}: not a folder", dir.display());
        }
        let before = plan.mapped.len() + plan.dropped.len() + plan.problems.len();
        let env = env::read(dir, &mut plan);
        let location = env::location(&env, &dir.join(".env"), &mut plan);
        let settings_poll = bvpro::settings(dir, &mut plan);
        let env_poll = env
            .get("POLL_INTERVAL_MINUTES")
            .and_then(|m| m.parse::<u64>().ok());
        if env_poll.is_some() {
            plan.mapped(
                &dir.join(".env"),
                "POLL_INTERVAL_MINUTES -> each house's homeside.poll_interval_secs",
            );
        }
        let shared = bvpro::Shared {
            poll_secs: env_poll.map(|m| m * 60).or(settings_poll),
            location,
            extra_variables: bvpro::variables(dir, &mut plan),
            env,
        };
        bvpro::profiles(dir, &shared, &mut plan);
        bvpro::buildings(dir, &shared, &mut plan);
        bvpro::offboarded(dir, &mut plan);
        env::keys(dir, &shared.env, &mut plan);
        if plan.mapped.len() + plan.dropped.len() + plan.problems.len() == before {
            plan.problem(
                dir,
                "no seed installation here (no profiles/, buildings/ or .env)",
            );
        }
    }
    district_heating(&mut plan);
    keep_configured(&mut plan);
    Ok(plan)
}

/// A soft removal whose entity is configured again is no longer pending: purging it would
/// delete the data of a live house or building.
fn keep_configured(plan: &mut Plan) {
    let files = &plan.files;
    let (kept, live): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.pending_purges)
        .into_iter()
        .partition(|(kind, id, _)| {
            let folder = if kind == "building" {
                "buildings"
            } else {
                "profiles"
            };
            !files.contains_key(&Path::new(folder).join(format!("{id}.json")))
        });
    for (kind, id, _) in live {
        plan.dropped.push(format!(
            "offboarded.json: the pending purge of {kind} {id}: it is configured again, so its data stays"
        ));
    }
    for (kind, id, at) in &kept {
        plan.mapped.push(format!(
            "offboarded.json: {kind} {id}: its data is purged after {at}, as the seed planned \
             (not restorable: the seed removed its config)"
        ));
    }
    plan.pending_purges = kept;
}

/// Meter ids are read through the file exchange, which Dropbox credentials in `.env` set up
/// (as in the seed); without them the meter ids are an error of `hemflux check`.
fn district_heating(plan: &mut Plan) {
    let with_meters = plan
        .files
        .values()
        .any(|(text, _)| text.contains("\"meter_ids\""));
    if !with_meters {
        return;
    }
    if plan.env.contains_key("DROPBOX_REFRESH_TOKEN") {
        plan.mapped.push(
            "DROPBOX_* and meter_ids -> the file exchange over Dropbox, with the seed's defaults \
             (folder /data, BVPro_DH.csv, daily at 07:55; [district_heating] in hemflux.toml to change them)"
                .into(),
        );
    } else {
        plan.todo.push("meter_ids are set but no DROPBOX_* credentials were found: add them to .env (or a [district_heating] section with transport = \"folder\" to hemflux.toml), else `hemflux check` refuses the meter ids (docs/meters.md)".into());
    }
}

/// Every config file the plan writes must pass `hemflux check`.
fn check_configs(plan: &mut Plan) {
    let mut problems = Vec::new();
    for (path, (text, _)) in &plan.files {
        let kind = match path.parent().and_then(Path::to_str) {
            Some("profiles") => EntityKind::House,
            Some("buildings") => EntityKind::Building,
            _ => continue,
        };
        if let Err(errors) = parse_entity(kind, path, text) {
            problems.extend(errors.iter().map(|e| format!("the migrated {e}")));
        }
    }
    plan.problems.extend(problems);
}

/// What already exists in `--to` and differs from the plan.
fn conflicts(args: &MigrateArgs, plan: &Plan) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (path, (text, _)) in &plan.files {
        let target = args.to.join(path);
        match std::fs::read_to_string(&target) {
            Ok(existing) if existing != *text => {
                out.push(format!("{} exists with other contents", target.display()))
            }
            _ => {}
        }
    }
    let env_file = args.to.join(".env");
    let keys: Vec<String> = plan.env.keys().cloned().collect();
    for (key, value) in env_get(&env_file, &keys)? {
        if plan.env[&key] != value {
            out.push(format!(
                "{} already sets {key} to another value",
                env_file.display()
            ));
        }
    }
    let data = args.to.join("data");
    if data.join(crate::store::FILE_NAME).exists() {
        let reader = Reader::open(&data)?;
        for (id, state) in &plan.states {
            if reader.load_state(id)?.is_some_and(|s| s != *state) {
                out.push(format!(
                    "the store in {} already has a state for {id}",
                    data.display()
                ));
            }
        }
    }
    Ok(out)
}

fn print_section(title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    println!("{title}:");
    for line in lines {
        println!("  {line}");
    }
}

pub async fn run(args: MigrateArgs) -> Result<()> {
    let mut plan = read_seeds(&args.from)?;
    check_configs(&mut plan);
    let config_path = args.to.join("hemflux.toml");
    if config_path.exists() && !plan.toml.is_empty() {
        plan.todo.push(format!(
            "{} exists and is left as it is: add to it\n{}",
            config_path.display(),
            plan.toml.join("\n")
        ));
        plan.toml.clear();
    }
    print_section("mapped", &plan.mapped);
    print_section("dropped", &plan.dropped);
    print_section("to do by hand", &plan.todo);
    let mut problems = plan.problems.clone();
    problems.extend(conflicts(&args, &plan)?);
    if !problems.is_empty() {
        print_section("problems", &problems);
        bail!("{} problem(s): nothing written", problems.len());
    }
    let mut writes: Vec<String> = plan
        .files
        .keys()
        .map(|p| args.to.join(p).display().to_string())
        .collect();
    if !plan.env.is_empty() {
        writes.push(format!(
            "{} ({} keys)",
            args.to.join(".env").display(),
            plan.env.len()
        ));
    }
    if !plan.toml.is_empty() {
        writes.push(config_path.display().to_string());
    }
    if !plan.states.is_empty() || !plan.pending_purges.is_empty() {
        writes.push(format!(
            "{} (worker states, offboarded.json)",
            args.to.join("data").display()
        ));
    }
    if args.dry_run {
        print_section("dry run: would write", &writes);
        return Ok(());
    }
    apply(&args, &plan).await?;
    print_section("wrote", &writes);
    Ok(())
}

async fn apply(args: &MigrateArgs, plan: &Plan) -> Result<()> {
    for (path, (text, mode)) in &plan.files {
        let target = args.to.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        write_atomic(&target, text.as_bytes(), *mode)?;
    }
    if !plan.env.is_empty() {
        let values: Vec<(String, String)> = plan.env.clone().into_iter().collect();
        env_set(&args.to.join(".env"), &values)?;
    }
    if !plan.toml.is_empty() {
        write_atomic(
            &args.to.join("hemflux.toml"),
            plan.toml.join("\n").as_bytes(),
            0o644,
        )?;
    }
    let data = args.to.join("data");
    if !plan.states.is_empty() {
        let store = Store::open(&data, &StoreConfig::default())?;
        for (id, state) in &plan.states {
            store.write(id, Vec::new(), Some(state.clone())).await?;
        }
    }
    if !plan.pending_purges.is_empty() {
        let mut offboarded = Offboarded::load(&data)?;
        for (kind, id, purge_after) in &plan.pending_purges {
            let (kind, folder) = match kind.as_str() {
                "building" => (EntityKind::Building, "buildings"),
                _ => (EntityKind::House, "profiles"),
            };
            if offboarded
                .entities
                .iter()
                .any(|e| e.id == *id && e.kind == kind)
            {
                continue;
            }
            offboarded.entities.push(Removed {
                id: id.clone(),
                kind,
                removed_at: Timestamp::now(),
                purge_after: *purge_after,
                config_file: args.to.join(folder).join(format!("{id}.json")),
                config: String::new(),
                credentials: Default::default(),
            });
        }
        offboarded.save(&data)?;
    }
    Ok(())
}
