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

/// Reads a secret file (first line, trailing newline dropped). It must not be readable or
/// writable by group or others: `NoPerm` otherwise.
pub fn read_file(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Failure::io(path.display(), &e))?;
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
    let text = std::fs::read_to_string(path).map_err(|e| Failure::io(path.display(), &e))?;
    Ok(text.lines().next().unwrap_or("").to_string())
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
}
