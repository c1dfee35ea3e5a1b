//! `hemflux meter-token <worker-id>`: gives a WattiVahti meter its first refresh token, or a new
//! one after re-authentication. The token is read from stdin (never from the command line, where
//! `ps` and shell history would keep it) and written to the meter's token file, which the worker
//! reads when it changes; from then on the worker keeps the rotating token in its own state.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use hemflux_shared::config::{Globals, MeterSource};
use hemflux_shared::kinds::{MeterWorker, WorkerConfig};

use crate::configset::ConfigSet;

#[derive(clap::Args, Debug)]
pub struct MeterTokenArgs {
    /// The meter's worker id, such as `meter:villa_fi/electricity`.
    pub id: String,
    #[arg(long, default_value = "profiles")]
    pub profiles: PathBuf,
    #[arg(long, default_value = "buildings")]
    pub buildings: PathBuf,
}

pub fn run(args: MeterTokenArgs) -> Result<()> {
    let snapshot =
        ConfigSet::default().rescan(&args.profiles, &args.buildings, &Globals::default());
    let spec = snapshot.specs.iter().find(|s| s.id == args.id).ok_or_else(|| {
        anyhow!(
            "no worker {:?} in {}: a meter's id is `meter:<house id>/<meter name>` (`hemflux check` lists problems)",
            args.id,
            args.profiles.display()
        )
    })?;
    let WorkerConfig::Meter(MeterWorker { meter, .. }) = &spec.config else {
        bail!("{} is not a meter", args.id);
    };
    let MeterSource::Wattivahti(w) = &meter.source else {
        bail!(
            "{} is not a WattiVahti meter: only WattiVahti takes a refresh token this way",
            args.id
        );
    };
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "Paste the WattiVahti refresh token for metering point {}, then press Enter:",
            w.metering_point
        );
    }
    let mut token = String::new();
    stdin
        .lock()
        .read_line(&mut token)
        .context("reading the token from stdin")?;
    let token = token.trim();
    if token.is_empty() {
        bail!("no token on stdin: get one by signing in to wattivahti.fi (wattivahti-influx's get_token.py) and paste it");
    }
    let path = PathBuf::from(w.token_path());
    write_secret(&path, token)?;
    println!(
        "Wrote the token to {} (readable only by this user). The worker takes it in within a minute; `hemflux status` shows it syncing.",
        path.display()
    );
    Ok(())
}

/// Writes a secret file readable only by its owner, atomically (a half-written token is worse
/// than none).
fn write_secret(path: &Path, secret: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    writeln!(f, "{secret}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}
