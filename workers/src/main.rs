//! `hemflux-worker <kind> <id>`: one source, run as a subprocess of the orchestrator. It reads
//! its init (config, secrets, state) from stdin, writes JSON lines to stdout, logs to stderr,
//! and exits when stdin closes.

mod arrigo_history;
mod link;
mod runtime;

use anyhow::{bail, Context, Result};
use hemflux_shared::kinds::WorkerConfig;

/// One module per kind, named as in `hemflux_shared::kinds`, each with
/// `pub async fn run(worker: Worker, config: <its config>) -> Result<()>`.
macro_rules! kind_modules {
    ($($variant:ident($module:ident::$config:ident)),* $(,)?) => {
        $(mod $module;)*

        async fn run_kind(worker: link::Worker) -> Result<()> {
            match worker.init.config.clone() {
                $(WorkerConfig::$variant(config) => $module::run(worker, config).await,)*
            }
        }
    };
}
hemflux_shared::with_worker_kinds!(kind_modules);

// One thread: a worker waits on the network, and every thread costs memory times the fleet size.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = run().await {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, id] = args.as_slice() else {
        bail!("usage: hemflux-worker <kind> <id> (started by `hemflux run`, which sends the init on stdin)");
    };
    let worker = link::start()
        .await
        .context("starting the worker protocol")?;
    if worker.init.kind().as_str() != kind || worker.init.id != *id {
        bail!(
            "init is for {} {}, not {kind} {id}",
            worker.init.kind(),
            worker.init.id
        );
    }
    run_kind(worker).await
}
