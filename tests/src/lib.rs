//! Helpers for the chain tests: locating the tools' binaries and the shared corpus.
//!
//! The binaries are those of the `target/` profile that runs the tests. Nothing here builds
//! them (no nested `cargo build`): `cargo test --workspace` builds every tool's binary before it
//! runs any test, since every tool has integration tests of its own. [`bin`] panics, naming
//! what to run, when a binary is missing or older than a source it is built from.

pub mod pipes;
pub mod tidy;

pub use pipes::with_closed;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

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

/// What to run when a tool binary is missing or stale.
pub const BUILD_FIRST: &str =
    "build the tools first: cargo test --workspace --no-run (or run cargo test --workspace)";

static FRESH: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Path of a perfline tool binary in this test binary's profile (`target/<profile>/NAME`).
///
/// Panics with [`BUILD_FIRST`] when the binary is missing, or when it is older than a source
/// or embedded template of its crate or of a workspace library it depends on (`src/**`,
/// `templates/**`): a test never runs a stale tool silently. Cargo rebuilds from the same modification times, so after
/// `cargo build` the check passes.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test-binary> → target/<profile>/
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let path = profile_dir.join(name);
    let mut fresh = FRESH.lock().unwrap_or_else(|e| e.into_inner());
    if !fresh.contains(name) {
        let built = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| panic!("{}: no such tool binary: {BUILD_FIRST}", path.display()));
        let crate_dir = workspace_root().join("tools").join(name);
        if let Some(newer) = newer_source(&crate_dir, built, &mut BTreeSet::new()) {
            panic!("{}: stale, older than {}: {BUILD_FIRST}", path.display(), newer.display());
        }
        fresh.insert(name.to_string());
    }
    path
}

/// A file under `src/` or `templates/` of the crate at `dir`, or of a path dependency of it
/// (transitively), modified after `built`.
fn newer_source(dir: &Path, built: SystemTime, seen: &mut BTreeSet<PathBuf>) -> Option<PathBuf> {
    if !seen.insert(dir.to_path_buf()) {
        return None;
    }
    // Sources and the files they embed (`include_str!` of templates/*, src/*.sh).
    for sub in ["src", "templates"] {
        if let Some(newer) = newest_after(&dir.join(sub), built) {
            return Some(newer);
        }
    }
    let manifest: toml_edit::DocumentMut =
        std::fs::read_to_string(dir.join("Cargo.toml")).ok()?.parse().ok()?;
    let root = workspace_root();
    let workspace: toml_edit::DocumentMut =
        std::fs::read_to_string(root.join("Cargo.toml")).ok()?.parse().ok()?;
    let deps = manifest.get("dependencies").and_then(|d| d.as_table_like())?;
    let newer = deps.iter().find_map(|(dep, spec)| {
        let path = match spec.get("path").and_then(|p| p.as_str()) {
            Some(p) => dir.join(p),
            None => {
                root.join(workspace["workspace"]["dependencies"].get(dep)?.get("path")?.as_str()?)
            }
        };
        newer_source(&path, built, seen)
    });
    newer
}

fn newest_after(path: &Path, built: SystemTime) -> Option<PathBuf> {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).ok()?;
        return entries.filter_map(|e| e.ok()).find_map(|e| newest_after(&e.path(), built));
    }
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    (modified > built).then(|| path.to_path_buf())
}
