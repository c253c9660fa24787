//! `cargo xtask bench parse` (skeleton: being built).

#[derive(clap::Args)]
pub struct Parse {}

impl Parse {
    pub fn run(self, _sh: &xshell::Shell) -> anyhow::Result<()> {
        anyhow::bail!("bench parse: not implemented yet")
    }
}
