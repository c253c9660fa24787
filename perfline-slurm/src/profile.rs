//! Cluster profiles: the schema, the defaults, validation (unknown keys are errors) and lookup.

use perfline::cli::{Failure, Result};
use perfline::exit::Exit;
use perfline::shell;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
/// The client perfline runs for `benchmark_client: agentx` unless the profile maps it:
/// perfline's bench in agentic mode replaying the config's trace (`dataset_file`).
pub const DEFAULT_AGENTX_COMMAND: &str = "{bin}/bench --agentic {client_args}";

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
    /// Alternative benchmark clients (a config's `benchmark.benchmark_client`) → client command
    /// templates (placeholders as `commands.client`). `agentx` maps to
    /// [`DEFAULT_AGENTX_COMMAND`] unless listed here; any other client must be listed, or
    /// launch and mkprefix refuse the test before writing anything.
    pub clients: BTreeMap<String, String>,
    /// `launch --local` settings.
    pub local: Local,
    /// Root of the model and dataset directories as the nodes see them (absolute);
    /// `LLM_MODELS_ROOT` overrides it. Model names and relative `dataset_file`s resolve under
    /// it (see [`crate::models`]).
    pub models_root: Option<String>,
    /// Config model names (`model_name`) → model paths, relative ones under `models_root`: the
    /// incumbent's MODEL_PATH_DICT. When it has entries, a name missing from it is an error.
    pub models: BTreeMap<String, String>,
    /// The model id clients request (`--model`): the resolved `path` (default, what servers
    /// serve by default) or the config's `name` (for servers started with a served name, e.g.
    /// `--served-model-name {model_name}`).
    pub served_model: ServedModel,
    /// Check at launch (and mkprefix) that resolved model and dataset paths exist on the
    /// launch host; off by default, since the nodes' filesystem may not be visible there.
    pub check_model_paths: bool,
    /// Give every server role exactly its GPUs (`CUDA_VISIBLE_DEVICES`); `false` for engines
    /// or clusters that bind devices themselves.
    pub gpu_isolation: bool,
    /// What the servers' HTTP API accepts beyond standard OpenAI; decides what the client
    /// may send (`role` adapts the client's flags to it).
    pub api: Api,
    /// How long a ready server may give no answer at all to `/health` (while its log does not
    /// grow either) before its role calls it hung and fails the job (`role`'s liveness rule).
    /// A duration such as `10s`, `30s`, `2m`, from 3 s to 1 h. A slow answer is never hung.
    pub hung_after: String,
}

/// The default of [`Profile::hung_after`].
pub const DEFAULT_HUNG_AFTER: &str = "10s";
/// The range of [`Profile::hung_after`]: more than the liveness probe's 2 s "slow" mark, at
/// most an hour.
pub const HUNG_AFTER_RANGE: (std::time::Duration, std::time::Duration) =
    (std::time::Duration::from_secs(3), std::time::Duration::from_secs(3600));

/// What clients send as the request's `model` (see [`Profile::served_model`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ServedModel {
    /// The resolved model path (what the server gets as `{model}`).
    #[default]
    Path,
    /// The config's model name.
    Name,
}

/// A server flavour (`api:`): `trtllm` (default) and `vllm` accept `ignore_eos`, token-id
/// prompts and `stream_options`; `openai-strict` (e.g. `transformers serve`) only standard
/// OpenAI fields, so the client sends text prompts and no extensions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    #[default]
    Trtllm,
    Vllm,
    OpenaiStrict,
}

impl Api {
    /// The name as profiles and `bench --api` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Api::Trtllm => "trtllm",
            Api::Vllm => "vllm",
            Api::OpenaiStrict => "openai-strict",
        }
    }

    /// Non-standard fields (`ignore_eos`), token-id prompts and `stream_options` may be sent.
    pub fn extensions(self) -> bool {
        self != Api::OpenaiStrict
    }
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
            clients: BTreeMap::new(),
            local: Local::default(),
            models_root: None,
            models: BTreeMap::new(),
            served_model: ServedModel::Path,
            check_model_paths: false,
            gpu_isolation: true,
            api: Api::default(),
            hung_after: DEFAULT_HUNG_AFTER.into(),
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
        let value = perfline::yaml::load(path).map_err(|f| match f.exit {
            Exit::DataErr => Failure::config(f.message),
            Exit::NoInput if f.io_kind == Some(std::io::ErrorKind::NotFound) => {
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                let found = profiles_in(&[dir.unwrap_or(Path::new(".")).to_path_buf()]);
                if found.is_empty() {
                    f
                } else {
                    let where_ = dir.map_or(String::new(), |d| format!(" in {}", d.display()));
                    let message =
                        format!("{}; profiles found{where_}: {}", f.message, found.join(", "));
                    Failure { message, ..f }
                }
            }
            _ => f,
        })?;
        Profile::from_yaml(value, &path.display().to_string())
    }

    /// Parses a profile from YAML text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Profile> {
        let value = perfline::yaml::parse(text, source).map_err(|f| Failure::config(f.message))?;
        Profile::from_yaml(value, source)
    }

    fn from_yaml(value: perfline::yaml::Value, source: &str) -> Result<Profile> {
        // Whatever the file holds (a token, /etc/passwd) is never echoed: say what it is not.
        if !value.is_mapping() {
            let kind = match value {
                perfline::yaml::Value::Null => "empty",
                perfline::yaml::Value::Sequence(_) => "a list",
                _ => "a single value",
            };
            return Err(Failure::config(format!(
                "{source}: not a cluster profile (a YAML mapping of settings expected; the file is {kind})"
            )));
        }
        // The field is named (`gpus_per_node: invalid value: integer `-1`, expected u32`).
        let json = perfline::yaml::to_json(&value);
        let mut profile: Profile = serde_path_to_error::deserialize(json).map_err(|e| {
            let at = match e.path().to_string() {
                p if p == "." || p == "?" => String::new(),
                p => format!("{}: ", perfline::cli::shorten(&p, perfline::jsonl::PATH_SHOWN)),
            };
            Failure::config(format!("{source}: {at}{}", e.into_inner()))
        })?;
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
        check_time(&self.time).map_err(|why| {
            format!("time: {:?}: {why}", perfline::cli::shorten(&self.time, perfline::cli::SHOWN))
        })?;
        parse_hung_after(&self.hung_after)?;
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
        for (name, template) in &self.clients {
            shell::check_id(name).map_err(|e| format!("clients: {name:?}: {e}"))?;
            no_control(&format!("clients.{name}"), template)?;
            if template.trim().is_empty() {
                return Err(format!("clients.{name}: empty command"));
            }
        }
        if let Some(root) = &self.models_root {
            no_control("models_root", root)?;
            if !root.starts_with('/') {
                return Err(format!("models_root: {root:?} is not an absolute path"));
            }
        }
        for (name, path) in &self.models {
            no_control("models", name)?;
            no_control(&format!("models.{name}"), path)?;
            if name.is_empty() || path.is_empty() {
                return Err(format!("models: {name:?}: {path:?}: empty name or path"));
            }
            // A relative entry sits under models_root: `..` would leave it.
            if !path.starts_with('/') && path.split('/').any(|c| c == "..") {
                return Err(format!(
                    "models.{name}: {path:?} leaves models_root (a `..` component); give an absolute path"
                ));
            }
        }
        Ok(())
    }

    /// True when the cluster rejects sbatch option `option` (`--segment`).
    pub fn rejects(&self, option: &str) -> bool {
        self.reject.iter().any(|r| r == option)
    }

    /// The command template of alternative benchmark client `name` (`benchmark_client`): the
    /// profile's `clients` entry, else the built-in one (`agentx`), else none (perfline cannot
    /// run it).
    pub fn client_command(&self, name: &str) -> Option<&str> {
        client_command(&self.clients, name)
    }

    /// The client names perfline can run with this profile, for messages.
    pub fn client_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.clients.keys().map(String::as_str).collect();
        if !self.clients.contains_key("agentx") {
            names.push("agentx");
        }
        names.sort_unstable();
        names
    }

    /// [`Profile::hung_after`] as a duration (the default when it does not parse: `check`
    /// refuses such a profile).
    pub fn hung_after(&self) -> std::time::Duration {
        parse_hung_after(&self.hung_after).unwrap_or(HUNG_AFTER_DEFAULT_DURATION)
    }

    /// The partition to request, if any.
    pub fn partition(&self) -> Option<&str> {
        self.partition.as_deref().filter(|p| !p.is_empty() && *p != "unspecified")
    }
}

/// [`Profile::client_command`] over a profile's `clients` map.
pub fn client_command<'a>(clients: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    match clients.get(name) {
        Some(t) => Some(t.as_str()),
        None if name == "agentx" => Some(DEFAULT_AGENTX_COMMAND),
        None => None,
    }
}

const HUNG_AFTER_DEFAULT_DURATION: std::time::Duration = std::time::Duration::from_secs(10);

/// Parses and checks `hung_after` (`10s`, `1m 30s`, `2m`): a duration within
/// [`HUNG_AFTER_RANGE`].
pub fn parse_hung_after(text: &str) -> std::result::Result<std::time::Duration, String> {
    let shown: String = text.chars().take(40).collect();
    let shown = if shown.len() < text.len() { format!("{shown}…") } else { shown };
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("hung_after: {shown:?}: not a duration ({e}; e.g. `10s`, `30s`, `2m`)")
    })?;
    let (min, max) = HUNG_AFTER_RANGE;
    if d < min || d > max {
        return Err(format!(
            "hung_after: {shown:?}: out of range ({} s to {} s)",
            min.as_secs(),
            max.as_secs()
        ));
    }
    Ok(d)
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

pub(super) fn no_control(field: &str, v: &str) -> std::result::Result<(), String> {
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
    let shown = perfline::cli::shorten(spec, perfline::cli::SHOWN);
    shell::check_id(spec).map_err(|e| Failure::usage(format!("--cluster {shown:?}: {e}")))?;
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
        let found = profiles_in(&dirs);
        let found = if found.is_empty() {
            "no profiles found: run from the checkout, set PERFLINE_CLUSTERS_DIR, or give a path (--cluster FILE.yaml)".to_string()
        } else {
            format!("profiles found: {}", found.join(", "))
        };
        Failure::new(
            Exit::NoInput,
            format!("cluster profile {shown:?} not found (looked for {shown}.yaml in $PERFLINE_CLUSTERS_DIR, ./ci/clusters and beside the binary); {found}"),
        )
    })
}

/// The profile names (`NAME.yaml`) in `dirs`, sorted, without duplicates.
fn profiles_in(dirs: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".yaml").map(str::to_string))
        .filter(|n| shell::check_id(n).is_ok())
        .collect();
    names.sort();
    names.dedup();
    names
}
