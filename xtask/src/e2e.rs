//! `cargo xtask e2e [--slurm]`: the main job (skeleton: being built).

#[derive(clap::Args)]
pub struct E2e {
    /// Run on the Slurm test cluster (brought up when needed) instead of locally.
    #[arg(long)]
    slurm: bool,
}

impl E2e {
    pub fn run(self, _sh: &xshell::Shell) -> anyhow::Result<()> {
        let _ = self.slurm;
        anyhow::bail!("e2e: not implemented yet")
    }
}
