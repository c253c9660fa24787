//! Launch attempts: every launch of a test gets its own directory `JOB_ROOT/ID/ATTEMPT`, never
//! reusing another attempt's files, and `JOB_ROOT/ID/latest` names the newest one. The attempt
//! id is the launch time in UTC to the millisecond (`20261129T223445.123Z`), sortable as
//! text, with `-2`, `-3`, … when two launches of one test fall in the same millisecond.
//! Records written in the job carry it (`MetricRecord::attempt`); upload keys runs by it.

use crate::cli::{Failure, Result};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The environment variable the job's steps read their attempt id from.
pub const ENV: &str = "PERFLINE_ATTEMPT";
/// The link (in the test's directory) to the newest attempt.
pub const LATEST: &str = "latest";

/// The attempt id of a launch at `now`, `n`-th of its millisecond (1-based).
pub fn id_at(now: SystemTime, n: u32) -> String {
    let stamp = humantime::format_rfc3339_millis(now).to_string();
    let compact: String = stamp.chars().filter(|c| !matches!(c, '-' | ':')).collect();
    if n <= 1 {
        compact
    } else {
        format!("{compact}-{n}")
    }
}

/// Whether `id` looks like an attempt id (safe as one path component and shell word).
pub fn check(id: &str) -> std::result::Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !id.starts_with('.')
        && id != LATEST;
    if ok {
        Ok(())
    } else {
        Err("not an attempt id (letters, digits, `._-`, at most 64)".into())
    }
}

/// The attempts of a test (`JOB_ROOT/ID`), oldest first (by id, never by mtime).
pub fn list(test_dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(test_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Failure::io(test_dir.display(), &e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Failure::io(test_dir.display(), &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if check(&name).is_ok() && entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Publishes `dir` (a complete attempt directory written under a temporary name inside the
/// test's directory) as attempt `id`, atomically: the directory appears whole or not at all,
/// and an existing attempt is never replaced. `Ok(false)` when `id` is taken.
pub fn publish(tmp: &Path, test_dir: &Path, id: &str) -> Result<bool> {
    let target = test_dir.join(id);
    let (from, to) = (cstr(tmp)?, cstr(&target)?);
    // SAFETY: valid NUL-terminated paths; renameat2 only reads them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => Ok(false),
        _ => Err(Failure::io(target.display(), &err)),
    }
}

/// Points `JOB_ROOT/ID/latest` at attempt `id` (a relative symlink, replaced atomically).
pub fn set_latest(test_dir: &Path, id: &str) -> Result<()> {
    let link = test_dir.join(LATEST);
    let tmp = test_dir.join(format!(".{LATEST}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(id, &tmp).map_err(|e| Failure::io(tmp.display(), &e))?;
    std::fs::rename(&tmp, &link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::io(link.display(), &e)
    })
}

/// The newest attempt's directory of a test, following `latest` (else the last by id).
pub fn latest(test_dir: &Path) -> Result<Option<PathBuf>> {
    if let Ok(target) = std::fs::read_link(test_dir.join(LATEST)) {
        if let Some(name) = target.to_str().filter(|n| check(n).is_ok()) {
            return Ok(Some(test_dir.join(name)));
        }
    }
    Ok(list(test_dir)?.pop().map(|id| test_dir.join(id)))
}

fn cstr(p: &Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Failure::usage(format!("{}: path contains a NUL byte", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn ids_sort_by_time_and_collisions_sort_after() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_000_000_123);
        let a = id_at(t, 1);
        assert_eq!(a, "20261130T005320.123Z");
        let b = id_at(t, 2);
        let c = id_at(t + Duration::from_millis(1), 1);
        let mut v = vec![c.clone(), b.clone(), a.clone()];
        v.sort();
        assert_eq!(v, [a.clone(), b, c]);
        assert!(check(&a).is_ok());
        for bad in ["", "..", "latest", ".x", "a/b", "a b", "$(x)"] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn publish_never_replaces_and_latest_follows() {
        let root = tempfile::tempdir().unwrap();
        let test = root.path();
        for (id, content) in [("A1", "one"), ("A2", "two")] {
            let tmp = test.join(format!(".{id}.tmp"));
            std::fs::create_dir(&tmp).unwrap();
            std::fs::write(tmp.join("f"), content).unwrap();
            assert!(publish(&tmp, test, id).unwrap());
            set_latest(test, id).unwrap();
        }
        let tmp = test.join(".again.tmp");
        std::fs::create_dir(&tmp).unwrap();
        std::fs::write(tmp.join("f"), "three").unwrap();
        assert!(!publish(&tmp, test, "A1").unwrap(), "A1 is taken");
        assert_eq!(std::fs::read_to_string(test.join("A1/f")).unwrap(), "one");
        assert_eq!(list(test).unwrap(), ["A1", "A2"]);
        assert_eq!(latest(test).unwrap(), Some(test.join("A2")));
        assert_eq!(std::fs::read_to_string(test.join("latest/f")).unwrap(), "two");
    }
}
