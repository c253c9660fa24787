//! `cargo xtask cluster up|down|status` (skeleton: being built).

#[derive(clap::Args)]
pub struct Cluster {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Install when missing, start, and wait until ready.
    Up,
    /// Stop exactly what `up` started.
    Down,
    /// Show the state.
    Status,
}

impl Cluster {
    pub fn run(self, _sh: &xshell::Shell) -> anyhow::Result<()> {
        match self.action {
            Action::Up | Action::Down | Action::Status => {
                anyhow::bail!("cluster: not implemented yet")
            }
        }
    }
}
