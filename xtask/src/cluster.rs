//! `cargo xtask cluster up|down|status`: a real Slurm cluster on this host for tests, e2e and CI.
//!
//! `up` installs Debian's `slurm-wlm` and `munge` when missing, writes `slurm.conf` and
//! `gres.conf` under the cluster directory (default `/var/tmp/perfline-slurm`, or
//! `PERFLINE_SLURM_DIR`) with N node names on this host (several `slurmd -N NAME`, each on its
//! own port, 4 file-backed fake GPUs each), starts munged, slurmctld and the slurmds, and waits
//! until every node is idle. It is idempotent. `down` stops exactly the processes whose pid
//! files `up` wrote. Client commands need `SLURM_CONF=<dir>/slurm.conf`; `up` also links
//! `/etc/slurm/slurm.conf` to it when that file is absent (or already ours).

use crate::util::{apt_install_if_missing, Section};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Cluster {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Install when missing, start, and wait until all nodes are idle.
    Up {
        /// Number of node names (n1..nN) on this host.
        #[arg(long, default_value_t = 4)]
        nodes: u32,
    },
    /// Stop exactly what `up` started (by pid file).
    Down,
    /// Show the daemons and the nodes.
    Status,
}

/// First line of files this task writes; it only ever replaces files carrying it.
const MARKER: &str = "# perfline test cluster (written by cargo xtask cluster up)";
const GPUS_PER_NODE: u32 = 4;
const CPUS_PER_NODE: u32 = 4;
const FIRST_SLURMD_PORT: u32 = 17001;
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The cluster directory (config, state, spool, logs, pid files).
pub fn cluster_dir() -> PathBuf {
    std::env::var_os("PERFLINE_SLURM_DIR")
        .map_or_else(|| PathBuf::from("/var/tmp/perfline-slurm"), PathBuf::from)
}

impl Cluster {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        let dir = cluster_dir();
        match self.action {
            Action::Up { nodes } => up(sh, &dir, nodes),
            Action::Down => down(&dir),
            Action::Status => status(&dir),
        }
    }
}

fn node_names(n: u32) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

fn hostname() -> anyhow::Result<String> {
    let out = Command::new("hostname").output().context("run hostname")?;
    let name = String::from_utf8(out.stdout)?.trim().to_string();
    anyhow::ensure!(!name.is_empty(), "hostname is empty");
    Ok(name)
}

fn slurm_conf(dir: &Path, host: &str, n: u32) -> String {
    let d = dir.display();
    let mut s = format!(
        "{MARKER}\n\
         ClusterName=perfline\n\
         SlurmctldHost={host}(127.0.0.1)\n\
         SlurmUser=root\n\
         SlurmdUser=root\n\
         AuthType=auth/munge\n\
         CredType=cred/munge\n\
         StateSaveLocation={d}/state\n\
         SlurmdSpoolDir={d}/spool/slurmd-%n\n\
         SlurmctldPidFile={d}/run/slurmctld.pid\n\
         SlurmdPidFile={d}/run/slurmd-%n.pid\n\
         SlurmctldLogFile={d}/log/slurmctld.log\n\
         SlurmdLogFile={d}/log/slurmd-%n.log\n\
         ProctrackType=proctrack/pgid\n\
         TaskPlugin=task/none\n\
         SelectType=select/cons_tres\n\
         SelectTypeParameters=CR_CPU\n\
         MpiDefault=none\n\
         ReturnToService=2\n\
         SlurmdParameters=config_overrides\n\
         GresTypes=gpu\n\
         KillWait=1\n\
         MinJobAge=600\n\
         InactiveLimit=0\n\
         MessageTimeout=10\n\
         SchedulerType=sched/backfill\n\
         JobAcctGatherType=jobacct_gather/none\n\
         AccountingStorageType=accounting_storage/none\n\
         JobCompType=jobcomp/none\n"
    );
    for (i, name) in node_names(n).iter().enumerate() {
        let port = FIRST_SLURMD_PORT + i as u32;
        s.push_str(&format!(
            "NodeName={name} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs={CPUS_PER_NODE} Gres=gpu:{GPUS_PER_NODE} State=UNKNOWN\n"
        ));
    }
    s.push_str(&format!(
        "PartitionName=debug Nodes=n[1-{n}] Default=YES MaxTime=INFINITE State=UP\n"
    ));
    s
}

fn gres_conf(dir: &Path, n: u32) -> String {
    let mut s = format!("{MARKER}\n");
    for name in node_names(n) {
        s.push_str(&format!(
            "NodeName={name} Name=gpu File={}/gpus/{name}-gpu[0-{}]\n",
            dir.display(),
            GPUS_PER_NODE - 1
        ));
    }
    s
}

fn write_if_changed(path: &Path, text: &str) -> anyhow::Result<bool> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(false);
    }
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(true)
}

/// The pid in `file` when that process is alive and its name starts with `comm`.
fn live_pid(file: &Path, comm: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (name.trim().starts_with(comm) && alive(pid)).then_some(pid)
}

/// True while `pid` runs; a zombie (containers whose init does not reap) counts as gone.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(") ")?.1.starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

fn run_checked(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("run {cmd:?}"))?;
    anyhow::ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok(())
}

fn munge_works() -> bool {
    Command::new("bash")
        .args(["-c", "{ munge -n | unmunge; } >/dev/null 2>&1"])
        .status()
        .is_ok_and(|s| s.success())
}

fn start_munge(dir: &Path) -> anyhow::Result<()> {
    if munge_works() {
        return Ok(());
    }
    let key = Path::new("/etc/munge/munge.key");
    if !key.exists() {
        run_checked(Command::new("mungekey").args(["--create", "--force"]))?;
    }
    run_checked(Command::new("chown").args(["munge:munge", "/etc/munge/munge.key"]))?;
    run_checked(Command::new("chmod").args(["0400", "/etc/munge/munge.key"]))?;
    std::fs::create_dir_all("/run/munge")?;
    run_checked(Command::new("chown").args(["munge:munge", "/run/munge"]))?;
    run_checked(Command::new("runuser").args(["-u", "munge", "--", "/usr/sbin/munged"]))?;
    // Remember that we started it, so that `down` stops it and nothing else.
    let pid = std::fs::read_to_string("/run/munge/munged.pid").unwrap_or_default();
    std::fs::write(dir.join("run/munged.pid"), pid)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !munge_works() {
        anyhow::ensure!(Instant::now() < deadline, "munged did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn up(sh: &xshell::Shell, dir: &Path, n: u32) -> anyhow::Result<()> {
    anyhow::ensure!((1..=64).contains(&n), "--nodes must be 1..64");
    let _s = Section::new(format!("Slurm test cluster up ({n} nodes in {})", dir.display()));
    apt_install_if_missing(sh, "slurmctld", &["slurm-wlm", "munge"])?;
    apt_install_if_missing(sh, "munged", &["munge"])?;
    // launch's tests, which need this cluster, also check every job script with shellcheck.
    apt_install_if_missing(sh, "shellcheck", &["shellcheck"])?;
    for sub in ["state", "spool", "run", "log", "gpus"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    for name in node_names(n) {
        for g in 0..GPUS_PER_NODE {
            let f = dir.join(format!("gpus/{name}-gpu{g}"));
            if !f.exists() {
                std::fs::write(&f, "")?;
            }
        }
    }
    let conf = dir.join("slurm.conf");
    let changed = write_if_changed(&conf, &slurm_conf(dir, &hostname()?, n))?
        | write_if_changed(&dir.join("gres.conf"), &gres_conf(dir, n))?;
    link_etc_conf(&conf)?;
    start_munge(dir)?;
    if changed && live_pid(&dir.join("run/slurmctld.pid"), "slurmctld").is_some() {
        eprintln!("cluster: configuration changed; restarting");
        down(dir)?;
        start_munge(dir)?;
    }
    if live_pid(&dir.join("run/slurmctld.pid"), "slurmctld").is_none() {
        run_checked(Command::new("slurmctld").arg("-f").arg(&conf))?;
    }
    for name in node_names(n) {
        if live_pid(&dir.join(format!("run/slurmd-{name}.pid")), "slurmd").is_none() {
            run_checked(Command::new("slurmd").arg("-f").arg(&conf).args(["-N", &name]))?;
        }
    }
    wait_idle(&conf, n)?;
    eprintln!("cluster: {n} nodes idle; use SLURM_CONF={}", conf.display());
    Ok(())
}

/// Points `/etc/slurm/slurm.conf` at ours, so plain `sbatch` works, unless it is someone else's.
fn link_etc_conf(conf: &Path) -> anyhow::Result<()> {
    let etc = Path::new("/etc/slurm/slurm.conf");
    let ours = std::fs::read_to_string(etc).map(|t| t.starts_with(MARKER)).unwrap_or(false);
    if etc.symlink_metadata().is_ok() && !ours {
        eprintln!(
            "cluster: {} exists and is not ours; export SLURM_CONF={}",
            etc.display(),
            conf.display()
        );
        return Ok(());
    }
    std::fs::create_dir_all("/etc/slurm")?;
    let _ = std::fs::remove_file(etc);
    std::os::unix::fs::symlink(conf, etc).with_context(|| format!("link {}", etc.display()))
}

fn sinfo(conf: &Path) -> anyhow::Result<String> {
    let out = Command::new("sinfo")
        .env("SLURM_CONF", conf)
        .args(["-h", "-N", "-o", "%N %t"])
        .output()
        .context("run sinfo")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_idle(conf: &Path, n: u32) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut resumed = false;
    loop {
        let text = sinfo(conf)?;
        let states: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(' ')).collect();
        let idle = states.iter().filter(|(_, s)| s.trim() == "idle").count();
        if idle == n as usize {
            return Ok(());
        }
        if !resumed && states.iter().any(|(_, s)| s.starts_with("down") || s.starts_with("drain")) {
            // Nodes left down by an earlier run come back once their slurmd answers.
            let _ = Command::new("scontrol")
                .env("SLURM_CONF", conf)
                .args(["update", &format!("NodeName=n[1-{n}]"), "State=RESUME"])
                .status();
            resumed = true;
        }
        if Instant::now() >= deadline {
            bail!("nodes not idle after {}s: {}", READY_TIMEOUT.as_secs(), text.trim());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn down(dir: &Path) -> anyhow::Result<()> {
    let _s = Section::new("Slurm test cluster down");
    let run = dir.join("run");
    let mut files: Vec<(PathBuf, &str)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&run) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let comm = if name.starts_with("slurmd-") {
                "slurmd"
            } else if name == "slurmctld.pid" {
                "slurmctld"
            } else if name == "munged.pid" {
                "munged"
            } else {
                continue;
            };
            files.push((e.path(), comm));
        }
    }
    // Nodes first, then the controller, then munge.
    files.sort_by_key(|(_, c)| match *c {
        "slurmd" => 0,
        "slurmctld" => 1,
        _ => 2,
    });
    for (file, comm) in files {
        if let Some(pid) = live_pid(&file, comm) {
            stop(pid, comm)?;
        }
        let _ = std::fs::remove_file(&file);
    }
    Ok(())
}

fn stop(pid: i32, comm: &str) -> anyhow::Result<()> {
    run_checked(Command::new("kill").args(["-TERM", &pid.to_string()]))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    eprintln!("cluster: stopped {comm} ({pid})");
    Ok(())
}

fn status(dir: &Path) -> anyhow::Result<()> {
    let run = dir.join("run");
    let mut any = false;
    if let Ok(entries) = std::fs::read_dir(&run) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let comm = name.split(['-', '.']).next().unwrap_or("").to_string();
            let state = match live_pid(&e.path(), &comm) {
                Some(pid) => format!("running ({pid})"),
                None => "not running".into(),
            };
            println!("{name:<20} {state}");
            any = true;
        }
    }
    if !any {
        println!("no cluster started from {}", dir.display());
        return Ok(());
    }
    print!("{}", sinfo(&dir.join("slurm.conf"))?);
    Ok(())
}
