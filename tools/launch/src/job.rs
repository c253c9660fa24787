//! One test's job: its prefix, its steps in launch order, and the sbatch script that runs them.
//! The local executor runs the same steps (see `local.rs`); the layout of the job directory is
//! in docs/job-layout.md.

use perfline::cli::Result;
use perfline::shell::quote;
use perfline::slurm::{self, Options, Prefix, Profile};
use perfline::wire::job::{PrefixedTest, RoleCommand};
use perfline::wire::plan::{Mode, PlannedTest, RoleKind};
use perfline::Failure;
use serde::Deserialize;

/// Seconds the servers get to end on their own once their benchmark is done.
pub const DRAIN_S: u32 = 60;

/// What a step is, which decides its srun options and how the job treats its exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Once per node, before anything else; must succeed.
    Install,
    /// An engine server (`GEN_i`, `CTX_i`, `SERVER_i`): background, MPI, its own node slice.
    Server,
    /// The disagg router: background, `--overlap` on one node.
    Router,
    /// The benchmark client: foreground, `--overlap` on one node; its result is the job's.
    Benchmark,
}

/// One srun step (or one local process group).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// `PERFLINE_ROLE`: `GEN_0`, `DISAGG_SERVER`, `BENCHMARK`, `SERVER_1`, `install`.
    pub role: String,
    pub kind: StepKind,
    pub nodes: u32,
    pub tasks_per_node: u32,
    /// Index of the first node of its slice (servers only).
    pub first_node: u32,
    /// Log file name under `logs/`.
    pub log: String,
    /// Coordination file whose presence means "the benchmark is done, exiting is fine".
    pub done_marker: String,
    /// `PERFLINE_TARGET` of a benchmark step: the role it measures.
    pub target: Option<String>,
    /// The shell command the step runs (the role template, expanded).
    pub command: String,
}

impl Step {
    pub fn ntasks(&self) -> u64 {
        u64::from(self.nodes) * u64::from(self.tasks_per_node)
    }
}

/// A rendered job.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    pub planned: PlannedTest,
    pub prefix: Prefix,
    /// Groups of steps run one after another (aggregated: one group per server).
    pub groups: Vec<Vec<Step>>,
    pub install: Option<Step>,
    pub script: String,
}

/// Builds the job of one input record (planned, or prefixed by mkprefix).
pub fn build(
    record: &serde_json::Value,
    profile: &Profile,
    opts: &Options,
    role_command: &str,
) -> Result<Job> {
    let planned =
        PlannedTest::deserialize(record).map_err(|e| slurm::models::not_planned(record, &e))?;
    let mut prefix = slurm::prefix(&planned, profile, opts)?;
    if record.get("sbatch").is_some() {
        // mkprefix was in the pipe: its (possibly hand-edited) prefix wins.
        let given = PrefixedTest::deserialize(record)
            .map_err(|e| Failure::data(format!("not a prefixed record: {e}")))?;
        for line in &given.sbatch {
            if line.contains(['\n', '\r']) || !line.starts_with("#SBATCH ") {
                return Err(Failure::data(format!("sbatch line {line:?} is not one #SBATCH line")));
            }
        }
        let pinned = prefix.sbatch.iter().find(|l| l.starts_with("#SBATCH --nodelist=")).cloned();
        prefix.sbatch = given.sbatch;
        if let Some(line) =
            pinned.filter(|_| !prefix.sbatch.iter().any(|l| l.contains("--nodelist")))
        {
            prefix.sbatch.push(line);
        }
        prefix.srun_args = given.srun_args;
        if !given.exports.is_empty() {
            prefix.exports = given.exports;
        }
        // mkprefix chose the test's directory; each launch runs in an attempt inside it.
        let test_dir = given.workdir.unwrap_or_else(|| {
            let w = std::path::Path::new(&prefix.workdir);
            let dir = if opts.attempt.is_some() { w.parent().unwrap_or(w) } else { w };
            dir.to_string_lossy().into_owned()
        });
        let workdir = match &opts.attempt {
            Some(a) => format!("{}/{a}", test_dir.trim_end_matches('/')),
            None => test_dir,
        };
        prefix.set_workdir(&workdir, opts.attempt.as_deref())?;
    }
    let install = profile.commands.install.as_ref().map(|cmd| Step {
        role: "install".into(),
        kind: StepKind::Install,
        nodes: planned.plan.total_nodes,
        tasks_per_node: 1,
        first_node: 0,
        log: "install.log".into(),
        done_marker: String::new(),
        target: None,
        command: slurm::expand(cmd, "install"),
    });
    let groups = plan_steps(&planned, role_command)?;
    let mut job = Job {
        id: planned.test.id.clone(),
        planned,
        prefix,
        groups,
        install,
        script: String::new(),
    };
    job.script = render_script(&job, profile)?;
    Ok(job)
}

/// The steps of a plan: disagg = GEN_i, CTX_i, router, benchmark in one group; aggregated =
/// one group per server (server, then its benchmark), run one after another.
pub fn plan_steps(planned: &PlannedTest, role_command: &str) -> Result<Vec<Vec<Step>>> {
    let plan = &planned.plan;
    let id = &planned.test.id;
    if plan.roles.is_empty() {
        return Err(Failure::data(format!("{id}: plan has no roles")));
    }
    let mut roles: Vec<_> = plan.roles.iter().collect();
    // GEN servers take the first node slices, then CTX (incumbent §7.4); stable otherwise.
    roles.sort_by_key(|r| match r.kind {
        RoleKind::Gen => 0,
        RoleKind::Ctx => 1,
        RoleKind::Server => 2,
    });
    let mut servers = Vec::new();
    for r in roles {
        perfline::shell::check_id(&r.role)
            .map_err(|e| Failure::data(format!("{id}: role {:?}: {e}", r.role)))?;
        let end = u64::from(r.first_node) + u64::from(r.nodes);
        if r.nodes == 0 || r.tasks_per_node == 0 || end > u64::from(plan.total_nodes) {
            return Err(Failure::data(format!(
                "{id}: role {} takes nodes {}..{} with {} tasks per node; the plan has {} nodes",
                r.role, r.first_node, end, r.tasks_per_node, plan.total_nodes
            )));
        }
        let server = |done: &str| Step {
            role: r.role.clone(),
            kind: StepKind::Server,
            nodes: r.nodes,
            tasks_per_node: r.tasks_per_node,
            first_node: r.first_node,
            log: format!("{}.log", r.role),
            done_marker: done.into(),
            target: None,
            command: slurm::expand(role_command, &r.role),
        };
        servers.push((r.kind, server));
    }
    let one_node =
        |role: &str, kind: StepKind, log: String, done: &str, target: Option<String>| Step {
            role: role.into(),
            kind,
            nodes: 1,
            tasks_per_node: 1,
            first_node: 0,
            log,
            done_marker: done.into(),
            target,
            command: slurm::expand(role_command, role),
        };
    let disagg = plan.mode == Mode::Disagg && servers.iter().all(|(k, _)| *k != RoleKind::Server);
    if disagg {
        let done = "benchmark.done";
        let mut group: Vec<Step> = servers.iter().map(|(_, s)| s(done)).collect();
        group.push(one_node(
            "DISAGG_SERVER",
            StepKind::Router,
            "DISAGG_SERVER.log".into(),
            done,
            None,
        ));
        group.push(one_node(
            "BENCHMARK",
            StepKind::Benchmark,
            "BENCHMARK.log".into(),
            done,
            Some("DISAGG_SERVER".into()),
        ));
        return Ok(vec![group]);
    }
    Ok(servers
        .iter()
        .map(|(_, s)| {
            let server = s("");
            let done = format!("{}.done", server.role);
            let bench = one_node(
                "BENCHMARK",
                StepKind::Benchmark,
                format!("BENCHMARK.{}.log", server.role),
                &done,
                Some(server.role.clone()),
            );
            vec![Step { done_marker: done, ..server }, bench]
        })
        .collect())
}

/// srun options of a step (after the job's `srun_args`), with the node slice as shell text.
pub fn step_options(step: &Step, profile: &Profile) -> Vec<String> {
    let mut o = Vec::new();
    if step.kind == StepKind::Server {
        if let Some(mpi) = &profile.mpi {
            o.push(format!("--mpi={mpi}"));
        }
    }
    if matches!(step.kind, StepKind::Router | StepKind::Benchmark) {
        o.push("--overlap".into());
    }
    if step.kind != StepKind::Install {
        o.push("--kill-on-bad-exit=1".into());
    }
    o.push(format!("--nodes={}", step.nodes));
    o.push(format!("--ntasks={}", step.ntasks()));
    o.push(format!("--ntasks-per-node={}", step.tasks_per_node));
    o
}

fn q(s: &str) -> Result<String> {
    quote(s).map_err(Failure::data)
}

/// The srun command line of a step, as it appears in the script (also the record's `commands`).
fn srun_line(step: &Step, profile: &Profile) -> Result<String> {
    let mut words = vec!["srun".to_string(), "\"${srun_args[@]}\"".to_string()];
    for o in step_options(step, profile) {
        words.push(q(&o)?);
    }
    if step.kind == StepKind::Server {
        words.push(format!("--nodelist=\"$(perfline_slice {} {})\"", step.first_node, step.nodes));
    }
    words.push("bash".into());
    words.push("-c".into());
    words.push(q(&step.command)?);
    Ok(words.join(" "))
}

/// The commands of the job record: each step's srun line, in launch order.
pub fn commands(job: &Job, profile: &Profile) -> Result<Vec<RoleCommand>> {
    job.install
        .iter()
        .chain(job.groups.iter().flatten())
        .map(|s| Ok(RoleCommand { role: s.role.clone(), command: srun_line(s, profile)? }))
        .collect()
}

/// The script re-runs itself as a child subreaper (through `role --exec-as-subreaper`), so the
/// children srun leaves behind when it exits are adopted and reaped by the script instead of
/// lingering as zombies in its process group, which would hold Slurm's batch-step teardown
/// (proctrack/pgid polls the group with 1 s, 2 s, … sleeps) for seconds after the job is over.
const SUBREAPER: &str = r#"if [ -z "${PERFLINE_SUBREAPER:-}" ] && [ -x "$PERFLINE_BIN/role" ]; then
  export PERFLINE_SUBREAPER=1
  exec "$PERFLINE_BIN/role" --exec-as-subreaper bash "$0" "$@"
fi
"#;

/// Functions of every job script. Background steps run in subshells that notice their own
/// failure at once (no polling): before the benchmark is done, a non-zero exit cancels the job.
const FUNCTIONS: &str = r#"perfline_nodes=()
perfline_pids=()
perfline_fg=

# Fail fast: mark the failure, show the log's tail, cancel the whole job (logs are kept).
perfline_fail() { # ROLE STATUS LOG
  # A role that saw its server die wrote a better reason first: keep it.
  [ -e "$PERFLINE_COORD_DIR/$1.failed" ] ||
    printf '%s: step exited with status %s\n' "$1" "$2" >"$PERFLINE_COORD_DIR/$1.failed"
  ln "$PERFLINE_COORD_DIR/$1.failed" "$PERFLINE_COORD_DIR/first.failed" 2>/dev/null || true
  echo "perfline: step $1 failed with status $2; last lines of $PERFLINE_JOB_DIR/logs/$3:" >&2
  tail -n 20 "$PERFLINE_JOB_DIR/logs/$3" >&2
  perfline_finalize
  # The main script stops every step (perfline_stop).
  kill -TERM "$$" 2>/dev/null
  exit 1
}

# A server or router step in the background; exiting is fine once DONE_MARKER exists.
perfline_background() { # ROLE LOG DONE_MARKER SRUN-OPTIONS... COMMAND...
  local role=$1 log=$2 done_marker=$3
  shift 3
  (
    PERFLINE_ROLE=$role srun "${srun_args[@]}" "$@" >"$PERFLINE_JOB_DIR/logs/$log" 2>&1 &
    step=$!
    trap 'kill -TERM "$step" 2>/dev/null; wait "$step"; exit 143' TERM
    wait "$step"
    status=$?
    # 76: the role stopped because a peer failed; that peer reports the failure.
    if [ "$status" -ne 0 ] && [ "$status" -ne 76 ] && [ ! -e "$PERFLINE_COORD_DIR/$done_marker" ]; then
      perfline_fail "$role" "$status" "$log"
    fi
  ) &
  perfline_pids+=("$!")
}

# A step in the foreground (install, benchmark): its failure ends the job. It is waited for
# with `wait`, which a failing background step's TERM interrupts at once.
perfline_foreground() { # ROLE LOG SRUN-OPTIONS... COMMAND...
  local role=$1 log=$2 status
  shift 2
  PERFLINE_ROLE=$role srun "${srun_args[@]}" "$@" >"$PERFLINE_JOB_DIR/logs/$log" 2>&1 &
  perfline_fg=$!
  wait "$perfline_fg"
  status=$?
  perfline_fg=
  if [ "$status" -ne 0 ]; then perfline_fail "$role" "$status" "$log"; fi
}

# Lets background steps end on their own for up to SECONDS, then stops them.
perfline_drain() { # SECONDS
  local deadline=$((SECONDS + $1)) pid
  for pid in "${perfline_pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  perfline_pids=()
}

# Node names FIRST..FIRST+COUNT-1 of the allocation, comma-separated.
perfline_slice() { # FIRST COUNT
  local IFS=,
  echo "${perfline_nodes[*]:$1:$2}"
}

# Stops every step. Roles watch each other's failure markers and end on their own within a
# tick, so first give them a moment: a step whose tasks all exit lets srun report a clean end,
# while signalling srun makes it force the step down and wait KillWait + 2 s. Then TERM what
# is left, and cancel the job if even that does not end it within 10 s.
perfline_stop() {
  trap '' TERM INT
  local pid deadline=$((SECONDS + 3))
  for pid in "${perfline_pids[@]}" ${perfline_fg:+"$perfline_fg"}; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  done
  deadline=$((SECONDS + 10))
  for pid in "${perfline_pids[@]}" ${perfline_fg:+"$perfline_fg"}; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${perfline_pids[@]}" ${perfline_fg:+"$perfline_fg"}; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  done
  if [ "$SECONDS" -ge "$deadline" ] && [ -n "${SLURM_JOB_ID:-}" ]; then scancel "$SLURM_JOB_ID"; fi
  exit 1
}
trap perfline_stop TERM INT
"#;

/// Renders the sbatch script (reference/incumbent.md §7.2–7.4, with fail-fast).
pub fn render_script(job: &Job, profile: &Profile) -> Result<String> {
    let mut s = String::with_capacity(8192);
    s.push_str("#!/bin/bash\n");
    for line in &job.prefix.sbatch {
        s.push_str(line);
        s.push('\n');
    }
    s.push_str("# perfline job (generated by launch; layout: docs/job-layout.md).\n");
    // Step commands are single-quoted on purpose (they expand on the node); traps call
    // perfline_stop indirectly.
    s.push_str("# shellcheck disable=SC2016,SC2317\n");
    let names: Vec<&String> = profile.env_forward.iter().collect();
    if !names.is_empty() {
        let list: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        s.push_str(&format!("# From the submitting environment, by name: {}\n", list.join(" ")));
    }
    s.push_str(&servers_comment(&job.planned));
    s.push_str("set -u -o pipefail\n");
    for line in slurm::export_lines(&job.prefix.exports)? {
        s.push_str(&line);
        s.push('\n');
    }
    s.push_str(SUBREAPER);
    s.push_str("srun_args=(");
    for a in &job.prefix.srun_args {
        s.push(' ');
        // Commas are safe shell, but quoting them shows they are not array separators.
        let word = if a.contains(',') { format!("'{}'", a.replace('\'', r"'\''")) } else { q(a)? };
        s.push_str(&word);
    }
    s.push_str(" )\n");
    // A requeued job starts with an empty coordination dir: stale markers would mislead roles.
    s.push_str("rm -rf \"$PERFLINE_COORD_DIR\"\n");
    s.push_str("mkdir -p \"$PERFLINE_JOB_DIR/logs\" \"$PERFLINE_COORD_DIR\" \"$PERFLINE_JOB_DIR/results\"\n");
    s.push_str(FUNCTIONS);
    s.push_str(&finalize_function(profile));
    let need = job.planned.plan.total_nodes;
    s.push_str(&format!(
        "\nmapfile -t perfline_nodes < <(scontrol show hostnames \"${{SLURM_JOB_NODELIST:-}}\")\n\
         if [ \"${{#perfline_nodes[@]}}\" -lt {need} ]; then\n  \
         echo \"perfline: the allocation has ${{#perfline_nodes[@]}} nodes; the plan needs {need}\" >&2\n  \
         exit 1\nfi\n"
    ));
    if let Some(step) = &job.install {
        s.push_str("\n# Install on every node.\n");
        s.push_str(&step_call(step, profile)?);
    }
    let last = job.groups.len().saturating_sub(1);
    for (i, group) in job.groups.iter().enumerate() {
        s.push('\n');
        for step in group {
            if let Some(t) = &step.target {
                s.push_str(&format!("export PERFLINE_TARGET={}\n", q(t)?));
            }
            s.push_str(&step_call(step, profile)?);
        }
        let mut markers: Vec<&str> =
            group.last().map(|b| b.done_marker.as_str()).into_iter().collect();
        if i == last && !markers.contains(&"benchmark.done") {
            markers.push("benchmark.done");
        }
        for marker in markers {
            s.push_str(&format!("touch \"$PERFLINE_COORD_DIR\"/{}\n", q(marker)?));
        }
        s.push_str(&format!("perfline_drain {DRAIN_S}\n"));
    }
    s.push_str("echo \"perfline: $PERFLINE_TEST_ID done\" >&2\nexit 0\n");
    Ok(s)
}

/// What each server gets, as resolved from the profile (plan.json has the same): the model
/// path, the id clients request when it differs, and its GPUs. Values are checked single
/// lines, so a comment cannot end early.
fn servers_comment(planned: &PlannedTest) -> String {
    let mut s = String::new();
    for r in &planned.plan.roles {
        let one = |v: &str| v.replace(['\n', '\r'], " ");
        let model = r.model_path.as_deref().or(r.model.as_deref()).unwrap_or("(none)");
        let mut line = format!("# {}: model {}", r.role, one(model));
        if let Some(served) = r.served_model.as_deref().filter(|s| *s != model) {
            line.push_str(&format!(" (clients request {})", one(served)));
        }
        match &r.cuda_visible_devices {
            Some(gpus) => {
                let list: Vec<String> = gpus.iter().map(u32::to_string).collect();
                line.push_str(&format!(
                    "; GPUs {} of each node (CUDA_VISIBLE_DEVICES)",
                    list.join(",")
                ));
            }
            None => line.push_str("; all GPUs of each node (gpu_isolation: false)"),
        }
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// `perfline_finalize`: the profile's finalize command (bounded, logged), run by a failing job.
fn finalize_function(profile: &Profile) -> String {
    match &profile.commands.finalize {
        Some(t) => format!(
            "\nperfline_finalize() {{\n  timeout 30 {} >>\"$PERFLINE_JOB_DIR/logs/finalize.log\" 2>&1\n}}\n",
            slurm::expand(t, "FINALIZE")
        ),
        None => "\nperfline_finalize() { :; }\n".to_string(),
    }
}

fn step_call(step: &Step, profile: &Profile) -> Result<String> {
    let line = srun_line(step, profile)?;
    let tail = line.strip_prefix("srun \"${srun_args[@]}\" ").unwrap_or(&line);
    let (role, log) = (q(&step.role)?, q(&step.log)?);
    Ok(match step.kind {
        StepKind::Server | StepKind::Router => {
            format!("perfline_background {role} {log} {} {tail}\n", q(&step.done_marker)?)
        }
        StepKind::Install | StepKind::Benchmark => {
            format!("perfline_foreground {role} {log} {tail}\n")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned() -> PlannedTest {
        serde_json::from_str(perfline::wire::plan::EXAMPLE).unwrap()
    }

    #[test]
    fn gen_servers_come_first_and_disagg_is_one_group() {
        let mut p = planned();
        p.plan.roles.reverse();
        let groups = plan_steps(&p, "x").unwrap();
        let roles: Vec<&str> = groups[0].iter().map(|s| s.role.as_str()).collect();
        assert_eq!(roles, ["GEN_0", "CTX_0", "DISAGG_SERVER", "BENCHMARK"]);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0][0].ntasks(), 8);
        assert_eq!(groups[0][3].target.as_deref(), Some("DISAGG_SERVER"));
    }

    #[test]
    fn roles_outside_the_allocation_are_refused() {
        let mut p = planned();
        p.plan.roles[1].first_node = 3;
        let err = plan_steps(&p, "x").unwrap_err();
        assert_eq!(err.exit, perfline::Exit::DataErr);
        assert_eq!(
            err.message,
            "disagg-e2e-cfg_ctx1_tp1_gen1_tp8: role CTX_0 takes nodes 3..4 with 1 tasks per node; the plan has 3 nodes"
        );
        let mut p = planned();
        p.plan.roles[0].role = "GEN_0;id".into();
        assert!(plan_steps(&p, "x").is_err());
    }

    #[test]
    fn mpi_only_on_engine_steps() {
        let profile = Profile { mpi: Some("pmix".into()), ..Profile::default() };
        let groups = plan_steps(&planned(), "x").unwrap();
        let opts: Vec<Vec<String>> = groups[0].iter().map(|s| step_options(s, &profile)).collect();
        assert_eq!(opts[0][0], "--mpi=pmix");
        assert_eq!(opts[1][0], "--mpi=pmix");
        assert!(opts[2].iter().chain(&opts[3]).all(|o| !o.starts_with("--mpi")));
        assert_eq!(opts[3][..2], ["--overlap", "--kill-on-bad-exit=1"]);
    }
}
