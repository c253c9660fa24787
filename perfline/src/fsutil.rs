//! Atomic file writes: a temp file in the same directory, fsync, then rename, so readers on a
//! shared filesystem see either nothing or the whole file.

use crate::cli::{Failure, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically, with the given Unix permission bits (e.g. 0o644).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Failure::usage(format!("{}: not a file path", path.display())))?;
    let tmp =
        dir.join(format!(".{}.{}.{}.tmp", name.to_string_lossy(), std::process::id(), unique()));
    let result = (|| {
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::new(crate::exit::Exit::CantCreat, format!("{}: {e}", path.display()))
    })
}

/// Writes `bytes` to `path` atomically with mode 0644.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, 0o644)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    COUNTER.fetch_add(1, Ordering::Relaxed) << 32 | u64::from(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("addr.txt");
        write_atomic(&p, b"host:1").unwrap();
        write_atomic_mode(&p, b"host:2", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "host:2");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_cant_create() {
        let err = write_atomic(Path::new("/nonexistent/dir/x"), b"").unwrap_err();
        assert_eq!(err.exit, crate::exit::Exit::CantCreat);
    }
}
