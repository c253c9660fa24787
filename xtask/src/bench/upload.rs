//! `cargo xtask bench upload` (skeleton: being built).

#[derive(clap::Args)]
pub struct Upload {}

impl Upload {
    pub fn run(self, _sh: &xshell::Shell) -> anyhow::Result<()> {
        anyhow::bail!("bench upload: not implemented yet")
    }
}
