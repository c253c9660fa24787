//! `cargo xtask bench coordination` (skeleton: being built).

#[derive(clap::Args)]
pub struct Coordination {}

impl Coordination {
    pub fn run(self, _sh: &xshell::Shell) -> anyhow::Result<()> {
        anyhow::bail!("bench coordination: not implemented yet")
    }
}
