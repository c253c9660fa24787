//! `launch --local`: the job's steps as local processes, with the same environment, log layout,
//! fail-fast and cleanup as the sbatch script. Each role process leads its own process group;
//! the job kills all its groups on failure, timeout or Ctrl-C. With a container image in the
//! profile, steps run through `docker run --gpus all --network host …` (the old single-node way).

use crate::job::{Job, Step, StepKind, DRAIN_S};
use perfline::cli::Result;
use perfline::{Exit, Failure};
use perfline_slurm::{self as slurm, Profile};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(50);
/// Grace between SIGTERM and SIGKILL when stopping a job.
const KILL_GRACE: Duration = Duration::from_secs(5);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C and SIGTERM stop the job's processes instead of orphaning them.
pub fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// How one local job ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `COMPLETED`, `FAILED`, `TIMEOUT` or `CANCELLED`, as Slurm would say.
    pub state: String,
    pub exit_code: i32,
    /// Why it failed (one line), when it did.
    pub reason: Option<String>,
    /// The last lines of the failed role's log (its own `.failed` marker's, else its step's).
    pub tail: Vec<String>,
}

/// The processes of one step: one per role, or one per task with `per_task`.
pub fn processes(step: &Step, per_task: bool) -> u32 {
    if per_task {
        u32::try_from(step.ntasks()).unwrap_or(u32::MAX).max(1)
    } else {
        1
    }
}

/// The most processes `--local --per-task` starts for one step (a plan with a huge task count
/// is refused, not forked).
pub const MAX_LOCAL_TASKS: u32 = 256;

/// The argv of one local process of a step.
pub fn argv(job: &Job, step: &Step, profile: &Profile, task: u32, ntasks: u32) -> Vec<String> {
    let Some(c) = &profile.container else {
        return vec!["bash".into(), "-c".into(), step.command.clone()];
    };
    let mut a: Vec<String> = ["docker", "run", "--rm", "--gpus", "all", "--network", "host"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(format!("--name=perfline-{}-{}-{task}", job.id, step.role.to_lowercase()));
    let workdir = &job.prefix.workdir;
    a.push(format!("--volume={workdir}:{workdir}"));
    let bin = slurm::bin_dir(profile);
    a.push(format!("--volume={bin}:{bin}:ro"));
    for m in &c.mounts {
        a.push(format!("--volume={m}"));
    }
    if let Some(w) = &c.workdir {
        a.push(format!("--workdir={w}"));
    }
    // Values come from launch's environment by name: nothing secret reaches argv.
    for (name, _) in env(job, step, task, ntasks) {
        a.push(format!("--env={name}"));
    }
    for name in &profile.env_forward {
        a.push(format!("--env={name}"));
    }
    a.push(c.image.clone());
    a.extend(["bash".to_string(), "-c".to_string(), step.command.clone()]);
    a
}

/// The environment perfline sets for a local process (the job's exports, the role, and the
/// Slurm variables a step would have).
pub fn env(job: &Job, step: &Step, task: u32, ntasks: u32) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = job
        .prefix
        .exports
        .iter()
        .filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    v.push(("PERFLINE_ROLE".into(), step.role.clone()));
    if let Some(t) = &step.target {
        v.push(("PERFLINE_TARGET".into(), t.clone()));
    }
    v.push(("PERFLINE_TASKS".into(), step.ntasks().to_string()));
    for (k, val) in [
        ("SLURM_PROCID", task.to_string()),
        ("SLURM_LOCALID", task.to_string()),
        ("SLURM_NODEID", "0".to_string()),
        ("SLURM_NTASKS", ntasks.to_string()),
        ("SLURMD_NODENAME", "localhost".to_string()),
    ] {
        v.push((k.into(), val));
    }
    v
}

struct Running<'a> {
    step: &'a Step,
    children: Vec<Child>,
    /// Exit status of each child once reaped.
    statuses: Vec<Option<ExitStatus>>,
}

impl Running<'_> {
    /// Reaps what has exited; returns the first non-zero status seen, if any.
    fn poll(&mut self) -> Result<Option<i32>> {
        for (child, status) in self.children.iter_mut().zip(self.statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait()?;
            }
        }
        Ok(self.statuses.iter().flatten().map(code).find(|c| *c != 0))
    }
    fn finished(&self) -> bool {
        self.statuses.iter().all(Option::is_some)
    }
    fn signal(&self, sig: libc::c_int) {
        for (child, status) in self.children.iter().zip(&self.statuses) {
            if status.is_none() {
                if let Ok(pid) = i32::try_from(child.id()) {
                    // SAFETY: plain syscall; the negative pid names the child's own group.
                    unsafe { libc::kill(-pid, sig) };
                }
            }
        }
    }
}

fn code(s: &ExitStatus) -> i32 {
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

fn spawn<'a>(job: &Job, step: &'a Step, profile: &Profile, per_task: bool) -> Result<Running<'a>> {
    let dir = Path::new(&job.prefix.workdir);
    let log_path = dir.join("logs").join(&step.log);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Failure::new(Exit::CantCreat, format!("{}: {e}", log_path.display())))?;
    let n = processes(step, per_task);
    if n > MAX_LOCAL_TASKS {
        return Err(Failure::data(format!(
            "{}: {} tasks; --local --per-task runs at most {MAX_LOCAL_TASKS} processes per step",
            step.role,
            step.ntasks()
        )));
    }
    let mut children = Vec::new();
    for task in 0..n {
        let args = argv(job, step, profile, task, n);
        let (program, rest) = args.split_first().ok_or_else(|| Failure::software("empty argv"))?;
        let mut cmd = Command::new(program);
        cmd.args(rest).current_dir(dir).stdin(Stdio::null());
        cmd.stdout(log.try_clone()?).stderr(log.try_clone()?);
        for (k, _) in std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("SLURM"))
        {
            cmd.env_remove(k);
        }
        cmd.envs(env(job, step, task, n));
        cmd.process_group(0);
        let child = cmd.spawn().map_err(|e| {
            Failure::new(Exit::Unavailable, format!("{}: cannot run {program}: {e}", step.role))
        })?;
        children.push(child);
    }
    let statuses = vec![None; children.len()];
    Ok(Running { step, children, statuses })
}

/// Stops every running process group: SIGTERM, then SIGKILL after a grace period.
fn stop(running: &mut [Running]) {
    for r in running.iter() {
        r.signal(libc::SIGTERM);
    }
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        let all_done = running.iter_mut().all(|r| r.poll().is_ok() && r.finished());
        if all_done {
            return;
        }
        std::thread::sleep(POLL);
    }
    for r in running.iter_mut() {
        r.signal(libc::SIGKILL);
        for c in &mut r.children {
            let _ = c.wait();
        }
    }
}

fn failed(job: &Job, profile: &Profile, step: &Step, status: i32) -> Outcome {
    // A role that saw its server die wrote a better reason first: mark_failed keeps it, and
    // that reason (with its server's log tail) is the one shown.
    let workdir = Path::new(&job.prefix.workdir);
    let own = crate::jobdir::first_failure(workdir);
    let text = format!("{}: step exited with status {status}\n", step.role);
    let _ = perfline_slurm::coord::mark_failed(&workdir.join("coord"), &step.role, &text);
    finalize(job, profile);
    let (reason, tail) = match own {
        Some((why, tail)) => {
            (format!("step {} failed with status {status}: {why}", step.role), tail)
        }
        None => {
            let log = workdir.join("logs").join(&step.log);
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<String> =
                text.lines().rev().take(5).map(str::to_string).collect::<Vec<_>>();
            let tail = tail.into_iter().rev().collect();
            (
                format!("step {} failed with status {status} (log {})", step.role, log.display()),
                tail,
            )
        }
    };
    Outcome { state: "FAILED".into(), exit_code: status, reason: Some(reason), tail }
}

/// Runs the profile's finalize command (bounded to 30 s) so that a failed job still leaves
/// `failed` metric records; its output goes to `logs/finalize.log`.
fn finalize(job: &Job, profile: &Profile) {
    let Some(template) = &profile.commands.finalize else { return };
    let workdir = Path::new(&job.prefix.workdir);
    let Ok(log) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(workdir.join("logs/finalize.log"))
    else {
        return;
    };
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(slurm::expand(template, "FINALIZE"));
    for e in &job.prefix.exports {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    let err = log.try_clone().map_or(Stdio::null(), Stdio::from);
    let Ok(mut child) = cmd.stdin(Stdio::null()).stdout(log).stderr(err).spawn() else { return };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs a job locally and reports how it ended. The job directory must exist.
pub fn run(job: &Job, profile: &Profile, per_task: bool, timeout: Duration) -> Result<Outcome> {
    let start = Instant::now();
    let coord = Path::new(&job.prefix.workdir).join("coord");
    let groups =
        job.install.iter().map(std::slice::from_ref).chain(job.groups.iter().map(Vec::as_slice));
    for group in groups {
        let mut running: Vec<Running> = Vec::new();
        for step in group {
            match spawn(job, step, profile, per_task) {
                Ok(r) => running.push(r),
                Err(f) => {
                    stop(&mut running);
                    return Err(f);
                }
            }
        }
        // The group's last step is in the foreground: its end is the group's end.
        loop {
            let mut foreground_done = false;
            let mut failure = None;
            let last = running.len().saturating_sub(1);
            for (i, r) in running.iter_mut().enumerate() {
                let bad = r.poll()?;
                let is_foreground = i == last;
                let excused = !is_foreground && coord.join(&r.step.done_marker).exists();
                if let Some(status) = bad.filter(|_| !excused) {
                    failure.get_or_insert((r.step, status));
                }
                if is_foreground && r.finished() {
                    foreground_done = true;
                }
            }
            if let Some((step, status)) = failure {
                stop(&mut running);
                return Ok(failed(job, profile, step, status));
            }
            if foreground_done {
                break;
            }
            if INTERRUPTED.load(Ordering::SeqCst) || start.elapsed() >= timeout {
                stop(&mut running);
                finalize(job, profile);
                let (state, why) = if INTERRUPTED.load(Ordering::SeqCst) {
                    ("CANCELLED", "interrupted".to_string())
                } else {
                    ("TIMEOUT", format!("still running after {}s", timeout.as_secs()))
                };
                return Ok(Outcome {
                    state: state.into(),
                    exit_code: 1,
                    reason: Some(why),
                    tail: Vec::new(),
                });
            }
            std::thread::sleep(POLL);
        }
        if let Some(step) = group.last().filter(|s| s.kind == StepKind::Benchmark) {
            touch(&coord.join(&step.done_marker))?;
        }
        drain(&mut running)?;
    }
    touch(&coord.join("benchmark.done"))?;
    Ok(Outcome { state: "COMPLETED".into(), exit_code: 0, reason: None, tail: Vec::new() })
}

/// Lets background steps end on their own after their benchmark, then stops them.
fn drain(running: &mut [Running]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(DRAIN_S.into());
    loop {
        let mut all = true;
        for r in running.iter_mut() {
            r.poll()?;
            all &= r.finished();
        }
        if all {
            return Ok(());
        }
        if Instant::now() >= deadline {
            stop(running);
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

fn touch(path: &Path) -> Result<()> {
    perfline::fsutil::write_atomic(path, b"")
}
