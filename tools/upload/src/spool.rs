//! The local spool: a batch the store would not take is written here, one file per batch
//! named by its run key, and delivered later by `upload --flush`.

use crate::batch::Batch;
use perfline::cli::{Failure, Result};
use perfline::Exit;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The default spool directory (relative to the working directory).
pub const DEFAULT_DIR: &str = ".perfline/spool";

/// A spool file's content: where the batch was going, and the batch.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Spooled {
    pub store: String,
    pub batch: Batch,
}

/// The file for a run key and store: `RUNKEY.STORETAG.json`, so one run spooled for two
/// stores keeps two files.
pub fn path_for(dir: &Path, store: &str, run_key: &str) -> PathBuf {
    let tag = crate::md5_hex(store.as_bytes());
    dir.join(format!("{run_key}.{}.json", tag.get(..8).unwrap_or(&tag)))
}

/// Writes the batch atomically (mode 0600: results may be unpublished).
pub fn write(dir: &Path, spooled: &Spooled) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(Exit::CantCreat, format!("{}: {e}", dir.display())))?;
    let path = path_for(dir, &spooled.store, &spooled.batch.run.run_key);
    let bytes = serde_json::to_vec(spooled)
        .map_err(|e| Failure::software(format!("cannot serialize batch: {e}")))?;
    perfline::fsutil::write_atomic_mode(&path, &bytes, 0o600)?;
    Ok(path)
}

/// The spool files, oldest name first; a missing directory is an empty spool.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Failure::io(dir.display(), &e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Failure::io(dir.display(), &e))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Temp files of an atomic write in progress start with '.'.
        if name.ends_with(".json") && !name.starts_with('.') {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

pub fn read(path: &Path) -> Result<Spooled> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::io(path.display(), &e))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::data(format!("{}: not a spooled batch: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::RunInfo;

    #[test]
    fn round_trips_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        assert!(list(&spool).unwrap().is_empty());
        let record = perfline::jsonl::parse(perfline::wire::metrics::EXAMPLE).unwrap();
        let s = Spooled {
            store: "sqlite:x.db".into(),
            batch: Batch {
                run: RunInfo { run_key: "abc".into(), ..RunInfo::default() },
                records: vec![record],
            },
        };
        let path = write(&spool, &s).unwrap();
        assert!(path.file_name().unwrap().to_string_lossy().starts_with("abc."));
        assert_eq!(list(&spool).unwrap(), std::slice::from_ref(&path));
        assert_eq!(read(&path).unwrap(), s);
        assert_eq!(write(&spool, &s).unwrap(), path, "same run, same file");
        assert_eq!(list(&spool).unwrap().len(), 1);
    }
}
