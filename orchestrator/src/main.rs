//! `hemflux`: the orchestrator and its command-line tools.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Log lines on stderr: human on a terminal and JSON lines otherwise (auto), or forced.
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: hemflux::logging::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the orchestrator: watch the config folders and supervise one worker per source.
    Run(hemflux::run::RunArgs),
    /// Validate every config file; prints file:line:column: field: problem; exit 1 if any.
    Check(hemflux::check::CheckArgs),
    /// Show the workers of a running orchestrator.
    Status {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The orchestrator's data folder: its API token is sent when readable (needed once
        /// web user accounts exist).
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Restart one worker now (also clears a `failed` state).
    Restart {
        id: String,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The orchestrator's data folder, which holds the API token.
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// The API token (`<data>/api-token`, mode 0600) that the commands which change things send.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Exit 0 if the orchestrator on --listen is healthy (for container health checks).
    Health {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Print what the embedded store holds.
    Query(hemflux::query::QueryArgs),
    /// Energy analytics now, from the store: `hemflux analytics run [ENTITY...]`.
    Analytics(hemflux::analytics::AnalyticsArgs),
    /// Add a house: verify its HomeSide login, write its profile and credentials.
    AddHouse(hemflux::onboard::AddHouseArgs),
    /// Add a building: verify its Arrigo login, discover its signals, write config and credentials.
    AddBuilding(hemflux::onboard::AddBuildingArgs),
    /// Remove a house or building: hard (data purged now), --soft (after 30 days), --restore, --dry-run.
    Remove(hemflux::onboard::RemoveArgs),
    /// Import a time range of history through the entity's worker, with a progress bar.
    Backfill(hemflux::backfill::BackfillArgs),
    /// Load history (InfluxDB line protocol or CSV, plain or gzip) into the store; idempotent.
    Import(hemflux::import::ImportArgs),
    /// Switch from the seed systems: their files as they are into hemflux's, with a report.
    Migrate(hemflux::migrate::MigrateArgs),
    /// A small fleet on the embedded store, fed by the vendor simulators, with a live summary.
    Demo(hemflux::demo::DemoArgs),
    /// Meter analytics: `hemflux meters run [--full] [METER...] [--format table|json]`.
    #[command(subcommand)]
    Meters(hemflux::meters::MetersCommand),
    /// Readings taken by hand: `hemflux reading add METER VALUE [--at T]`.
    #[command(subcommand)]
    Reading(hemflux::meters::ReadingCommand),
    /// Give a WattiVahti meter its refresh token (read from stdin, written to its token file).
    MeterToken(hemflux::meter_token::MeterTokenArgs),
    /// Web UI accounts: `hemflux user add NAME --role admin|user|viewer` (password on stdin),
    /// `list`, `remove`, `passwd`, `assign`.
    #[command(subcommand)]
    User(hemflux::users::cli::UserCommand),
    /// Fetch a range again through a running worker: `hemflux sync meter:villa/el --start 2024-01-01 --end 2024-01-31`.
    Sync {
        /// The worker id.
        id: String,
        /// `2024-01-01`, `2024-01-01T06:00:00` (UTC) or RFC 3339.
        #[arg(long)]
        start: String,
        /// End (exclusive; a date means its 00:00); default now.
        #[arg(long)]
        end: Option<String>,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The orchestrator's data folder, which holds the API token.
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Replace the token now; the old one stops working at once (also in a running orchestrator).
    Rotate {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    // Only the long-running orchestrator ships its logs to Seq.
    let seq = match &cli.command {
        // `SEQ_URL` / `SEQ_API_KEY` from `.env` as our users have them, else the environment.
        Command::Run(args) => hemflux::secrets::Secrets::load(&args.paths.env_file)
            .and_then(|s| hemflux::logging::SeqConfig::from_lookup(|name| s.get(name))),
        _ => Ok(None),
    };
    let _log_guard = match seq.and_then(|seq| hemflux::logging::init(cli.log_format, seq)) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let result = match cli.command {
        Command::Check(args) => hemflux::check::run(args).map(|ok| if ok { 0 } else { 1 }),
        Command::Query(args) => hemflux::query::run(args).map(|()| 0),
        Command::Analytics(args) => hemflux::analytics::run(args).map(|()| 0),
        Command::MeterToken(args) => hemflux::meter_token::run(args).map(|()| 0),
        Command::User(cmd) => hemflux::users::cli::run(cmd).map(|()| 0),
        Command::Token {
            action: TokenAction::Rotate { data },
        } => hemflux::auth::rotate(&data).map(|()| {
            println!(
                "new API token in {}",
                hemflux::auth::token_path(&data).display()
            );
            0
        }),
        Command::Meters(hemflux::meters::MetersCommand::Run(args)) => {
            hemflux::meters::run(args).map(|()| 0)
        }
        other => tokio::runtime::Runtime::new()
            .map_err(Into::into)
            .and_then(|rt| rt.block_on(async_command(other)))
            .map(|()| 0),
    };
    match result {
        Ok(code) => {
            drop(_log_guard);
            std::process::exit(code)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

async fn async_command(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => hemflux::run::run(args).await,
        Command::AddHouse(args) => hemflux::onboard::add_house(args).await,
        Command::AddBuilding(args) => hemflux::onboard::add_building(args).await,
        Command::Remove(args) => hemflux::onboard::remove(args).await,
        Command::Backfill(args) => hemflux::backfill::run(args).await,
        Command::Import(args) => hemflux::import::run(args).await,
        Command::Migrate(args) => hemflux::migrate::run(args).await,
        Command::Status { listen, json, data } => {
            hemflux::status::status(listen, &data, json).await
        }
        Command::Restart { id, listen, data } => hemflux::status::restart(listen, &data, &id).await,
        Command::Health { listen } => hemflux::status::health(listen).await,
        Command::Demo(args) => hemflux::demo::run(args).await,
        Command::Reading(hemflux::meters::ReadingCommand::Add(args)) => {
            hemflux::meters::add_reading(args).await
        }
        Command::Sync {
            id,
            start,
            end,
            listen,
            data,
        } => {
            let args = hemflux::backfill::BackfillArgs {
                entity: id,
                from: start,
                to: end,
                listen,
                data,
            };
            hemflux::backfill::run(args).await
        }
        Command::Check(_)
        | Command::Query(_)
        | Command::Analytics(_)
        | Command::MeterToken(_)
        | Command::User(_)
        | Command::Meters(_)
        | Command::Token { .. } => {
            unreachable!("handled synchronously")
        }
    }
}
