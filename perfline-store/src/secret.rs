//! Secrets come only from the environment or a file only its owner can read; never from a
//! URL, never printed.

use perfline::cli::{Failure, Result};
use perfline::Exit;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Environment variable holding the MySQL password.
pub const MYSQL_PASSWORD_ENV: &str = "PERFLINE_MYSQL_PASSWORD";
/// Environment variables holding the OpenSearch user and password.
pub const OPENSEARCH_USER_ENV: &str = "PERFLINE_OPENSEARCH_USER";
pub const OPENSEARCH_PASSWORD_ENV: &str = "PERFLINE_OPENSEARCH_PASSWORD";

/// The most bytes of a secret file read (its first line is the secret).
const SECRET_MAX: u64 = 64 * 1024;

/// Reads a secret file (first line, trailing newline dropped; a regular file, its first
/// 64 KiB read). It must not be readable or
/// writable by group or others: `NoPerm` otherwise.
pub fn read_file(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Failure::io(path.display(), &e))?;
    if !meta.is_file() {
        // A directory, a FIFO (which would block the read), a device.
        return Err(Failure::config(format!(
            "{}: not a regular file; give the file holding the password",
            path.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::new(
            Exit::NoPerm,
            format!(
                "{}: mode {mode:04o} lets others read the secret; chmod 600 it",
                path.display()
            ),
        ));
    }
    // The first line is the secret: read a bounded head, never a whole large file.
    let mut head = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            std::fs::File::open(path).map_err(|e| Failure::io(path.display(), &e))?,
            SECRET_MAX,
        ),
        &mut head,
    )
    .map_err(|e| Failure::io(path.display(), &e))?;
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match std::str::from_utf8(line) {
        Ok(text) => Ok(text.to_string()),
        Err(_) => Err(Failure::config(format!(
            "{}: the password (first line) is not UTF-8 text",
            path.display()
        ))),
    }
}

/// The MySQL password: `--password-file` first, else the environment; none is a `Config` error.
pub fn mysql_password(file: Option<&Path>) -> Result<String> {
    if let Some(path) = file {
        return read_file(path);
    }
    std::env::var(MYSQL_PASSWORD_ENV).map_err(|_| {
        Failure::config(format!(
            "no MySQL password: set {MYSQL_PASSWORD_ENV} or pass --password-file FILE (mode 0600)"
        ))
    })
}

/// OpenSearch basic-auth credentials from the environment: both or neither.
pub fn opensearch_credentials() -> Result<Option<(String, String)>> {
    let user = std::env::var(OPENSEARCH_USER_ENV).ok();
    let password = std::env::var(OPENSEARCH_PASSWORD_ENV).ok();
    match (user, password) {
        (Some(u), Some(p)) => Ok(Some((u, p))),
        (None, None) => Ok(None),
        _ => Err(Failure::config(format!(
            "set both {OPENSEARCH_USER_ENV} and {OPENSEARCH_PASSWORD_ENV}, or neither"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_file_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_file(&path).unwrap_err();
        assert_eq!(err.exit, Exit::NoPerm);
        assert!(!err.message.contains("s3cret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_file(&path).unwrap(), "s3cret");
        assert_eq!(read_file(&dir.path().join("none")).unwrap_err().exit, Exit::NoInput);
    }

    /// A directory, a FIFO or a non-UTF-8 password is a configuration error naming the file,
    /// never a hang, an I/O error or an echo of the bytes.
    #[test]
    fn secret_file_must_be_a_regular_text_file() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("d");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        for p in [&sub, &fifo] {
            let err = read_file(p).unwrap_err();
            assert_eq!(
                (err.exit, err.message),
                (
                    Exit::Config,
                    format!(
                        "{}: not a regular file; give the file holding the password",
                        p.display()
                    )
                )
            );
        }
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"s3\xffcret\r\nsecond").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = read_file(&bin).unwrap_err();
        assert_eq!(err.exit, Exit::Config);
        assert_eq!(
            err.message,
            format!("{}: the password (first line) is not UTF-8 text", bin.display())
        );
        std::fs::write(&bin, b"s3cret\r\nsecond").unwrap();
        assert_eq!(read_file(&bin).unwrap(), "s3cret");
    }
}
