//! Failure markers in a job's coordination directory. Each role that fails writes
//! `ROLE.failed` (its reason, then its log tail) and then tries to claim `first.failed` with a
//! hard link, which succeeds for exactly one marker: the first failure is recorded by the
//! filesystem itself (`link` is exclusive, on NFS too), never inferred from clocks or mtimes.

use std::path::{Path, PathBuf};

/// The name of the first failure's marker.
pub const FIRST_FAILED: &str = "first.failed";

/// `coord/ROLE.failed`.
pub fn marker(coord: &Path, role: &str) -> PathBuf {
    coord.join(format!("{role}.failed"))
}

/// Writes `role`'s failure marker with `text` unless it already has one (a role that saw its
/// server die wrote a better reason first), then claims `first.failed` if no failure did.
pub fn mark_failed(coord: &Path, role: &str, text: &str) -> std::io::Result<()> {
    let own = marker(coord, role);
    if !own.exists() {
        perfline::fsutil::write_atomic(&own, text.as_bytes())
            .map_err(|f| std::io::Error::other(f.message))?;
    }
    claim_first(coord, &own)
}

/// Links `marker` to `first.failed` unless another failure got there first.
pub fn claim_first(coord: &Path, marker: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(marker, coord.join(FIRST_FAILED)) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// The first failure's marker, when any role failed: `first.failed`, else (a marker written by
/// something that could not link, e.g. an older script) the first `*.failed` by name.
pub fn first_failed(coord: &Path, candidates: &[PathBuf]) -> Option<PathBuf> {
    let first = coord.join(FIRST_FAILED);
    if first.is_file() {
        return Some(first);
    }
    let mut present: Vec<&PathBuf> = candidates.iter().filter(|p| p.is_file()).collect();
    present.sort();
    present.first().map(|p| (*p).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_marker_wins_and_keeps_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path();
        assert_eq!(first_failed(c, &[marker(c, "GEN_0")]), None);
        mark_failed(c, "GEN_0", "GEN_0: server exited with status 1\n").unwrap();
        mark_failed(c, "CTX_0", "CTX_0: stopping\n").unwrap();
        mark_failed(c, "GEN_0", "GEN_0: step exited with status 1\n").unwrap();
        let first = first_failed(c, &[marker(c, "CTX_0"), marker(c, "GEN_0")]).unwrap();
        assert_eq!(std::fs::read_to_string(first).unwrap(), "GEN_0: server exited with status 1\n");
        assert_eq!(std::fs::read_to_string(marker(c, "CTX_0")).unwrap(), "CTX_0: stopping\n");
    }
}
