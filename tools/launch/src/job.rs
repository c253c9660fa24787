//! One test's job: its prefix, its steps in launch order, and the sbatch script that runs them.
//! The local executor runs the same steps (see `local.rs`); the layout of the job directory is
//! in docs/job-layout.md.

use perfline::cli::Result;
use perfline::template::Scripts;
use perfline::wire::job::{PrefixedTest, RoleCommand};
use perfline::wire::plan::{Mode, PlannedTest, RoleKind};
use perfline::Failure;
use perfline_slurm::{self as slurm, Options, Prefix, Profile};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

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
        let pinned = prefix
            .sbatch
            .iter()
            .find(|l| l.strip_prefix("#SBATCH ").is_some_and(|o| o.starts_with("--nodelist=")))
            .cloned();
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

/// The job script template: bash with minijinja statements on `#%` lines, every value
/// shell-quoted by the renderer (perfline::template::Scripts).
static SCRIPTS: LazyLock<std::result::Result<Scripts, String>> =
    LazyLock::new(|| Scripts::new(&[("job.sh", include_str!("../templates/job.sh"))]));

fn scripts() -> Result<&'static Scripts> {
    SCRIPTS.as_ref().map_err(|e| Failure::software(format!("job.sh template: {e}")))
}

/// A command line of quoted words (the record's `commands` of a `--local` job).
pub fn argv_line(argv: &[String]) -> Result<String> {
    scripts()?.render_macro("job.sh", "argv_line", argv).map_err(Failure::data)
}

/// A step as the template sees it.
#[derive(Serialize)]
struct StepView<'a> {
    role: &'a str,
    log: &'a str,
    done_marker: &'a str,
    background: bool,
    target: Option<&'a str>,
    options: Vec<String>,
    /// The node slice of a server step.
    slice: Option<Slice>,
    command: &'a str,
}

#[derive(Serialize)]
struct Slice {
    first: u32,
    count: u32,
}

impl<'a> StepView<'a> {
    fn new(step: &'a Step, profile: &Profile) -> Self {
        StepView {
            role: &step.role,
            log: &step.log,
            done_marker: &step.done_marker,
            background: matches!(step.kind, StepKind::Server | StepKind::Router),
            target: step.target.as_deref(),
            options: step_options(step, profile),
            slice: (step.kind == StepKind::Server)
                .then_some(Slice { first: step.first_node, count: step.nodes }),
            command: &step.command,
        }
    }
}

/// A group of steps and the markers touched once its benchmark is done.
#[derive(Serialize)]
struct GroupView<'a> {
    steps: Vec<StepView<'a>>,
    markers: Vec<&'a str>,
}

/// What each server gets, as resolved from the profile: the model path, the id clients
/// request when it differs, and its GPUs (`None`: all GPUs of the node).
#[derive(Serialize)]
struct ServerView<'a> {
    role: &'a str,
    model: &'a str,
    served: Option<&'a str>,
    gpus: Option<&'a [u32]>,
}

/// Everything the job template prints.
#[derive(Serialize)]
struct ScriptView<'a> {
    sbatch: &'a [String],
    env_forward: &'a [String],
    servers: Vec<ServerView<'a>>,
    exports: Vec<slurm::Export<'a>>,
    srun_args: &'a [String],
    finalize: Option<String>,
    nodes: u32,
    install: Option<StepView<'a>>,
    groups: Vec<GroupView<'a>>,
    drain_s: u32,
}

/// The commands of the job record: each step's srun line, in launch order.
pub fn commands(job: &Job, profile: &Profile) -> Result<Vec<RoleCommand>> {
    job.install
        .iter()
        .chain(job.groups.iter().flatten())
        .map(|s| {
            let command = scripts()?
                .render_macro("job.sh", "srun_line", StepView::new(s, profile))
                .map_err(Failure::data)?;
            Ok(RoleCommand { role: s.role.clone(), command })
        })
        .collect()
}

/// Renders the sbatch script (templates/job.sh).
pub fn render_script(job: &Job, profile: &Profile) -> Result<String> {
    let last = job.groups.len().saturating_sub(1);
    let groups = job
        .groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let mut markers: Vec<&str> =
                group.last().map(|b| b.done_marker.as_str()).into_iter().collect();
            if i == last && !markers.contains(&"benchmark.done") {
                markers.push("benchmark.done");
            }
            let steps = group.iter().map(|s| StepView::new(s, profile)).collect();
            GroupView { steps, markers }
        })
        .collect();
    let servers = job
        .planned
        .plan
        .roles
        .iter()
        .map(|r| {
            let model = r.model_path.as_deref().or(r.model.as_deref()).unwrap_or("(none)");
            ServerView {
                role: &r.role,
                model,
                served: r.served_model.as_deref().filter(|s| *s != model),
                gpus: r.cuda_visible_devices.as_deref(),
            }
        })
        .collect();
    let exports = slurm::export_pairs(&job.prefix.exports)?;
    let view = ScriptView {
        sbatch: &job.prefix.sbatch,
        env_forward: &profile.env_forward,
        servers,
        exports,
        srun_args: &job.prefix.srun_args,
        finalize: profile.commands.finalize.as_deref().map(|t| slurm::expand(t, "FINALIZE")),
        nodes: job.planned.plan.total_nodes,
        install: job.install.as_ref().map(|s| StepView::new(s, profile)),
        groups,
        drain_s: DRAIN_S,
    };
    scripts()?.render("job.sh", view).map_err(Failure::data)
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
