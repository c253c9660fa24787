//! Runs a helper program (`nvidia-smi`, …) with a deadline and keeps its stdout: what GPU
//! telemetry (role) and the system info of a run (upload) both need. The output is read while
//! the program runs, so a large output cannot stall it on a full pipe.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The stdout of `program args` when it exits 0 within `timeout`; else why not (it could not
/// start, it failed, or it was killed at the deadline). Stdin is empty, stderr dropped.
pub fn output_within(
    program: &Path,
    args: &[&str],
    timeout: Duration,
) -> std::result::Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let until = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} timed out after {} s",
                    program.display(),
                    timeout.as_secs_f64()
                ));
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("{} exited with {status}", program.display()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_failure_and_deadline() {
        let sh = Path::new("/bin/sh");
        let long = Duration::from_secs(30);
        assert_eq!(output_within(sh, &["-c", "echo hi"], long).as_deref(), Ok("hi\n"));
        // More than a pipe's buffer: read while it runs.
        let big = output_within(sh, &["-c", "head -c 200000 /dev/zero | tr '\\\\0' x"], long);
        assert_eq!(big.map(|s| s.len()), Ok(200_000));
        let failed = output_within(sh, &["-c", "exit 3"], long).unwrap_err();
        assert!(failed.contains("exited with"), "{failed}");
        let killed = output_within(sh, &["-c", "sleep 30"], Duration::from_millis(50));
        assert_eq!(killed.unwrap_err(), "/bin/sh timed out after 0.05 s");
        let missing = output_within(Path::new("/nonexistent/x"), &[], long).unwrap_err();
        assert!(missing.starts_with("/nonexistent/x: "), "{missing}");
    }
}
