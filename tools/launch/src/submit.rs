//! Submission with `sbatch --parsable` and following a job to its end with rate-limited,
//! time-bounded `scontrol`/`sacct` calls.

use perfline::cli::Result;
use perfline::{Exit, Failure};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a single Slurm command may take before it counts as "Slurm unavailable".
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Output of a finished command.
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` with a deadline; a command that does not finish in time is killed.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let name = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let next = if e.kind() == std::io::ErrorKind::NotFound {
                " (Slurm's client commands are not on PATH: install them, or run here with --local)"
            } else {
                ""
            };
            Failure::new(Exit::Unavailable, format!("cannot run {name}: {e}{next}"))
        })?;
    let readers = [child.stdout.take().map(reader), child.stderr.take().map(reader)];
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::new(
                Exit::Unavailable,
                format!(
                    "{name} did not answer within {}s (is Slurm up, and SLURM_CONF right? `sinfo` tells)",
                    timeout.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let [out, err] = readers.map(|r| r.and_then(|h| h.join().ok()).unwrap_or_default());
    Ok(Output { success: status.success(), stdout: out, stderr: err })
}

fn reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Submits `script` (in `dir`) and returns the job id.
pub fn sbatch(script: &Path, dir: &Path) -> Result<String> {
    let out = run_bounded(
        Command::new("sbatch").arg("--parsable").arg(script).current_dir(dir),
        COMMAND_TIMEOUT,
    )?;
    if !out.success {
        return Err(Failure::new(
            Exit::Unavailable,
            format!(
                "sbatch failed: {} (is the cluster up, and SLURM_CONF set? `sinfo` tells; the test cluster: cargo xtask cluster up)",
                perfline::cli::one_line(out.stderr.trim())
            ),
        ));
    }
    parse_job_id(&out.stdout).ok_or_else(|| {
        Failure::new(Exit::Unavailable, format!("sbatch printed no job id: {:?}", out.stdout))
    })
}

/// `sbatch --parsable` prints `ID` or `ID;CLUSTER`.
pub fn parse_job_id(stdout: &str) -> Option<String> {
    let id = stdout.trim().split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b == b'_')).then(|| id.to_string())
}

/// A job's state and exit code as Slurm reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    pub state: String,
    pub exit_code: Option<i32>,
}

impl JobState {
    pub fn is_final(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "SUSPENDED"
                | "REQUEUED"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
                | "REQUEUE_HOLD"
                | "REQUEUE_FED"
        )
    }
    /// The tool's exit for this final state.
    pub fn exit(&self) -> Exit {
        match self.state.as_str() {
            "COMPLETED" => Exit::Ok,
            _ => Exit::Failed,
        }
    }
}

/// Parses `scontrol show job -o ID` (`… JobState=RUNNING … ExitCode=0:0 …`).
pub fn parse_scontrol(text: &str) -> Option<JobState> {
    let field =
        |key: &str| text.split_whitespace().find_map(|w| w.strip_prefix(key)).map(str::to_string);
    let state = field("JobState=")?;
    let exit_code = field("ExitCode=").and_then(|c| c.split(':').next()?.parse().ok());
    Some(JobState { state, exit_code })
}

/// Parses `sacct -n -P -X -o State,ExitCode` (`CANCELLED by 0|0:15`).
pub fn parse_sacct(text: &str) -> Option<JobState> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let (state, code) = line.split_once('|')?;
    let state = state.split_whitespace().next()?.to_string();
    let exit_code = code.split(':').next().and_then(|c| c.trim().parse().ok());
    Some(JobState { state, exit_code })
}

/// Asks Slurm for the job's state: `scontrol` while it knows the job, then `sacct`.
pub fn query(job_id: &str) -> Result<JobState> {
    let out =
        run_bounded(Command::new("scontrol").args(["show", "job", "-o", job_id]), COMMAND_TIMEOUT)?;
    if out.success {
        if let Some(s) = parse_scontrol(&out.stdout) {
            return Ok(s);
        }
    }
    let out = run_bounded(
        Command::new("sacct").args(["-n", "-P", "-X", "-o", "State,ExitCode", "-j", job_id]),
        COMMAND_TIMEOUT,
    )?;
    parse_sacct(&out.stdout).ok_or_else(|| {
        Failure::new(
            Exit::Unavailable,
            format!("job {job_id}: neither scontrol nor sacct knows it"),
        )
    })
}

/// Follows a job until it ends or `timeout` passes, polling every `poll`; state changes go to
/// stderr as progress.
pub fn wait(id: &str, job_id: &str, poll: Duration, timeout: Duration) -> Result<JobState> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let state = query(job_id)?;
        if state.state != last {
            perfline::cli::say(format_args!(
                "launch: {id}: job {job_id} {} ({}s)",
                state.state,
                start.elapsed().as_secs()
            ));
            last = state.state.clone();
        }
        if state.is_final() {
            return Ok(state);
        }
        if start.elapsed() >= timeout {
            return Err(Failure::new(
                Exit::TempFail,
                format!("{id}: job {job_id} still {last} after {}s", timeout.as_secs()),
            ));
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_slurm_answers() {
        assert_eq!(parse_job_id("123\n"), Some("123".into()));
        assert_eq!(parse_job_id("77;cluster\n"), Some("77".into()));
        assert_eq!(parse_job_id("Submitted batch job 5"), None);
        let s = parse_scontrol("JobId=5 JobName=x JobState=CANCELLED Reason=None ExitCode=0:15")
            .unwrap();
        assert_eq!(s, JobState { state: "CANCELLED".into(), exit_code: Some(0) });
        assert!(s.is_final());
        assert_eq!(s.exit(), Exit::Failed);
        let s = parse_sacct("CANCELLED by 0|0:15\n").unwrap();
        assert_eq!(s.state, "CANCELLED");
        let r = JobState { state: "RUNNING".into(), exit_code: None };
        assert!(!r.is_final());
        assert_eq!(parse_sacct(""), None);
    }

    #[test]
    fn slow_commands_are_killed() {
        let err =
            run_bounded(Command::new("sleep").arg("5"), Duration::from_millis(100)).err().unwrap();
        assert_eq!(err.exit, Exit::Unavailable);
        let out = run_bounded(Command::new("echo").arg("hi"), Duration::from_secs(5)).unwrap();
        assert!(out.success);
        assert_eq!(out.stdout, "hi\n");
    }
}
