//! Small helpers shared by the tasks.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// The workspace root (xtask's parent directory).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// Prints a section header and, when dropped, its elapsed time (to stderr).
pub struct Section {
    name: String,
    start: Instant,
}

impl Section {
    pub fn new(name: impl Into<String>) -> Section {
        let name = name.into();
        eprintln!("==> {name}");
        Section { name, start: Instant::now() }
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        eprintln!("<== {} ({:.1}s)", self.name, self.start.elapsed().as_secs_f64());
    }
}

/// True when running as root (apt installs need it).
pub fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
}

/// Installs Debian packages with apt when `probe` (a command name) is missing.
pub fn apt_install_if_missing(
    sh: &xshell::Shell,
    probe: &str,
    packages: &[&str],
) -> anyhow::Result<()> {
    if which(probe) {
        return Ok(());
    }
    anyhow::ensure!(is_root(), "{probe} is missing and installing {packages:?} needs root");
    let _s = Section::new(format!("apt-get install {}", packages.join(" ")));
    xshell::cmd!(sh, "apt-get update -qq").run()?;
    xshell::cmd!(sh, "apt-get install -y -qq --no-install-recommends {packages...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()?;
    Ok(())
}

/// True when `name` is an executable on PATH (or an absolute path that exists).
pub fn which(name: &str) -> bool {
    if name.contains('/') {
        return Path::new(name).exists();
    }
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
                .any(|d| d.join(name).is_file())
        })
        .unwrap_or(false)
}

/// Runs a tool with `input` on its stdin (written from a thread, so large inputs cannot
/// deadlock against its output) and returns its stdout; a non-zero exit is an error.
pub fn pipe(program: &Path, args: &[&str], input: &[u8]) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .env_remove("PERFLINE_CLUSTER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("run {}", program.display()))?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| anyhow::anyhow!("stdin writer panicked"))??;
    anyhow::ensure!(out.status.success(), "{} failed: {}", program.display(), out.status);
    Ok(out.stdout)
}
