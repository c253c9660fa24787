//! Child processes of a role: started from a command template in their own process group,
//! output into a log, and stopped as a group so nothing is left behind.

use perfline::cli::{Failure, Result};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Expands `{name}` placeholders with shell-quoted values in one pass (perfline::template): a
/// value is never expanded again; unknown placeholders stay as written.
pub fn render(template: &str, values: &BTreeMap<&str, String>) -> Result<String> {
    perfline::template::render(template, |key| {
        values.get(key).map(|v| perfline::shell::quote(v).map_err(Failure::data)).transpose()
    })
}

/// [`render`], plus `raw` values that are already shell text (e.g. a joined, quoted argument
/// list), inserted as they are — in the same single pass.
pub fn render_with_raw(
    template: &str,
    values: &BTreeMap<&str, String>,
    raw: &[(&str, &str)],
) -> Result<String> {
    perfline::template::render(template, |key| {
        if let Some((_, v)) = raw.iter().find(|(k, _)| *k == key) {
            return Ok(Some((*v).to_string()));
        }
        values.get(key).map(|v| perfline::shell::quote(v).map_err(Failure::data)).transpose()
    })
}

/// Starts `command` with `bash -c`, in a new process group, stdout and stderr appended to `log`,
/// with extra `K=V` environment words.
pub fn spawn(command: &str, env: &[String], log: &Path) -> Result<Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| Failure::io(log.display(), &e))?;
    let err = out.try_clone().map_err(|e| Failure::io(log.display(), &e))?;
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(format!("exec {command}"));
    for word in env {
        if let Some((k, v)) = word.split_once('=') {
            if !k.is_empty() {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    // The child leads its own group (so it can be stopped as a whole) and so escapes Slurm's
    // and launch's process tracking: if this role is killed, the kernel kills the child too.
    // SAFETY: prctl is async-signal-safe and touches only the new process.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| Failure::io(format!("bash -c {command}"), &e))
}

/// Stops a child's whole process group: SIGTERM, then SIGKILL after `grace`.
pub fn stop(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        kill_group(child.id(), libc::SIGKILL);
        return;
    }
    kill_group(child.id(), libc::SIGTERM);
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_group(child.id(), libc::SIGKILL);
    let _ = child.wait();
}

fn kill_group(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    if pid > 0 {
        // SAFETY: plain kill(2) on the group this process created for its child.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

/// A description of how a child ended.
pub fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_quotes_values_and_keeps_unknown_placeholders() {
        let values =
            BTreeMap::from([("model", "m $(touch x)".to_string()), ("port", "8000".to_string())]);
        assert_eq!(
            render("serve {model} --port {port} {other}", &values).unwrap(),
            "serve 'm $(touch x)' --port 8000 {other}"
        );
    }

    #[test]
    fn spawn_logs_and_stop_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        let mut child =
            spawn("sh -c 'echo $GREETING; sleep 30 & wait'", &["GREETING=hi".into()], &log)
                .unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&log).unwrap_or_default().is_empty() && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop(&mut child, Duration::from_secs(2));
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "hi\n");
        assert!(child.try_wait().unwrap().is_some());
    }
}
