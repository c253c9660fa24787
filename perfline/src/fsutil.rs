//! Atomic file writes: a temp file in the same directory, fsync, then rename, so readers on a
//! shared filesystem see either nothing or the whole file. And [`open_input`]: opening an
//! input never hangs (a named pipe without a writer) and a directory is said to be one.

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
    if path.is_dir() {
        let why = format!("{}: is a directory; give a file path in it", path.display());
        return Err(Failure::new(Exit::CantCreat, why));
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

/// The bytes of the input file `path`, at most `max` of them: [`open_input`] (never hangs on a
/// FIFO; a directory is `NoInput`), then a bounded read; a larger file is `DataErr` naming it.
pub fn read_input(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_input(path)?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::io(path.display(), &e))?;
    if bytes.len() as u64 > max {
        let why = format!("{}: larger than {} MiB; not read", path.display(), max >> 20);
        return Err(Failure::data(why));
    }
    Ok(bytes)
}

/// How long [`open_input`] waits for a named pipe's writer to send something (or close).
pub const FIFO_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens an input file for reading. `open(2)` of a named pipe (FIFO) blocks until a writer
/// comes, for ever if none does: it is opened non-blocking and waited for (its first bytes or
/// its writer's close) at most [`FIFO_WAIT`], then read as usual. A directory, a missing or
/// unreadable file or a FIFO without a writer is `NoInput` (66) naming the path (permission
/// is `NoPerm`, 77).
pub fn open_input(path: &Path) -> Result<std::fs::File> {
    open_input_within(path, FIFO_WAIT)
}

fn open_input_within(path: &Path, wait: std::time::Duration) -> Result<std::fs::File> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Failure::io(path.display(), &e))?;
    let kind = file.metadata().map_err(|e| Failure::io(path.display(), &e))?.file_type();
    if kind.is_dir() {
        let why = format!("{}: is a directory; give a file", path.display());
        return Err(Failure::new(crate::Exit::NoInput, why));
    }
    let fd = file.as_raw_fd();
    if kind.is_fifo() {
        let until = std::time::Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd for the call's duration.
            let n =
                unsafe { libc::poll(&mut poll, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if n > 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if n < 0 && err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            if n < 0 {
                return Err(Failure::io(path.display(), &err));
            }
            let why = format!(
                "{}: a named pipe with no writer for {} s; nothing to read",
                path.display(),
                wait.as_secs()
            );
            return Err(Failure::new(crate::Exit::NoInput, why));
        }
    }
    // Reads block again (a slow writer is waited for, as on stdin).
    // SAFETY: fcntl on an open descriptor we own.
    let cleared = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) >= 0
    };
    if !cleared {
        return Err(Failure::io(path.display(), &std::io::Error::last_os_error()));
    }
    Ok(file)
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

    /// A FIFO without a writer fails within the bound (not for ever); one with a writer reads
    /// whole; a directory is said to be one.
    #[test]
    fn open_input_never_hangs_on_a_fifo_and_names_a_directory() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let err = open_input_within(&fifo, std::time::Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.exit, crate::Exit::NoInput);
        assert_eq!(
            err.message,
            format!("{}: a named pipe with no writer for 0 s; nothing to read", fifo.display())
        );
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, "a\nb\n").unwrap())
        };
        let mut text = String::new();
        open_input(&fifo).unwrap().read_to_string(&mut text).unwrap();
        writer.join().unwrap();
        assert_eq!(text, "a\nb\n");
        let err = open_input(dir.path()).unwrap_err();
        assert_eq!(
            (err.exit, err.message),
            (
                crate::Exit::NoInput,
                format!("{}: is a directory; give a file", dir.path().display())
            )
        );
        let err = open_input(&dir.path().join("none")).unwrap_err();
        assert_eq!(err.exit, crate::Exit::NoInput);
    }
}
