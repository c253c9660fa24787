//! The Slurm prefix of one planned test: sbatch header, srun arguments, exports, and the
//! texts of the incumbent's prefix files.

use crate::profile::{check_env_name, no_control, GpuRequest, Profile};
use perfline::cli::{Failure, Result};
use perfline::shell;
use perfline::template::Scripts;
use perfline::wire::plan::PlannedTest;
use std::path::PathBuf;
use std::sync::LazyLock;

/// Settings of one run that are not in the profile.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Root of the job directories (absolute); overrides the profile's `job_root`.
    pub job_root: Option<PathBuf>,
    /// Pin the job to these nodes (`--nodelist`), in order.
    pub nodelist: Vec<String>,
    /// The launch attempt (see [`perfline::attempt`]): the job directory is
    /// `JOB_ROOT/ID/ATTEMPT`; `None` (mkprefix) gives the test's directory `JOB_ROOT/ID`.
    pub attempt: Option<String>,
}

/// The Slurm prefix of one test.
#[derive(Clone, Debug, PartialEq)]
pub struct Prefix {
    /// `#SBATCH …` lines.
    pub sbatch: Vec<String>,
    /// Arguments every srun step gets (unquoted words).
    pub srun_args: Vec<String>,
    /// `NAME=VALUE` exports of the job script (unquoted).
    pub exports: Vec<String>,
    /// The job directory.
    pub workdir: String,
}

impl Prefix {
    /// Points the prefix at another job directory (a launch attempt inside the test's
    /// directory that mkprefix chose): the `--output`/`--error` lines, the exported job and
    /// coordination directories, and `workdir`.
    pub fn set_workdir(&mut self, workdir: &str, attempt: Option<&str>) -> Result<()> {
        no_control("job directory", workdir).map_err(Failure::usage)?;
        for name in ["--output=", "--error="] {
            let line = sbatch_line(&format!("{name}{workdir}/logs/slurm-%j.out"))?;
            // In place, so a hand-edited header keeps its order (and its omissions: sbatch
            // runs in the job directory, where Slurm's default output file then lands).
            if let Some(l) = self.sbatch.iter_mut().find(|l| l.contains(name)) {
                *l = line;
            }
        }
        self.exports.retain(|e| {
            !["PERFLINE_JOB_DIR=", "PERFLINE_COORD_DIR=", "PERFLINE_ATTEMPT="]
                .iter()
                .any(|p| e.starts_with(p))
        });
        let mut head = vec![
            format!("PERFLINE_JOB_DIR={workdir}"),
            format!("PERFLINE_COORD_DIR={workdir}/coord"),
        ];
        if let Some(a) = attempt {
            head.push(format!("{}={a}", perfline::attempt::ENV));
        }
        let at = self
            .exports
            .iter()
            .position(|e| e.starts_with("PERFLINE_TEST_ID="))
            .map_or(0, |i| i + 1);
        self.exports.splice(at..at, head);
        self.workdir = workdir.to_string();
        Ok(())
    }
}

/// Where job directories go: `--job-root`, else the profile's `job_root`, else
/// `./perfline-jobs`, made absolute against the current directory.
pub fn job_root(profile: &Profile, opts: &Options) -> Result<PathBuf> {
    let root = opts
        .job_root
        .clone()
        .or_else(|| profile.job_root.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("perfline-jobs"));
    let root = if root.is_absolute() {
        root
    } else {
        std::env::current_dir().map_err(|e| Failure::io("current directory", &e))?.join(root)
    };
    let text = root.to_str().ok_or_else(|| Failure::usage("job root is not UTF-8"))?;
    no_control("job_root", text).map_err(Failure::usage)?;
    Ok(root)
}

/// Where perfline's binaries are on the nodes: the profile's `bin_dir`, else the directory of
/// the running tool (compute nodes see it on the shared filesystem).
pub fn bin_dir(profile: &Profile) -> String {
    if let Some(dir) = &profile.bin_dir {
        return dir.clone();
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|p| p.to_string_lossy().into_owned()))
        .unwrap_or_else(|| ".".into())
}

/// Formats seconds as Slurm `--time` (`[D-]HH:MM:SS`), rounding up to whole minutes.
pub fn format_time(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60).max(1);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    if days > 0 {
        format!("{days}-{hours:02}:{mins:02}:00")
    } else {
        format!("{hours:02}:{mins:02}:00")
    }
}

/// Builds the prefix of `planned` for `profile` (incumbent §7.2–7.3).
pub fn prefix(planned: &PlannedTest, profile: &Profile, opts: &Options) -> Result<Prefix> {
    let test = &planned.test;
    let plan = &planned.plan;
    shell::check_id(&test.id).map_err(|e| Failure::data(format!("{}: {e}", test.id)))?;
    let id = &test.id;
    if plan.total_nodes == 0 || plan.gpus_per_node == 0 {
        return Err(Failure::data(format!("{id}: plan has no nodes or no GPUs per node")));
    }
    if let Some(have) = profile.gpus_per_node {
        if plan.gpus_per_node > have {
            return Err(Failure::data(format!(
                "{id}: plan needs {} GPUs per node; cluster {} has {have}",
                plan.gpus_per_node, profile.name
            )));
        }
    }
    if !opts.nodelist.is_empty() && opts.nodelist.len() < plan.total_nodes as usize {
        return Err(Failure::usage(format!(
            "{id}: --nodes lists {} nodes; the plan needs {}",
            opts.nodelist.len(),
            plan.total_nodes
        )));
    }
    for node in &opts.nodelist {
        shell::check_id(node).map_err(|e| Failure::usage(format!("--nodes {node:?}: {e}")))?;
    }
    let mut workdir = job_root(profile, opts)?.join(id);
    if let Some(a) = &opts.attempt {
        perfline::attempt::check(a)
            .map_err(|e| Failure::software(format!("attempt {a:?}: {e}")))?;
        workdir.push(a);
    }
    let workdir = workdir.to_string_lossy().into_owned();
    let (nodes, gpn) = (plan.total_nodes, plan.gpus_per_node);

    let mut options: Vec<String> = vec![
        format!("--nodes={nodes}"),
        format!("--ntasks={}", u64::from(nodes) * u64::from(gpn)),
        format!("--ntasks-per-node={gpn}"),
    ];
    let gpu_options = [format!("--gpus-per-node={gpn}"), format!("--gres=gpu:{gpn}")];
    let gpu_order: &[usize] = match profile.gpu_request {
        GpuRequest::GpusPerNode => &[0, 1],
        GpuRequest::Gres => &[1, 0],
        GpuRequest::None => &[],
    };
    if let Some(opt) =
        gpu_order.iter().filter_map(|&i| gpu_options.get(i)).find(|o| !profile.rejects(name_of(o)))
    {
        options.push(opt.clone());
    }
    if profile.segment && u64::from(nodes) * u64::from(gpn) > 1 {
        options.push(format!("--segment={nodes}"));
    }
    options.extend(profile.sbatch_extra.iter().cloned());
    if !opts.nodelist.is_empty() {
        options.push(format!("--nodelist={}", opts.nodelist.join(",")));
    }
    let time = match plan.timeout_s.or(test.timeout_s) {
        Some(s) => format_time(s),
        None => profile.time.clone(),
    };
    options.push(format!("--time={time}"));
    if let Some(p) = profile.partition() {
        options.push(format!("--partition={p}"));
    }
    if let Some(a) = &profile.account {
        options.push(format!("--account={a}"));
    }
    options.push(format!("--job-name={id}"));
    options.push(format!("--output={workdir}/logs/slurm-%j.out"));
    options.push(format!("--error={workdir}/logs/slurm-%j.out"));
    let mut sbatch = Vec::with_capacity(options.len());
    for opt in options.iter().filter(|o| !profile.rejects(name_of(o))) {
        sbatch.push(sbatch_line(opt).map_err(|e| Failure::data(format!("{id}: {}", e.message)))?);
    }

    let mut srun_args = Vec::new();
    if let Some(c) = &profile.container {
        srun_args.push(format!("--container-image={}", c.image));
        srun_args.push(format!("--container-name=perfline-{id}"));
        if !c.mounts.is_empty() {
            srun_args.push(format!("--container-mounts={}", c.mounts.join(",")));
        }
        if let Some(w) = &c.workdir {
            srun_args.push(format!("--container-workdir={w}"));
        }
        if c.no_mount_home {
            srun_args.push("--no-container-mount-home".into());
        }
        for name in forwarded_names(profile) {
            srun_args.push(format!("--container-env={name}"));
        }
    }
    srun_args.extend(profile.srun_extra.iter().cloned());

    let mut exports = vec![
        format!("PERFLINE_TEST_ID={id}"),
        format!("PERFLINE_JOB_DIR={workdir}"),
        format!("PERFLINE_COORD_DIR={workdir}/coord"),
    ];
    if let Some(a) = &opts.attempt {
        exports.push(format!("{}={a}", perfline::attempt::ENV));
    }
    exports.push(format!("PERFLINE_BIN={}", bin_dir(profile)));
    exports.extend(profile.env.iter().map(|(k, v)| format!("{k}={v}")));
    Ok(Prefix { sbatch, srun_args, exports, workdir })
}

/// Variables the steps get from the job's environment: the profile's names plus perfline's own.
pub fn forwarded_names(profile: &Profile) -> Vec<String> {
    let own = ["PERFLINE_TEST_ID", "PERFLINE_JOB_DIR", "PERFLINE_COORD_DIR", "PERFLINE_BIN"];
    let mut names: Vec<String> = own.iter().map(|s| s.to_string()).collect();
    names.extend(["PERFLINE_ROLE".to_string(), "PERFLINE_TARGET".to_string()]);
    names.extend(profile.env.keys().cloned());
    names.extend(profile.env_forward.iter().cloned());
    names
}

/// The option name of `--name=value` (or of a bare `--flag`).
fn name_of(option: &str) -> &str {
    option.split('=').next().unwrap_or(option)
}

/// The sbatch header line template (shell, rendered by perfline::template::Scripts).
static SCRIPTS: LazyLock<std::result::Result<Scripts, String>> =
    LazyLock::new(|| Scripts::new(&[("sbatch.sh", include_str!("sbatch.sh"))]));

/// One `#SBATCH` header line with `option` quoted as one word.
pub fn sbatch_line(option: &str) -> Result<String> {
    let scripts = SCRIPTS.as_ref().map_err(|e| Failure::software(format!("sbatch.sh: {e}")))?;
    scripts.render_macro("sbatch.sh", "sbatch_line", option).map_err(Failure::data)
}

/// One export of a job script: `export NAME=VALUE` with VALUE quoted by the template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Export<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// `NAME=VALUE` exports split, each name checked.
pub fn export_pairs(exports: &[String]) -> Result<Vec<Export<'_>>> {
    exports
        .iter()
        .map(|e| {
            let (name, value) = e.split_once('=').unwrap_or((e, ""));
            check_env_name(name).map_err(Failure::data)?;
            Ok(Export { name, value })
        })
        .collect()
}

/// Expands `{bin} {role} {plan} {job_dir} {coord_dir} {id}` in a command template to shell
/// words that read perfline's exported variables; `role` must be a checked id.
pub fn expand(template: &str, role: &str) -> String {
    perfline::template::render_with(
        template,
        &[
            ("bin", "\"$PERFLINE_BIN\""),
            ("plan", "\"$PERFLINE_JOB_DIR/plan.json\""),
            ("job_dir", "\"$PERFLINE_JOB_DIR\""),
            ("coord_dir", "\"$PERFLINE_COORD_DIR\""),
            ("id", "\"$PERFLINE_TEST_ID\""),
            ("role", role),
        ],
    )
}
