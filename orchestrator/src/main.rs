//! `hemflux`: the orchestrator and its command-line tools.

mod sinks;
mod store;

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
enum Command {}

fn main() -> anyhow::Result<()> {
    let _ = Cli::parse();
    Ok(())
}
