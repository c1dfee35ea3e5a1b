//! `hemflux query`: read the embedded store. INTERFACE STUB, to be replaced by issue 4.

#[derive(clap::Args)]
pub struct QueryArgs {}

pub fn run(_args: QueryArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
