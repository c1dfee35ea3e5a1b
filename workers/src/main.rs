//! `hemflux-worker <kind> <id>`: one source, run as a subprocess of the orchestrator. It reads
//! its init (config, secrets, state) from stdin, writes JSON lines to stdout, logs to stderr,
//! and exits when stdin closes.

mod building;
mod district_heating;
mod house;
mod link;
mod meter;
mod serial;
mod synthetic;
mod weather;

use anyhow::{bail, Context, Result};

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
    if worker.init.kind != *kind || worker.init.id != *id {
        bail!(
            "init is for {} {}, not {kind} {id}",
            worker.init.kind,
            worker.init.id
        );
    }
    match kind.as_str() {
        "synthetic" => synthetic::run(worker).await,
        "house" => house::run(worker).await,
        "weather" => weather::run(worker).await,
        "serial" => serial::run(worker).await,
        "building" => building::run(worker).await,
        "meter" => meter::run(worker).await,
        "district_heating" => district_heating::run(worker).await,
        other => bail!("unknown worker kind {other:?}"),
    }
}
