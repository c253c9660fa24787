//! `cargo xtask bench launch` (skeleton: being built).

#[derive(clap::Args)]
pub struct Launch {}

impl Launch {
    pub fn run(self, _sh: &xshell::Shell) -> anyhow::Result<()> {
        anyhow::bail!("bench launch: not implemented yet")
    }
}
