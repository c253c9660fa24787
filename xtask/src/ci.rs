//! `cargo xtask ci`: what CI runs, in order, each step timed.

use crate::util::Section;
use xshell::cmd;

#[derive(clap::Args)]
pub struct Ci {}

impl Ci {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        {
            let _s = Section::new("cargo fmt --check");
            cmd!(sh, "cargo fmt --all -- --check").run()?;
        }
        {
            let _s = Section::new("cargo clippy -D warnings");
            cmd!(sh, "cargo clippy --workspace --all-targets --quiet -- -D warnings").run()?;
        }
        {
            let _s = Section::new("cargo test");
            cmd!(sh, "cargo test --workspace").run()?;
        }
        Ok(())
    }
}
