//! `hemflux`: the orchestrator and its command-line tools.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hemflux",
    version,
    about = "Collects home and building energy data into one durable store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what the embedded store holds.
    Query(hemflux::query::QueryArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Query(args) => hemflux::query::run(args),
    }
}
