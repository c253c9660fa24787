//! `cargo xtask eval <name>`: accuracy of perfline's judgements on labelled data.

mod data;
mod perfcheck;
mod synth;
mod walk;

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct Eval {
    #[command(subcommand)]
    which: Which,
}

#[derive(Subcommand)]
enum Which {
    /// perf-check walked forward over labelled histories (synthetic, Perfherder, a real H100
    /// history), side by side with a never-alarming detector and the incumbent's rule.
    PerfCheck(perfcheck::PerfCheck),
}

impl Eval {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        match self.which {
            Which::PerfCheck(e) => e.run(sh),
        }
    }
}
