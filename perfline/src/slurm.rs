//! Cluster profiles and the Slurm prefix (sbatch header, srun arguments, exports), shared by
//! `mkprefix` and `launch`.
//!
//! A profile is a YAML file (`ci/clusters/NAME.yaml`) chosen with `--cluster NAME|FILE` or
//! `PERFLINE_CLUSTER`; without one, [`Profile::default`] describes a bare-metal cluster with no
//! partition or account. Unknown keys are errors: a typo must not silently change a job.
//! The header follows the incumbent's (reference/incumbent.md §7.2, local `submit.py`).

use crate::cli::{Failure, Result};
use crate::exit::Exit;
use crate::shell;
use crate::wire::plan::PlannedTest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The options `mkprefix` and `launch` share (each flattens them into its arguments).
#[derive(clap::Args, Debug, Clone)]
pub struct PrefixArgs {
    /// Planned records (JSON Lines); `-` or absent: stdin.
    pub input: Option<PathBuf>,
    /// Cluster profile: a name (ci/clusters/NAME.yaml) or a YAML file.
    #[arg(long, env = CLUSTER_ENV)]
    pub cluster: Option<String>,
    /// Root of the job directories (overrides the profile's job_root; default ./perfline-jobs).
    #[arg(long, value_name = "DIR")]
    pub job_root: Option<PathBuf>,
    /// Pin jobs to these nodes, comma-separated (`--nodelist`); fewer than the plan is an error.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub nodes: Vec<String>,
}

impl PrefixArgs {
    /// The chosen profile (after `adjust`, with its binary directory resolved) and the job
    /// options: resolved once, since they are the same for every record.
    pub fn resolve(
        &self,
        adjust: impl FnOnce(&mut Profile) -> Result<()>,
    ) -> Result<(Profile, Options)> {
        let mut profile = Profile::select(self.cluster.as_deref())?;
        if let Some(image) = std::env::var(IMAGE_ENV).ok().filter(|i| !i.is_empty()) {
            // The CI's image parameter (e.g. Jenkins' DOCKER_IMAGE), by environment.
            profile.container.get_or_insert_with(Container::default).image = image;
            profile.check().map_err(|m| Failure::usage(format!("{IMAGE_ENV}: {m}")))?;
        }
        adjust(&mut profile)?;
        profile.bin_dir = Some(bin_dir(&profile));
        let root =
            job_root(&profile, &Options { job_root: self.job_root.clone(), ..Options::default() })?;
        let opts = Options { job_root: Some(root), nodelist: self.nodes.clone(), attempt: None };
        Ok((profile, opts))
    }
}

/// Environment variable that names the profile when `--cluster` is not given.
pub const CLUSTER_ENV: &str = "PERFLINE_CLUSTER";
/// Environment variable that replaces the profile's container image (adds a container when
/// the profile has none).
pub const IMAGE_ENV: &str = "PERFLINE_CONTAINER_IMAGE";
/// Environment variable naming an extra directory of `NAME.yaml` profiles.
pub const CLUSTERS_DIR_ENV: &str = "PERFLINE_CLUSTERS_DIR";

/// The role command every step runs unless the profile overrides it (the role interface).
pub const DEFAULT_ROLE_COMMAND: &str = "{bin}/role {role} --plan {plan} --job-dir {job_dir}";
/// What a failing job runs before it is cancelled (see [`Commands::finalize`]).
pub const DEFAULT_FINALIZE_COMMAND: &str = "{bin}/role FINALIZE --plan {plan} --job-dir {job_dir}";

/// A cluster profile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// Short name, used in messages.
    pub name: String,
    /// `--partition`; omitted when absent or `unspecified`.
    pub partition: Option<String>,
    pub account: Option<String>,
    /// `--time` when the test has no timeout (Slurm syntax, e.g. `02:00:00`).
    pub time: String,
    /// GPUs per node of the cluster; a plan that needs more per node is an error.
    pub gpus_per_node: Option<u32>,
    /// How the header asks for GPUs.
    pub gpu_request: GpuRequest,
    /// Ask for one NVLink segment (`--segment=N`) for multi-GPU jobs.
    pub segment: bool,
    /// sbatch options the cluster rejects (`--segment`, `--gres`, `--gpus-per-node`, …):
    /// never emitted, even from `sbatch_extra`.
    pub reject: Vec<String>,
    /// Extra `#SBATCH` options, one per entry (`--exclusive`, `--comment=x`).
    pub sbatch_extra: Vec<String>,
    /// Extra arguments for every srun step.
    pub srun_extra: Vec<String>,
    /// `--mpi=TYPE` for engine (server) steps; none when absent.
    pub mpi: Option<String>,
    /// Names of environment variables the steps need (secrets included): forwarded by name,
    /// their values never reach the script.
    pub env_forward: Vec<String>,
    /// Constant environment exported by the script (no secrets here: it is written out).
    pub env: BTreeMap<String, String>,
    /// Container for the steps (pyxis on Slurm, `docker run` locally); bare metal when absent.
    pub container: Option<Container>,
    /// Where perfline's binaries are on the nodes; default: the running tool's directory.
    pub bin_dir: Option<String>,
    /// Root of the job directories (on a filesystem every node sees); `--job-root` overrides.
    pub job_root: Option<String>,
    /// Command templates.
    pub commands: Commands,
    /// `launch --local` settings.
    pub local: Local,
}

/// How GPUs are requested in the header.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GpuRequest {
    /// `--gpus-per-node=G` (falls back to `--gres` when rejected).
    #[default]
    GpusPerNode,
    /// `--gres=gpu:G` (falls back to `--gpus-per-node` when rejected).
    Gres,
    /// No GPU request.
    None,
}

/// A container image and how to run it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Container {
    pub image: String,
    /// `SRC:DST[:FLAGS]` entries.
    pub mounts: Vec<String>,
    pub workdir: Option<String>,
    /// pyxis: do not mount the home directory (`--no-container-mount-home`).
    pub no_mount_home: bool,
}

/// Command templates. In `role` and `install`, `{bin} {role} {plan} {job_dir} {coord_dir}
/// {id}` expand to shell words (`"$PERFLINE_BIN"`, the role name, …), so templates stay
/// valid shell whatever the paths are. `server`, `router` and `client` are data for the role
/// runner (written to the job directory's `profile.json`); their placeholders are its own.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Commands {
    pub role: String,
    /// Run once per node before the servers start; none when absent.
    pub install: Option<String>,
    pub server: String,
    pub router: String,
    pub client: String,
    /// Run by a failing job before it is cancelled, so the failure still leaves `failed`
    /// metric records naming the role and the cause; none when absent.
    pub finalize: Option<String>,
}

impl Default for Commands {
    fn default() -> Commands {
        Commands {
            role: DEFAULT_ROLE_COMMAND.into(),
            install: None,
            server: "trtllm-serve {model} --backend pytorch --config {config} --host {host} --port {port} --report_addr {addr_file}".into(),
            router: "trtllm-serve disaggregated -c {config} -t {timeout} -r {timeout} --report_addr {addr_file}".into(),
            client: "python -m tensorrt_llm.serve.scripts.benchmark_serving {client_args}".into(),
            finalize: Some(DEFAULT_FINALIZE_COMMAND.into()),
        }
    }
}

/// `launch --local` settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Local {
    /// One process per task (with `SLURM_PROCID`) instead of one per role.
    pub per_task: bool,
}

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            name: "default".into(),
            partition: None,
            account: None,
            time: "02:00:00".into(),
            gpus_per_node: None,
            gpu_request: GpuRequest::GpusPerNode,
            segment: false,
            reject: Vec::new(),
            sbatch_extra: Vec::new(),
            srun_extra: Vec::new(),
            mpi: None,
            env_forward: Vec::new(),
            env: BTreeMap::new(),
            container: None,
            bin_dir: None,
            job_root: None,
            commands: Commands::default(),
            local: Local::default(),
        }
    }
}

impl Profile {
    /// Loads the profile named by `spec` (a name or a file), else by `PERFLINE_CLUSTER`, else
    /// the built-in default.
    pub fn select(spec: Option<&str>) -> Result<Profile> {
        let from_env = std::env::var(CLUSTER_ENV).ok().filter(|s| !s.is_empty());
        match spec.map(str::to_string).or(from_env) {
            None => Ok(Profile::default()),
            Some(spec) => Profile::load(&resolve(&spec)?),
        }
    }

    /// Loads and checks a profile file.
    pub fn load(path: &Path) -> Result<Profile> {
        let value = crate::yaml::load(path).map_err(|f| match f.exit {
            Exit::DataErr => Failure::config(f.message),
            _ => f,
        })?;
        Profile::from_yaml(value, &path.display().to_string())
    }

    /// Parses a profile from YAML text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Profile> {
        let value = crate::yaml::parse(text, source).map_err(|f| Failure::config(f.message))?;
        Profile::from_yaml(value, source)
    }

    fn from_yaml(value: crate::yaml::Value, source: &str) -> Result<Profile> {
        // Whatever the file holds (a token, /etc/passwd) is never echoed: say what it is not.
        if !value.is_mapping() {
            let kind = match value {
                crate::yaml::Value::Null => "empty",
                crate::yaml::Value::Sequence(_) => "a list",
                _ => "a single value",
            };
            return Err(Failure::config(format!(
                "{source}: not a cluster profile (a YAML mapping of settings expected; the file is {kind})"
            )));
        }
        let mut profile: Profile =
            serde_yaml::from_value(value).map_err(|e| Failure::config(format!("{source}: {e}")))?;
        if profile.name.is_empty() || profile.name == "default" {
            profile.name = Path::new(source)
                .file_stem()
                .map_or_else(|| "profile".into(), |s| s.to_string_lossy().into_owned());
        }
        profile.check().map_err(|m| Failure::config(format!("{source}: {m}")))?;
        Ok(profile)
    }

    /// Checks values that would otherwise break the header or the script.
    pub fn check(&self) -> std::result::Result<(), String> {
        let single_line = [
            ("partition", self.partition.as_deref()),
            ("account", self.account.as_deref()),
            ("time", Some(self.time.as_str())),
            ("mpi", self.mpi.as_deref()),
            ("bin_dir", self.bin_dir.as_deref()),
            ("job_root", self.job_root.as_deref()),
        ];
        for (field, value) in single_line {
            if let Some(v) = value {
                no_control(field, v)?;
            }
        }
        for (field, list) in [
            ("reject", &self.reject),
            ("sbatch_extra", &self.sbatch_extra),
            ("srun_extra", &self.srun_extra),
        ] {
            for v in list {
                no_control(field, v)?;
            }
        }
        for v in &self.sbatch_extra {
            if !v.starts_with('-') {
                return Err(format!("sbatch_extra: {v:?} is not an option (must start with '-')"));
            }
        }
        for name in self.env_forward.iter().chain(self.env.keys()) {
            check_env_name(name)?;
        }
        check_time(&self.time).map_err(|why| format!("time: {:?}: {why}", self.time))?;
        if self.gpus_per_node == Some(0) {
            return Err("gpus_per_node: must be at least 1".into());
        }
        if let Some(c) = &self.container {
            if c.image.is_empty() {
                return Err("container.image: empty".into());
            }
            no_control("container.image", &c.image)?;
            for m in &c.mounts {
                no_control("container.mounts", m)?;
                if m.contains(',') {
                    return Err(format!("container.mounts: {m:?} contains ','"));
                }
            }
        }
        if self.commands.role.trim().is_empty() {
            return Err("commands.role: empty".into());
        }
        Ok(())
    }

    /// True when the cluster rejects sbatch option `option` (`--segment`).
    pub fn rejects(&self, option: &str) -> bool {
        self.reject.iter().any(|r| r == option)
    }

    /// The partition to request, if any.
    pub fn partition(&self) -> Option<&str> {
        self.partition.as_deref().filter(|p| !p.is_empty() && *p != "unspecified")
    }
}

/// Checks a Slurm time limit: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`, or
/// `UNLIMITED`/`INFINITE` (sbatch(1) `--time`).
pub fn check_time(t: &str) -> std::result::Result<(), String> {
    const WHY: &str = "not a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)";
    if matches!(t, "UNLIMITED" | "INFINITE" | "unlimited" | "infinite") {
        return Ok(());
    }
    let num = |p: &str| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let ok = days.is_none_or(num)
        && parts.iter().all(|p| num(p))
        && match days {
            Some(_) => (1..=3).contains(&parts.len()),
            None => (1..=3).contains(&parts.len()),
        };
    if ok {
        Ok(())
    } else {
        Err(WHY.into())
    }
}

fn no_control(field: &str, v: &str) -> std::result::Result<(), String> {
    if v.chars().any(char::is_control) {
        return Err(format!("{field}: {v:?} contains a control character (newline?)"));
    }
    Ok(())
}

/// Checks an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn check_env_name(name: &str) -> std::result::Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not an environment variable name"))
    }
}

/// Finds a profile: a path (contains `/` or ends in `.yaml`/`.yml`) is taken as is; a name is
/// looked up as `NAME.yaml` in `PERFLINE_CLUSTERS_DIR`, `./ci/clusters`, and `ci/clusters`
/// beside the running binary's workspace.
pub fn resolve(spec: &str) -> Result<PathBuf> {
    if spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml") {
        return Ok(PathBuf::from(spec));
    }
    shell::check_id(spec).map_err(|e| Failure::usage(format!("--cluster {spec:?}: {e}")))?;
    let file = format!("{spec}.yaml");
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os(CLUSTERS_DIR_ENV) {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(PathBuf::from("ci/clusters"));
    if let Ok(exe) = std::env::current_exe() {
        dirs.extend(exe.ancestors().skip(1).map(|a| a.join("ci/clusters")));
    }
    dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file()).ok_or_else(|| {
        Failure::new(
            Exit::NoInput,
            format!("cluster profile {spec:?} not found (looked for {file} in $PERFLINE_CLUSTERS_DIR, ./ci/clusters and beside the binary)"),
        )
    })
}

/// Settings of one run that are not in the profile.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Root of the job directories (absolute); overrides the profile's `job_root`.
    pub job_root: Option<PathBuf>,
    /// Pin the job to these nodes (`--nodelist`), in order.
    pub nodelist: Vec<String>,
    /// The launch attempt (see [`crate::attempt`]): the job directory is
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
            let opt = format!("{name}{workdir}/logs/slurm-%j.out");
            let line = format!("#SBATCH {}", shell::quote(&opt).map_err(Failure::data)?);
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
            head.push(format!("{}={a}", crate::attempt::ENV));
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
        crate::attempt::check(a).map_err(|e| Failure::software(format!("attempt {a:?}: {e}")))?;
        workdir.push(a);
    }
    let workdir = workdir.to_string_lossy().into_owned();
    let (nodes, gpn) = (plan.total_nodes, plan.gpus_per_node);

    let mut options: Vec<String> = vec![
        format!("--nodes={nodes}"),
        format!("--ntasks={}", nodes * gpn),
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
    if profile.segment && nodes * gpn > 1 {
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
        let word = shell::quote(opt).map_err(|e| Failure::data(format!("{id}: {e}")))?;
        sbatch.push(format!("#SBATCH {word}"));
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
        exports.push(format!("{}={a}", crate::attempt::ENV));
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

/// `export NAME=VALUE` lines, quoted.
pub fn export_lines(exports: &[String]) -> Result<Vec<String>> {
    exports
        .iter()
        .map(|e| {
            let (name, value) = e.split_once('=').unwrap_or((e, ""));
            check_env_name(name).map_err(Failure::data)?;
            Ok(format!("export {name}={}", shell::quote(value).map_err(Failure::data)?))
        })
        .collect()
}

/// The text of the old `slurm_launch_prefix.sh`: shebang, header and exports.
pub fn prefix_script(sbatch: &[String], exports: &[String]) -> Result<String> {
    let mut out = String::from("#!/bin/bash\n");
    for line in sbatch {
        out.push_str(line);
        out.push('\n');
    }
    for line in export_lines(exports)? {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// The text of the old `slurm_srun_args.txt`: one quoted word per line.
pub fn srun_args_text(srun_args: &[String]) -> Result<String> {
    let mut out = String::new();
    for a in srun_args {
        out.push_str(&shell::quote(a).map_err(Failure::data)?);
        out.push('\n');
    }
    Ok(out)
}

/// Expands `{bin} {role} {plan} {job_dir} {coord_dir} {id}` in a command template to shell
/// words that read perfline's exported variables; `role` must be a checked id.
pub fn expand(template: &str, role: &str) -> String {
    crate::template::render_with(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::plan::PlannedTest;

    fn planned() -> PlannedTest {
        serde_json::from_str(crate::wire::plan::EXAMPLE).unwrap()
    }

    fn opts() -> Options {
        Options {
            job_root: Some(PathBuf::from("/shared/jobs")),
            nodelist: Vec::new(),
            attempt: None,
        }
    }

    #[test]
    fn header_follows_the_incumbent() {
        let mut profile = Profile::parse(
            "name: gb200\npartition: batch\naccount: acct\nsegment: true\nmpi: pmix\n",
            "gb200.yaml",
        )
        .unwrap();
        profile.bin_dir = Some("/opt/perfline/bin".into());
        let p = prefix(&planned(), &profile, &opts()).unwrap();
        let id = "disagg-e2e-cfg_ctx1_tp1_gen1_tp8";
        let want: Vec<String> = [
            "--nodes=3",
            "--ntasks=12",
            "--ntasks-per-node=4",
            "--gpus-per-node=4",
            "--segment=3",
            "--time=01:00:00",
            "--partition=batch",
            "--account=acct",
            &format!("--job-name={id}"),
            &format!("--output=/shared/jobs/{id}/logs/slurm-%j.out"),
            &format!("--error=/shared/jobs/{id}/logs/slurm-%j.out"),
        ]
        .iter()
        .map(|o| format!("#SBATCH {o}"))
        .collect();
        assert_eq!(p.sbatch, want);
        assert!(p.srun_args.is_empty());
        assert_eq!(p.workdir, format!("/shared/jobs/{id}"));
        assert_eq!(p.exports[3], "PERFLINE_BIN=/opt/perfline/bin");
    }

    #[test]
    fn rejected_options_fall_back_or_vanish() {
        let profile = Profile::parse(
            "partition: unspecified\nsegment: true\nreject: [--segment, --gpus-per-node]\nsbatch_extra: [--exclusive, '--comment=a b']\n",
            "p.yaml",
        )
        .unwrap();
        let mut t = planned();
        t.plan.timeout_s = Some(90 * 60 + 1);
        let p = prefix(&t, &profile, &opts()).unwrap();
        let text = p.sbatch.join("\n");
        assert!(text.contains("#SBATCH --gres=gpu:4\n"), "{text}");
        assert!(!text.contains("segment") && !text.contains("gpus-per-node"), "{text}");
        assert!(!text.contains("partition"), "{text}");
        assert!(text.contains("#SBATCH --exclusive\n#SBATCH '--comment=a b'\n"), "{text}");
        assert!(text.contains("#SBATCH --time=01:31:00\n"), "{text}");
    }

    #[test]
    fn container_flags_and_forwarded_names() {
        let profile = Profile::parse(
            "container: {image: 'nvcr.io/x:1', mounts: ['/lustre:/lustre'], workdir: /w, no_mount_home: true}\nenv_forward: [HF_TOKEN]\nsrun_extra: [--cpu-bind=none]\n",
            "c.yaml",
        )
        .unwrap();
        let p = prefix(&planned(), &profile, &opts()).unwrap();
        assert_eq!(p.srun_args[0], "--container-image=nvcr.io/x:1");
        assert_eq!(p.srun_args[1], "--container-name=perfline-disagg-e2e-cfg_ctx1_tp1_gen1_tp8");
        assert_eq!(p.srun_args[2], "--container-mounts=/lustre:/lustre");
        assert!(p.srun_args.contains(&"--container-env=HF_TOKEN".to_string()));
        assert_eq!(p.srun_args.last().unwrap(), "--cpu-bind=none");
    }

    #[test]
    fn bad_profiles_and_plans_are_errors() {
        let err = Profile::parse("partiton: x\n", "typo.yaml").unwrap_err();
        assert_eq!(err.exit, Exit::Config);
        assert!(err.message.starts_with("typo.yaml: unknown field `partiton`"), "{}", err.message);
        let err = Profile::parse("account: \"a\\n#SBATCH --x\"\n", "nl.yaml").unwrap_err();
        assert!(err.message.contains("account"), "{}", err.message);
        let err = Profile::parse("env_forward: ['A;B']\n", "e.yaml").unwrap_err();
        assert_eq!(err.exit, Exit::Config);
        let small = Profile { gpus_per_node: Some(2), ..Profile::default() };
        let err = prefix(&planned(), &small, &opts()).unwrap_err();
        assert_eq!(err.exit, Exit::DataErr);
        let mut bad = planned();
        bad.test.id = "x$(touch y)".into();
        assert_eq!(prefix(&bad, &Profile::default(), &opts()).unwrap_err().exit, Exit::DataErr);
        let short = Options { nodelist: vec!["n1".into()], ..opts() };
        let err = prefix(&planned(), &Profile::default(), &short).unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(
            err.message.ends_with("--nodes lists 1 nodes; the plan needs 3"),
            "{}",
            err.message
        );
    }

    #[test]
    fn slurm_times_are_checked() {
        for good in ["30", "30:00", "02:00:00", "1-0", "1-12:30", "2-00:00:00", "UNLIMITED"] {
            assert_eq!(check_time(good), Ok(()), "{good}");
        }
        for bad in ["banana", "", "1:2:3:4", "-1", "1-", "1h", "02:00:00 --wrap=x", "1-2-3"] {
            assert!(check_time(bad).is_err(), "{bad}");
        }
        let e = Profile::parse("time: banana\n", "p.yaml").unwrap_err();
        assert_eq!(e.exit, Exit::Config);
        assert!(
            e.message.starts_with("p.yaml: time: \"banana\": not a Slurm time"),
            "{}",
            e.message
        );
        let e = Profile::parse("hunter2-secret-token\n", "tok.yaml").unwrap_err();
        assert_eq!(
            e.message,
            "tok.yaml: not a cluster profile (a YAML mapping of settings expected; the file is a single value)"
        );
    }

    #[test]
    fn time_and_templates() {
        assert_eq!(format_time(60), "00:01:00");
        assert_eq!(format_time(7200), "02:00:00");
        assert_eq!(format_time(0), "00:01:00");
        assert_eq!(format_time(2 * 86400 + 61), "2-00:02:00");
        assert_eq!(
            expand(DEFAULT_ROLE_COMMAND, "GEN_0"),
            r#""$PERFLINE_BIN"/role GEN_0 --plan "$PERFLINE_JOB_DIR/plan.json" --job-dir "$PERFLINE_JOB_DIR""#
        );
    }

    #[test]
    fn exports_are_quoted() {
        let lines = export_lines(&["A=x y".into(), "B=$(id)".into()]).unwrap();
        assert_eq!(lines, ["export A='x y'", "export B='$(id)'"]);
    }
}
