//! `cargo xtask ci`: what CI runs, in order, each step timed. It brings up the real parts the
//! tests need (the Slurm test cluster, a private MariaDB, shellcheck) so nothing is skipped.

use crate::util::{apt_install_if_missing, Section};
use xshell::cmd;

#[derive(clap::Args)]
pub struct Ci {
    /// Skip the set-up step (cluster, database, packages): for a machine already set up.
    #[arg(long)]
    no_setup: bool,
}

impl Ci {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        let xtask = std::env::current_exe()?;
        if !self.no_setup {
            let _s = Section::new("set-up: shellcheck, chromium, Slurm test cluster, MariaDB");
            apt_install_if_missing(sh, "shellcheck", &["shellcheck"])?;
            // report's browser test; a font so its screenshot shows text.
            apt_install_if_missing(sh, "chromium", &["chromium", "fonts-dejavu-core"])?;
            // The same binary, so set-up runs exactly what `cargo xtask cluster up` runs.
            cmd!(sh, "{xtask} cluster up").run()?;
            cmd!(sh, "{xtask} db up").run()?;
        }
        {
            let _s = Section::new("cargo fmt --check");
            cmd!(sh, "cargo fmt --all -- --check").run()?;
        }
        {
            let _s = Section::new("cargo clippy -D warnings");
            cmd!(sh, "cargo clippy --workspace --all-targets --quiet -- -D warnings").run()?;
        }
        {
            let _s = Section::new("fuzz targets build (stable, no sanitizer run)");
            build_fuzz_targets(sh)?;
        }
        {
            let _s = Section::new("cargo test");
            // CI set: a test that needs a real part (report's browser test) fails, not skips.
            cmd!(sh, "cargo test --workspace").env("CI", "true").run()?;
        }
        {
            let _s = Section::new("e2e (local)");
            cmd!(sh, "{xtask} e2e").run()?;
        }
        {
            let _s = Section::new("e2e (Slurm)");
            cmd!(sh, "{xtask} e2e --slurm").run()?;
        }
        Ok(())
    }
}

/// The fuzz crates: each its own workspace (the root excludes them; cargo-fuzz runs them on
/// nightly with sanitizers), built here on the stable toolchain so they keep compiling against
/// the current APIs.
pub const FUZZ_CRATES: [&str; 3] = ["classify", "nodecount", "parse-metrics"];

/// Builds every fuzz target into the workspace's own `target/`: the fuzz crates copy the
/// workspace's dev profile (and their lockfiles pin its versions), so the dependencies the
/// test build already made are reused and only libfuzzer-sys and the fuzz crates compile.
pub fn build_fuzz_targets(sh: &xshell::Shell) -> anyhow::Result<()> {
    for krate in FUZZ_CRATES {
        let manifest = format!("tools/{krate}/fuzz/Cargo.toml");
        cmd!(sh, "cargo build --quiet --bins --manifest-path {manifest} --target-dir target")
            .run()?;
    }
    Ok(())
}
