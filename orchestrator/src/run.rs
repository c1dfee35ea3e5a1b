//! `hemflux run`: the orchestrator. Opens the store, starts the sinks, the supervisor, the
//! watcher and the HTTP listener, and on SIGTERM/SIGINT/SIGHUP stops every worker and exits 0.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use crate::onboard::Paths;
use crate::settings::Settings;
use crate::sinks::Sinks;
use crate::store::Store;
use crate::supervisor::{Request, Supervisor};
use crate::watcher::{self, Folders};

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub paths: Paths,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Settings file; default `hemflux.toml` next to the data folder.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The worker binary; default `hemflux-worker` next to this binary.
    #[arg(long, env = "HEMFLUX_WORKER_BIN")]
    pub worker_bin: Option<PathBuf>,
}

/// The settings file that belongs to a data folder: `hemflux.toml` beside it.
pub fn default_config_path(data: &Path) -> PathBuf {
    let parent = data
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join("hemflux.toml")
}

pub fn worker_bin(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let me = std::env::current_exe().context("locating this binary")?;
    Ok(me.with_file_name("hemflux-worker"))
}

pub async fn run(args: RunArgs) -> Result<()> {
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| default_config_path(&args.paths.data));
    let settings = Settings::load(&config_path)?;
    let worker_bin = worker_bin(args.worker_bin.clone())?;
    if !worker_bin.is_file() {
        anyhow::bail!(
            "worker binary {} not found (build it with `cargo build`, or pass --worker-bin)",
            worker_bin.display()
        );
    }
    std::fs::create_dir_all(&args.paths.data)
        .with_context(|| format!("creating {}", args.paths.data.display()))?;
    crate::auth::ensure_token(&args.paths.data)?;
    let store = Store::open(&args.paths.data, &settings.store)?;
    let users = crate::users::Users::open(&args.paths.data, (&settings.http).into())?;
    let secrets = crate::secrets::Secrets::load(&args.paths.env_file)?;
    let sink_configs = settings.sinks_with_env(&secrets)?;
    let sinks = Arc::new(Sinks::start(&store, &sink_configs)?);
    let purger = Arc::new(crate::onboard::StorePurge {
        store: store.clone(),
        sinks: sink_configs,
    });
    tokio::spawn(crate::onboard::purge_daily(
        args.paths.data.clone(),
        purger.clone(),
    ));

    let (sup, heard) = Supervisor::new(settings.supervisor.clone(), worker_bin, store.clone())?;
    let worker_states = sup.state_changes();
    let (requests, requests_rx) = mpsc::channel(64);
    let supervisor = tokio::spawn(sup.run(requests_rx, heard));

    let meters_file = std::path::absolute(config_path.with_file_name("meters.yaml"))?;
    let folders = Folders {
        profiles: std::path::absolute(&args.paths.profiles)?,
        buildings: std::path::absolute(&args.paths.buildings)?,
        env_file: std::path::absolute(&args.paths.env_file)?,
        meters: meters_file.clone(),
    };
    tokio::spawn(watcher::run(
        folders,
        settings.globals.clone(),
        settings.supervisor.clone(),
        settings.credentials.clone(),
        requests.clone(),
    ));

    if let Some(email) = &settings.email {
        let password = secrets.get(crate::users::mail::PASSWORD_KEY);
        let mailer = crate::users::mail::Mailer::new(email, password)?;
        users.set_notifier(crate::users::notify::start(
            users.clone(),
            mailer,
            email.clone(),
            requests.clone(),
            store.clone(),
        ));
    }
    tokio::spawn(sweep_sessions(users.clone()));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, data = %args.paths.data.display(), "hemflux is running");
    let app = crate::http::router(crate::http::AppState {
        supervisor: requests.clone(),
        sinks: sinks.clone(),
        store: store.clone(),
        auth: crate::auth::Auth {
            token: crate::auth::TokenFile::new(&args.paths.data),
            allowed_hosts: settings.http.allowed_hosts.clone(),
        },
        users,
        purger,
        paths: args.paths.clone(),
        meters: meters_file,
        worker_states,
    });
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .await;
    });

    wait_for_stop_signal().await?;
    tracing::info!("stop requested: shutting down");
    let _ = requests.send(Request::Shutdown).await;
    if tokio::time::timeout(Duration::from_secs(8), supervisor)
        .await
        .is_err()
    {
        tracing::error!("workers did not stop in time");
    }
    let _ = http_stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(1), http).await;
    if let Ok(sinks) = Arc::try_unwrap(sinks) {
        let _ = tokio::time::timeout(Duration::from_secs(2), sinks.shutdown()).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Ended sessions are deleted hourly, so that the table holds only live ones.
async fn sweep_sessions(users: crate::users::Users) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if let Err(e) = users.sweep_sessions() {
            tracing::warn!("deleting ended sessions: {e:#}");
        }
    }
}

async fn wait_for_stop_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
    Ok(())
}
