//! The job directory as the roles see it: paths, the plan, the profile's command templates,
//! coordination files (addresses, failure markers, the done flag) and deadlines.

use perfline::cli::{Failure, Result};
use perfline::fsutil::write_atomic;
use perfline::wire::plan::{PlannedTest, Role};
use perfline_slurm::wait::{tail_lines, Watch};
use perfline_slurm::{Api, Commands, Profile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Everything a role needs to know about its job.
pub struct Job {
    pub dir: PathBuf,
    pub coord: PathBuf,
    pub logs: PathBuf,
    pub results: PathBuf,
    pub planned: PlannedTest,
    pub commands: Commands,
    /// The profile's alternative clients (`clients:`), by `benchmark_client` name.
    pub clients: BTreeMap<String, String>,
    /// The profile's server flavour: what the client may send.
    pub api: Api,
    /// Directory holding perfline's binaries (`simserve`, `bench`, `parse-metrics`).
    pub bin: PathBuf,
    /// The name other nodes reach this one by.
    pub host: String,
    /// How long a server may take to answer `/health`.
    pub ready_timeout: Duration,
    /// The profile's `hung_after`: silence that makes a ready server hung (crate::liveness).
    pub hung_after: Duration,
    /// When the whole job must be over.
    pub deadline: Instant,
    /// The launch attempt (`PERFLINE_ATTEMPT`), carried by every record the job writes.
    pub attempt: Option<String>,
}

/// Default server-ready timeout (the incumbent: 3600 s; a simulated server needs seconds).
const DEFAULT_READY_TIMEOUT_S: u64 = 3600;
/// Default whole-job timeout when neither the plan nor the environment says (incumbent: 10800 s).
const DEFAULT_JOB_TIMEOUT_S: u64 = 10800;

/// The largest plan.json read (64 MiB, as a JSON Lines line; launch writes a few KiB).
const MAX_PLAN: u64 = 64 << 20;

/// The planned test in `path`: never a hang (a FIFO), a directory or binary file is bad input
/// naming the file, the JSON error names its field and column.
fn read_plan(path: &Path) -> Result<PlannedTest> {
    let bytes = perfline::fsutil::read_input(path, MAX_PLAN)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        Failure::data(format!("{}: not UTF-8 text (byte {})", path.display(), e.valid_up_to() + 1))
    })?;
    perfline::jsonl::parse(text).map_err(|f| f.context(path.display()))
}

impl Job {
    pub fn load(plan: &Path, dir: &Path) -> Result<Job> {
        let planned: PlannedTest = read_plan(plan)?;
        let profile_path = dir.join("profile.json");
        let (commands, clients, api, hung_after) = match std::fs::read_to_string(&profile_path) {
            Ok(text) => {
                let p = serde_json::from_str::<Profile>(&text)
                    .map_err(|e| Failure::config(format!("{}: {e}", profile_path.display())))?;
                perfline_slurm::parse_hung_after(&p.hung_after)
                    .map_err(|e| Failure::config(format!("{}: {e}", profile_path.display())))?;
                let hung_after = p.hung_after();
                (p.commands, p.clients, p.api, hung_after)
            }
            Err(_) => (
                Commands::default(),
                BTreeMap::new(),
                Api::default(),
                Profile::default().hung_after(),
            ),
        };
        let env_secs =
            |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok());
        let job_timeout = env_secs("PERFLINE_JOB_TIMEOUT_S")
            .or(planned.plan.timeout_s)
            .or(planned.test.timeout_s)
            .unwrap_or(DEFAULT_JOB_TIMEOUT_S);
        let ready_timeout = env_secs("PERFLINE_READY_TIMEOUT_S")
            .unwrap_or(DEFAULT_READY_TIMEOUT_S)
            .min(job_timeout);
        let coord =
            std::env::var_os("PERFLINE_COORD_DIR").map_or_else(|| dir.join("coord"), PathBuf::from);
        let job = Job {
            dir: dir.to_path_buf(),
            logs: dir.join("logs"),
            results: dir.join("results"),
            coord,
            planned,
            commands,
            clients,
            api,
            bin: bin_dir(),
            host: advertised_host(),
            ready_timeout: Duration::from_secs(ready_timeout),
            hung_after,
            deadline: deadline_after(Duration::from_secs(job_timeout)),
            attempt: attempt_from_env()?,
        };
        for d in [&job.coord, &job.logs, &job.results] {
            std::fs::create_dir_all(d).map_err(|e| Failure::io(d.display(), &e))?;
        }
        Ok(job)
    }

    pub fn id(&self) -> &str {
        &self.planned.test.id
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.planned.plan.roles.iter().find(|r| r.role == name)
    }

    pub fn addr_file(&self, role: &str) -> PathBuf {
        self.coord.join(format!("{role}.addr"))
    }

    pub fn failed_file(&self, role: &str) -> PathBuf {
        perfline_slurm::coord::marker(&self.coord, role)
    }

    /// Written by BENCHMARK when it is finished: every role then exits.
    pub fn done_file(&self) -> PathBuf {
        self.coord.join("benchmark.done")
    }

    /// Written by BENCHMARK when it has finished with one aggregated server.
    pub fn server_done_file(&self, role: &str) -> PathBuf {
        self.coord.join(format!("{role}.done"))
    }

    /// Publishes `host:port` for `role` atomically.
    pub fn publish_addr(&self, role: &str, port: u16) -> Result<()> {
        write_atomic(&self.addr_file(role), format!("{}:{port}", self.host).as_bytes())
    }

    /// Writes `role`'s failure marker: the reason on the first line, then the log tail.
    pub fn mark_failed(&self, role: &str, reason: &str, log: Option<&Path>) {
        let mut text = format!("{role}: {}\n", perfline::cli::one_line(reason));
        if let Some(log) = log {
            for line in tail_lines(log, perfline_slurm::wait::LOG_TAIL_LINES) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        let _ = perfline_slurm::coord::mark_failed(&self.coord, role, &text);
    }

    /// Failure markers of every role of the plan except `me`, plus the router's and the client's.
    pub fn peer_markers(&self, me: &str) -> Vec<PathBuf> {
        let mut names: Vec<String> =
            self.planned.plan.roles.iter().map(|r| r.role.clone()).collect();
        names.extend(["DISAGG_SERVER".to_string(), "BENCHMARK".to_string()]);
        names.into_iter().filter(|n| n != me).map(|n| self.failed_file(&n)).collect()
    }

    /// The peers' failure markers as watches for a wait.
    pub fn peer_watches(&self, me: &str) -> Vec<Watch> {
        self.peer_markers(me).into_iter().map(Watch::FailureMarker).collect()
    }

    /// Time left before the job deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Now plus `d`, or a far deadline when that overflows the clock (an absurd timeout).
pub fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(10 * 365 * 86_400)))
        .unwrap_or(now)
}

/// `PERFLINE_ATTEMPT`, checked (it names a directory and travels into the store).
fn attempt_from_env() -> Result<Option<String>> {
    match std::env::var(perfline::attempt::ENV) {
        Ok(a) if !a.is_empty() => {
            perfline::attempt::check(&a)
                .map_err(|e| Failure::usage(format!("{}={a:?}: {e}", perfline::attempt::ENV)))?;
            Ok(Some(a))
        }
        _ => Ok(None),
    }
}

/// The directory of perfline's binaries: `PERFLINE_BIN`, else the running `role`'s directory.
fn bin_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PERFLINE_BIN") {
        return PathBuf::from(p);
    }
    std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default()
}

/// `PERFLINE_HOST`, else this host's name when it resolves, else 127.0.0.1.
fn advertised_host() -> String {
    if let Ok(h) = std::env::var("PERFLINE_HOST") {
        if !h.trim().is_empty() {
            return h.trim().to_string();
        }
    }
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    let resolves = !name.is_empty()
        && std::net::ToSocketAddrs::to_socket_addrs(&(name, 0))
            .map(|mut a| a.next().is_some())
            .unwrap_or(false);
    if resolves {
        name.to_string()
    } else {
        "127.0.0.1".to_string()
    }
}

/// A free TCP port on this host (bound and released; the server binds it right after).
pub fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind(("0.0.0.0", 0)).map_err(|e| Failure::io("bind port 0", &e))?;
    Ok(listener.local_addr().map_err(|e| Failure::io("local_addr", &e))?.port())
}
