//! `cargo xtask bench plan` (skeleton: being built).

#[derive(clap::Args)]
pub struct Plan {}

impl Plan {
    pub fn run(self, _sh: &xshell::Shell) -> anyhow::Result<()> {
        anyhow::bail!("bench plan: not implemented yet")
    }
}
