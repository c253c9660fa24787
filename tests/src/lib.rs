//! Helpers for the chain tests: locating the tools' binaries and the shared corpus.
//!
//! The binaries are those of the workspace's `target/` profile that runs the tests; a missing
//! one is built once with `cargo build -p NAME` (tools never depend on each other, so this
//! crate cannot name them as dependencies).

pub mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

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

static BUILD: Mutex<()> = Mutex::new(());

/// Path of a perfline tool binary, built first if it is missing.
pub fn bin(name: &str) -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test-binary> → target/<profile>/
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
    let path = profile_dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", name])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p {name} failed");
    }
    path
}
