//! `cargo xtask bench client` (skeleton: being built).

#[derive(clap::Args)]
pub struct Client {}

impl Client {
    pub fn run(self, _sh: &xshell::Shell) -> anyhow::Result<()> {
        anyhow::bail!("bench client: not implemented yet")
    }
}
