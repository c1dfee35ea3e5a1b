//! `hemflux-sim <vendor> --listen 127.0.0.1:PORT`: strict simulators of the vendor services
//! hemflux reads, following `../shared/protocols/`. Each prints `LISTENING <url-or-path>` on
//! stdout once it accepts connections, so tests and the demo can start it on port 0.

mod common;

mod arrigo;
mod broute;
mod dropbox;
mod gql_doc;
mod homeside;
mod seq;
mod smhi;
mod smtp;
mod tibber;
mod wattivahti;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hemflux-sim",
    about = "Strict simulators of the vendor services hemflux reads"
)]
struct Cli {
    #[command(subcommand)]
    vendor: Vendor,
}

#[derive(Subcommand)]
enum Vendor {
    /// HomeSide district-heating substation API.
    Homeside(homeside::Args),
    /// Arrigo BMS GraphQL API.
    Arrigo(arrigo::Args),
    /// SMHI open data: observations and point forecasts.
    Smhi(smhi::Args),
    /// WattiVahti OAuth and meter data.
    Wattivahti(wattivahti::Args),
    /// Tibber GraphQL API.
    Tibber(tibber::Args),
    /// Dropbox API v2 playing the energy company's file exchange.
    Dropbox(dropbox::Args),
    /// A Wi-SUN B-route module (SKSTACK-IP) and smart meter on a pseudo-terminal.
    Broute(broute::Args),
    /// Seq's CLEF ingestion endpoint.
    Seq(seq::Args),
    /// An SMTP server that writes each message it accepts to a file.
    Smtp(smtp::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<std::convert::Infallible> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let vendor = Cli::parse().vendor;
    let serve = async move {
        match vendor {
            Vendor::Homeside(a) => homeside::run(a).await,
            Vendor::Arrigo(a) => arrigo::run(a).await,
            Vendor::Smhi(a) => smhi::run(a).await,
            Vendor::Wattivahti(a) => wattivahti::run(a).await,
            Vendor::Tibber(a) => tibber::run(a).await,
            Vendor::Dropbox(a) => dropbox::run(a).await,
            Vendor::Broute(a) => broute::run(a).await,
            Vendor::Seq(a) => seq::run(a).await,
            Vendor::Smtp(a) => smtp::run(a).await,
        }
    };
    // Every simulator stops on SIGTERM, SIGINT or SIGHUP, as on stdin EOF. It exits without
    // shutting the runtime down: that would wait for the blocked stdin reader, i.e. for EOF.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let result = tokio::select! {
        result = serve => result,
        _ = term.recv() => Ok(()),
        _ = int.recv() => Ok(()),
        _ = hup.recv() => Ok(()),
    };
    if let Err(e) = result {
        eprintln!("Error: {e:?}");
        std::process::exit(1);
    }
    std::process::exit(0)
}
