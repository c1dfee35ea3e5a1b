//! PLACEHOLDER until this simulator is built (see the issue that owns it).

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("this simulator is not built yet")
}
