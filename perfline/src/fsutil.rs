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

/// Checks, before anything is written, that `path` can be created or written: its directory
/// exists (else `NoInput`: "directory D does not exist (create it: mkdir -p D)") and the
/// file, or the directory for a new file, is writable by the effective user (else `NoPerm`:
/// "directory D is not writable by user U"). The real cause in one line, instead of a
/// library's "unable to open".
pub fn check_writable(path: &Path) -> Result<()> {
    use crate::Exit;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Failure::new(
                Exit::NoInput,
                format!("{}: {} is not a directory", path.display(), dir.display()),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::new(
                Exit::NoInput,
                format!(
                    "{}: directory {} does not exist (create it: mkdir -p {})",
                    path.display(),
                    dir.display(),
                    crate::shell::quote(&dir.display().to_string())
                        .unwrap_or_else(|_| dir.display().to_string())
                ),
            ))
        }
        Err(e) => return Err(Failure::io(dir.display(), &e)),
    }
    let (target, what) = if path.exists() {
        (path, format!("{} is", path.display()))
    } else {
        (dir, format!("{}: directory {} is", path.display(), dir.display()))
    };
    let flags = if target == dir { libc::W_OK | libc::X_OK } else { libc::W_OK };
    let c = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| Failure::usage(format!("{}: a path with a NUL byte", path.display())))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    if unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), flags, libc::AT_EACCESS) } != 0 {
        return Err(Failure::new(
            Exit::NoPerm,
            format!("{what} not writable by user {}", effective_user()),
        ));
    }
    Ok(())
}

/// The effective user's name (its uid when it has none).
pub fn effective_user() -> String {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?;
            (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| format!("uid {uid}"))
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
