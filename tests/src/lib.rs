//! Helpers for the chain tests: locating the tools' binaries and the shared corpus.
//!
//! The binaries are those of the workspace's `target/` profile that runs the tests; the first
//! [`bin`] call of a test process builds them all with `cargo build -p NAME…` (a no-op when
//! fresh), since tools never depend on each other and this crate cannot name them as
//! dependencies.

pub mod pipes;
pub mod tidy;

pub use pipes::with_closed;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The shared corpus of real upstream configs and test lists (`../shared/corpus/trtllm`), or
/// `PERFLINE_CORPUS` when set.
pub fn corpus_root() -> PathBuf {
    if let Some(p) = std::env::var_os("PERFLINE_CORPUS") {
        return PathBuf::from(p);
    }
    workspace_root().join("../shared/corpus/trtllm")
}

static BUILT: OnceLock<()> = OnceLock::new();

/// The tools of the workspace: the `tools/*` directories.
pub fn tool_names() -> Vec<String> {
    let dir = workspace_root().join("tools");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Path of a perfline tool binary. The first call of a test process builds every tool
/// (`cargo build -p …`, a no-op when they are fresh), so a test never runs a stale binary.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test-binary> → target/<profile>/
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
    BUILT.get_or_init(|| build_tools(&profile_dir));
    let path = profile_dir.join(name);
    assert!(path.is_file(), "{}: no such tool binary", path.display());
    path
}

/// Builds every tool into `profile_dir`'s profile (`debug` is cargo's `dev`).
fn build_tools(profile_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let packages = tool_names().into_iter().flat_map(|t| ["-p".to_string(), t]);
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--profile", &profile])
        .args(packages)
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of the tools failed");
}
