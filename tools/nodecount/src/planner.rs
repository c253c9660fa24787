//! The incumbent's allocation formula (incumbent.md §7.1) and the config → server/client
//! objects it feeds (§3, §2), computed from a parsed config.

use crate::fields::{as_u64, show, ConfigError, Result, Section};
use perfline::wire::plan::{ClientRun, Mode, Plan, Role, RoleKind};
use perfline::wire::test::{BenchmarkMode, Family, TestRecord};
use perfline::yaml::{to_json, Value};

/// Keys of an aggregated server_config that the harness consumes; the rest is LLM-API
/// config (incumbent.md §2.1).
pub const HARNESS_KEYS: [&str; 12] = [
    "mode",
    "concurrency",
    "name",
    "model_name",
    "disagg_run_type",
    "gpus",
    "gpus_per_node",
    "match_mode",
    "client_configs",
    "backend",
    "extra_llm_api_config_path",
    "server_env_var",
];

/// The largest allocation nodecount plans: larger counts are typos, not clusters, and a
/// role per server must stay cheap to build.
pub const MAX_NODES: u32 = 65_536;

/// What the planner may do beyond the incumbent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Pack servers that fit onto shared nodes (first-fit in role order).
    pub pack: bool,
}

/// Which shape of test a record asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `aggr-CFG[-SERVER…]`: server_configs of an aggregated config.
    Aggr,
    /// `aggr-ctx_only-CFG`: the ctx worker of a disagg config, alone.
    CtxOnly,
    /// `disagg-{e2e|gen_only}-CFG` or old `disagg-CFG` (mode from `benchmark.mode`).
    Disagg(Option<BenchmarkMode>),
}

impl Shape {
    /// The shape of a record, or why the family and mode do not go together.
    pub fn of(test: &TestRecord) -> std::result::Result<Shape, String> {
        match (test.family, test.benchmark_mode) {
            (Family::Aggr, None) => Ok(Shape::Aggr),
            (Family::Aggr, Some(BenchmarkMode::CtxOnly)) => Ok(Shape::CtxOnly),
            (Family::Disagg, Some(BenchmarkMode::CtxOnly)) => {
                Err("benchmark_mode ctx_only belongs to the aggr family".into())
            }
            (Family::Disagg, mode) => Ok(Shape::Disagg(mode)),
            (Family::Aggr, Some(mode)) => {
                let name = serde_json::to_value(mode).ok();
                let name = name.as_ref().and_then(serde_json::Value::as_str).unwrap_or("?");
                Err(format!("benchmark_mode {name} belongs to the disagg family"))
            }
        }
    }

    /// Whether the config lives in the disaggregated folders.
    pub fn reads_disagg_config(self) -> bool {
        !matches!(self, Shape::Aggr)
    }
}

/// Computes the plan of `test` from its parsed `config` (read from `config_path`).
pub fn plan(test: &TestRecord, config: &Value, config_path: &str, opts: Options) -> Result<Plan> {
    let shape = Shape::of(test).map_err(|r| ConfigError::new("", r))?;
    let root = Section::root(config)?;
    let mut plan = match shape {
        Shape::Aggr => aggregated(test, &root)?,
        Shape::CtxOnly => ctx_only(test, &root)?,
        Shape::Disagg(mode) => disaggregated(test, &root, mode)?,
    };
    plan.config_path = config_path.to_string();
    plan.timeout_s = match root.opt_section("slurm")? {
        Some(slurm) => slurm.opt_u64("timeout", 1)?.or(test.timeout_s),
        None => test.timeout_s,
    };
    if opts.pack {
        pack(&mut plan);
    }
    Ok(plan)
}

fn overflow(field: impl Into<String>) -> ConfigError {
    ConfigError::new(field, "the GPU or node count is too large")
}

/// GPUs of one server: explicit `gpus`, else `world_size`, else tp × pp × cp (defaults 1).
fn server_gpus(server: &Section) -> Result<u32> {
    if let Some(gpus) = server.opt_u32("gpus", 1)? {
        return Ok(gpus);
    }
    if let Some(world) = server.opt_u32("world_size", 1)? {
        return Ok(world);
    }
    let tp = server.opt_u32("tensor_parallel_size", 1)?.unwrap_or(1);
    let pp = server.opt_u32("pipeline_parallel_size", 1)?.unwrap_or(1);
    let cp = server.opt_u32("context_parallel_size", 1)?.unwrap_or(1);
    tp.checked_mul(pp).and_then(|g| g.checked_mul(cp)).ok_or_else(|| overflow(server.path.clone()))
}

/// A role sized by the incumbent's rules: whole nodes, at most `gpus_per_node` ranks per node.
fn sized_role(kind: RoleKind, index: u32, gpus: u32, gpus_per_node: u32, first_node: u32) -> Role {
    let prefix = match kind {
        RoleKind::Ctx => "CTX",
        RoleKind::Gen => "GEN",
        RoleKind::Server => "SERVER",
    };
    Role {
        role: format!("{prefix}_{index}"),
        kind,
        index,
        name: None,
        gpus,
        nodes: gpus.div_ceil(gpus_per_node),
        tasks_per_node: gpus.min(gpus_per_node),
        first_node,
        gpu_offset: None,
        model: None,
        model_path: None,
        served_model: None,
        cuda_visible_devices: None,
        backend: None,
        extra_llm_api_config_path: None,
        llm_config: None,
        env: Vec::new(),
    }
}

/// The LLM-API part of a server config: everything but the harness keys.
fn llm_config(server: &Section) -> serde_json::Value {
    server
        .map
        .iter()
        .filter(|(k, _)| !k.as_str().is_some_and(|k| HARNESS_KEYS.contains(&k)))
        .map(|(k, v)| (k.as_str().map_or_else(|| show(k), str::to_string), to_json(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn metadata_model<'a>(root: &Section<'a>) -> Result<Option<&'a str>> {
    match root.opt_section("metadata")? {
        Some(meta) => meta.opt_str("model_name"),
        None => Ok(None),
    }
}

/// Fills a role's model, backend and LLM config from its server config.
fn describe(role: &mut Role, server: &Section, default_model: Option<&str>) -> Result<()> {
    role.model = server.opt_str("model_name")?.or(default_model).map(str::to_string);
    role.backend = server.opt_str("backend")?.map(str::to_string);
    role.extra_llm_api_config_path =
        server.opt_str("extra_llm_api_config_path")?.map(str::to_string);
    role.llm_config = Some(llm_config(server));
    Ok(())
}

fn environment<'a>(root: &Section<'a>) -> Result<Option<Section<'a>>> {
    root.opt_section("environment")
}

/// `environment.KEY` words, none when there is no environment section.
fn env_of(env: &Option<Section>, key: &str) -> Result<Vec<String>> {
    env.as_ref().map_or(Ok(Vec::new()), |e| e.env_words(key))
}

fn mode_of(total_nodes: u32) -> Mode {
    if total_nodes == 1 {
        Mode::SingleAgg
    } else {
        Mode::MultiAgg
    }
}

fn empty_plan(mode: Mode, gpus_per_node: u32) -> Plan {
    Plan {
        mode,
        config_path: String::new(),
        gpus_per_node,
        total_nodes: 0,
        total_gpus: 0,
        used_gpus: 0,
        num_ctx_servers: None,
        num_gen_servers: None,
        roles: Vec::new(),
        clients: Vec::new(),
        timeout_s: None,
        router_env: Vec::new(),
        router_extra: None,
        packed: false,
        gpus_saved: None,
        check: None,
    }
}

/// total_gpus = total_nodes × gpus_per_node.
fn finish_totals(plan: &mut Plan) -> Result<()> {
    plan.total_gpus =
        plan.total_nodes.checked_mul(plan.gpus_per_node).ok_or_else(|| overflow("hardware"))?;
    Ok(())
}

fn aggregated(test: &TestRecord, root: &Section) -> Result<Plan> {
    let gpus_per_node = root.section("hardware")?.req_u32("gpus_per_node", 1)?;
    let default_model = metadata_model(root)?;
    let env = environment(root)?;
    // The old layout kept env strings at top level (`environment.server_env_var`).
    let common_server_env = env_of(&env, "server_env_var")?;
    let common_client_env = env_of(&env, "client_env_var")?;
    let servers = match root.get("server_configs") {
        Some(Value::Sequence(seq)) if !seq.is_empty() => seq,
        Some(Value::Sequence(_)) => {
            return Err(ConfigError::new("server_configs", "must list at least one server config"))
        }
        Some(other) => {
            return Err(ConfigError::new(
                "server_configs",
                format!("must be a list, got {}", show(other)),
            ))
        }
        None => return Err(ConfigError::new("server_configs", "required section is missing")),
    };
    let mut named = Vec::with_capacity(servers.len());
    for (i, value) in servers.iter().enumerate() {
        let path = format!("server_configs[{i}]");
        let Value::Mapping(map) = value else {
            return Err(ConfigError::new(path, format!("must be a mapping, got {}", show(value))));
        };
        let server = Section { map, path };
        let name = match server.opt_str("name")? {
            Some(name) => name.to_string(),
            None => default_server_name(&server, default_model)?,
        };
        named.push((name, server));
    }
    if let Some(missing) = test.select.iter().find(|s| !named.iter().any(|(n, _)| n == *s)) {
        let have: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
        return Err(ConfigError::new(
            "server_configs",
            format!("no server config named {missing:?} (have: {})", have.join(", ")),
        ));
    }
    let mut plan = empty_plan(Mode::SingleAgg, gpus_per_node);
    let selected =
        named.into_iter().filter(|(n, _)| test.select.is_empty() || test.select.contains(n));
    for (index, (name, server)) in (0u32..).zip(selected) {
        // Servers run one after another in the same allocation, each from node 0.
        let mut role = sized_role(RoleKind::Server, index, server_gpus(&server)?, gpus_per_node, 0);
        describe(&mut role, &server, default_model)?;
        role.env = [common_server_env.clone(), server.env_words("server_env_var")?].concat();
        plan.clients.extend(aggregated_clients(&server, &role.role, &common_client_env)?);
        plan.total_nodes = plan.total_nodes.max(role.nodes);
        plan.used_gpus = plan.used_gpus.max(role.gpus);
        role.name = Some(name);
        plan.roles.push(role);
    }
    plan.mode = mode_of(plan.total_nodes);
    finish_totals(&mut plan)?;
    Ok(plan)
}

/// The incumbent's default server name `{model}_tp{tp}_ep{ep}_pp{pp}_cp{cp}_bs{mbs}_attn{attn}_moe{moe}`.
fn default_server_name(server: &Section, default_model: Option<&str>) -> Result<String> {
    let model = server.opt_str("model_name")?.or(default_model).unwrap_or("");
    let tp = server.opt_u32("tensor_parallel_size", 1)?.unwrap_or(1);
    let ep = server.opt_u32("moe_expert_parallel_size", 1)?.unwrap_or(1);
    let pp = server.opt_u32("pipeline_parallel_size", 1)?.unwrap_or(1);
    let cp = server.opt_u32("context_parallel_size", 1)?.unwrap_or(1);
    let mbs = server.opt_u64("max_batch_size", 1)?.unwrap_or(512);
    let attn = server.opt_str("attn_backend")?.unwrap_or("TRTLLM");
    let moe = match server.opt_section("moe_config")? {
        Some(moe) => moe.opt_str("backend")?.unwrap_or(""),
        None => "",
    };
    Ok(format!("{model}_tp{tp}_ep{ep}_pp{pp}_cp{cp}_bs{mbs}_attn{attn}_moe{moe}"))
}

fn default_client_name(concurrency: u64, iterations: u64, isl: u64, osl: u64) -> String {
    format!("con{concurrency}_iter{iterations}_isl{isl}_osl{osl}")
}

/// The most requests one client run may send (concurrency × iterations): 10^7.
pub const MAX_NUM_PROMPTS: u64 = 10_000_000;

/// num_prompts = concurrency × iterations, at most [`MAX_NUM_PROMPTS`].
fn num_prompts(concurrency: u64, iterations: u64, field: &str) -> Result<u64> {
    match concurrency.checked_mul(iterations) {
        Some(n) if n <= MAX_NUM_PROMPTS => Ok(n),
        product => {
            let shown = product.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
            Err(ConfigError::new(
                field,
                format!(
                    "concurrency {concurrency} × iterations {iterations} = {shown} requests; \
                     at most {MAX_NUM_PROMPTS} (num_prompts) allowed"
                ),
            ))
        }
    }
}

/// An aggregated server's `client_configs` (incumbent.md §3 ClientConfig defaults).
fn aggregated_clients(
    server: &Section,
    role: &str,
    common_env: &[String],
) -> Result<Vec<ClientRun>> {
    let none = || {
        ConfigError::new(
            server.field("client_configs"),
            "no client run: a server needs at least one client config (else it is benchmarked \
             with no metric)",
        )
    };
    let configs = match server.get("client_configs") {
        None | Some(Value::Null) => return Err(none()),
        Some(Value::Sequence(seq)) if seq.is_empty() => return Err(none()),
        Some(Value::Sequence(seq)) => seq,
        Some(other) => {
            return Err(ConfigError::new(
                server.field("client_configs"),
                format!("must be a list, got {}", show(other)),
            ))
        }
    };
    let mut runs = Vec::with_capacity(configs.len());
    for (j, value) in configs.iter().enumerate() {
        let path = format!("{}.client_configs[{j}]", server.path);
        let Value::Mapping(map) = value else {
            return Err(ConfigError::new(path, format!("must be a mapping, got {}", show(value))));
        };
        let client = Section { map, path };
        let concurrency = client.opt_u64("concurrency", 1)?.unwrap_or(1);
        let iterations = client.opt_u64("iterations", 1)?.unwrap_or(1);
        let isl = client.opt_u64("isl", 1)?.unwrap_or(1024);
        let osl = client.opt_u64("osl", 1)?.unwrap_or(1024);
        let name = match client.opt_str("name")? {
            Some(name) => name.to_string(),
            None => default_client_name(concurrency, iterations, isl, osl),
        };
        runs.push(ClientRun {
            server: role.to_string(),
            name,
            concurrency,
            iterations,
            num_prompts: num_prompts(concurrency, iterations, &client.path)?,
            isl,
            osl,
            random_range_ratio: client.opt_ratio("random_range_ratio")?.unwrap_or(0.0),
            backend: client.opt_str("backend")?.unwrap_or("openai").to_string(),
            streaming: client.opt_bool("streaming")?.unwrap_or(true),
            use_chat_template: client.opt_bool("use_chat_template")?.unwrap_or(false),
            dataset_file: client
                .opt_str("dataset_file")?
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            dataset_path: None,
            warmup: false,
            use_nv_sa_benchmark: client.opt_bool("use_nv_sa_benchmark")?.unwrap_or(false),
            benchmark_client: None,
            env: [common_env.to_vec(), client.env_words("client_env_var")?].concat(),
        });
    }
    Ok(runs)
}

/// The `benchmark` settings of a disagg config that shape its client runs.
struct Benchmark {
    concurrencies: Vec<u64>,
    multi_round: u64,
    isl: u64,
    osl: u64,
    ratio: f64,
    streaming: bool,
    dataset_file: Option<String>,
    use_nv_sa_benchmark: bool,
    client: Option<String>,
}

fn benchmark(root: &Section) -> Result<Benchmark> {
    let bench = root.section("benchmark")?;
    // The old layout kept input/output lengths under `sequence`.
    let sequence = root.opt_section("sequence")?;
    let length = |key: &str| -> Result<Option<u64>> {
        match bench.opt_u64(key, 1)? {
            Some(n) => Ok(Some(n)),
            None => sequence.as_ref().map_or(Ok(None), |s| s.opt_u64(key, 1)),
        }
    };
    Ok(Benchmark {
        concurrencies: concurrency_list(&bench)?,
        multi_round: bench.opt_u64("multi_round", 1)?.unwrap_or(1),
        isl: length("input_length")?.unwrap_or(1024),
        osl: length("output_length")?.unwrap_or(1024),
        ratio: bench.opt_ratio("benchmark_ratio")?.unwrap_or(0.0),
        streaming: bench.opt_bool("streaming")?.unwrap_or(true),
        dataset_file: bench.opt_str("dataset_file")?.filter(|d| !d.is_empty()).map(str::to_string),
        use_nv_sa_benchmark: bench.opt_bool("use_nv_sa_benchmark")?.unwrap_or(false),
        client: bench.opt_str("benchmark_client")?.map(str::to_string),
    })
}

/// `benchmark.concurrency_list`: `'1 2 4'`, `[1, 2, 4]` or a single integer.
fn concurrency_list(bench: &Section) -> Result<Vec<u64>> {
    let field = bench.field("concurrency_list");
    let bad = |what: String| ConfigError::new(field.clone(), what);
    let values: Vec<u64> = match bench.get("concurrency_list") {
        None => return Err(bad("required field is missing".into())),
        Some(Value::String(s)) => s
            .split_whitespace()
            .map(|w| {
                w.parse::<u64>().ok().filter(|&c| c >= 1).ok_or_else(|| {
                    bad(format!("{} is not an integer ≥ 1", show(&Value::String(w.into()))))
                })
            })
            .collect::<Result<_>>()?,
        Some(Value::Sequence(seq)) => {
            seq.iter().map(|v| as_u64(v, 1).map_err(&bad)).collect::<Result<_>>()?
        }
        Some(other) => vec![as_u64(other, 1).map_err(&bad)?],
    };
    if values.is_empty() {
        return Err(bad("must list at least one concurrency".into()));
    }
    Ok(values)
}

/// Client runs of a disagg config: one per concurrency (gen_only: the first only).
fn disagg_clients(
    bench: &Benchmark,
    server: &str,
    gen_only: bool,
    ctx_only: bool,
    env: Vec<String>,
) -> Result<Vec<ClientRun>> {
    let iterations = if gen_only { 1 } else { bench.multi_round };
    let osl = if ctx_only { 1 } else { bench.osl };
    let take = if gen_only { 1 } else { bench.concurrencies.len() };
    bench
        .concurrencies
        .iter()
        .take(take)
        .map(|&concurrency| {
            Ok(ClientRun {
                server: server.to_string(),
                name: default_client_name(concurrency, iterations, bench.isl, osl),
                concurrency,
                iterations,
                num_prompts: num_prompts(concurrency, iterations, "benchmark.concurrency_list")?,
                isl: bench.isl,
                osl,
                random_range_ratio: bench.ratio,
                backend: "openai".into(),
                streaming: bench.streaming,
                use_chat_template: false,
                dataset_file: if ctx_only { None } else { bench.dataset_file.clone() },
                dataset_path: None,
                warmup: gen_only && concurrency == 1,
                use_nv_sa_benchmark: bench.use_nv_sa_benchmark,
                benchmark_client: bench.client.clone(),
                env: env.clone(),
            })
        })
        .collect()
}

fn ctx_only(test: &TestRecord, root: &Section) -> Result<Plan> {
    let gpus_per_node = root.section("hardware")?.req_u32("gpus_per_node", 1)?;
    let ctx = root.section("worker_config")?.section("ctx")?;
    let env = environment(root)?;
    let mut role = sized_role(RoleKind::Server, 0, server_gpus(&ctx)?, gpus_per_node, 0);
    describe(&mut role, &ctx, metadata_model(root)?)?;
    role.name = Some(format!("ctx_only-{}", test.config));
    // The ctx worker runs as a plain aggregated server: no KV transfer, no overlap scheduler.
    if let Some(serde_json::Value::Object(llm)) = role.llm_config.as_mut() {
        llm.shift_remove("cache_transceiver_config");
        llm.insert("disable_overlap_scheduler".into(), true.into());
    }
    role.env = [env_of(&env, "worker_env_var")?, env_of(&env, "ctx_worker_env_var")?].concat();
    let mut plan = empty_plan(mode_of(role.nodes), gpus_per_node);
    plan.total_nodes = role.nodes;
    plan.used_gpus = role.gpus;
    plan.clients = disagg_clients(
        &benchmark(root)?,
        &role.role,
        false,
        true,
        env_of(&env, "client_env_var")?,
    )?;
    plan.roles.push(role);
    finish_totals(&mut plan)?;
    Ok(plan)
}

fn disaggregated(test: &TestRecord, root: &Section, mode: Option<BenchmarkMode>) -> Result<Plan> {
    let hardware = root.section("hardware")?;
    let gpus_per_node = hardware.req_u32("gpus_per_node", 1)?;
    let mut num_ctx = hardware.req_u32("num_ctx_servers", 0)?;
    let num_gen = hardware.req_u32("num_gen_servers", 0)?;
    let workers = root.section("worker_config")?;
    let ctx = workers.section("ctx")?;
    let gen = workers.section("gen")?;
    let bench = benchmark(root)?;
    let config_mode = root.section("benchmark")?.opt_str("mode")?;
    let gen_only = match mode {
        Some(BenchmarkMode::GenOnly) => true,
        Some(_) => false,
        // Old `disagg-CFG` ids: the config says.
        None => match config_mode {
            Some("e2e") => false,
            Some(m) if m.starts_with("gen_only") => true,
            Some(m) => {
                return Err(ConfigError::new(
                    "benchmark.mode",
                    format!("must be e2e, gen_only or gen_only_no_context, got {m:?}"),
                ))
            }
            None => {
                return Err(ConfigError::new(
                    "benchmark.mode",
                    "required for an id without a benchmark mode",
                ))
            }
        },
    };
    let no_context = gen_only && config_mode.is_some_and(|m| m.contains("gen_only_no_context"));
    if no_context {
        num_ctx = 0;
    }
    let run_name = format!("{}-{}", if gen_only { "gen_only" } else { "e2e" }, test.config);
    let env = environment(root)?;
    let worker_env = env_of(&env, "worker_env_var")?;
    let default_model = metadata_model(root)?;
    let gen_gpus = server_gpus(&gen)?;
    let ctx_gpus = server_gpus(&ctx)?;
    let needed = u64::from(num_gen) * u64::from(gen_gpus.div_ceil(gpus_per_node))
        + u64::from(num_ctx) * u64::from(ctx_gpus.div_ceil(gpus_per_node));
    if needed > u64::from(MAX_NODES) {
        return Err(ConfigError::new(
            "hardware",
            format!("the test needs {needed} nodes, more than the {MAX_NODES} nodecount plans for"),
        ));
    }
    let mut plan = empty_plan(Mode::Disagg, gpus_per_node);
    plan.router_env = env_of(&env, "server_env_var")?;
    let mut gen_env = env_of(&env, "gen_worker_env_var")?;
    if gen_only {
        gen_env.extend(gen_only_env(&gen, &bench)?);
    }
    if no_context {
        // The launch script exports this to GEN workers and the router alike (§7.3).
        gen_env.push(GEN_ONLY_NO_CONTEXT.into());
        plan.router_env.push(GEN_ONLY_NO_CONTEXT.into());
    }
    plan.num_ctx_servers = Some(num_ctx);
    plan.num_gen_servers = Some(num_gen);
    // The incumbent's order: GEN servers first, then CTX, on consecutive whole nodes.
    let groups = [
        (RoleKind::Gen, num_gen, &gen, gen_gpus, gen_env),
        (RoleKind::Ctx, num_ctx, &ctx, ctx_gpus, env_of(&env, "ctx_worker_env_var")?),
    ];
    for (kind, count, server, gpus, role_env) in groups {
        let mut template = sized_role(kind, 0, gpus, gpus_per_node, 0);
        describe(&mut template, server, default_model)?;
        template.name = Some(run_name.clone());
        template.env = [worker_env.clone(), role_env].concat();
        for index in 0..count {
            let mut role = template.clone();
            role.role = format!("{}_{index}", if kind == RoleKind::Gen { "GEN" } else { "CTX" });
            role.index = index;
            role.first_node = plan.total_nodes;
            plan.total_nodes =
                plan.total_nodes.checked_add(role.nodes).ok_or_else(|| overflow("hardware"))?;
            plan.used_gpus =
                plan.used_gpus.checked_add(role.gpus).ok_or_else(|| overflow("hardware"))?;
            plan.roles.push(role);
        }
    }
    if plan.total_nodes == 0 {
        return Err(ConfigError::new("hardware", "the test has no servers to run"));
    }
    finish_totals(&mut plan)?;
    plan.clients =
        disagg_clients(&bench, "DISAGG_SERVER", gen_only, false, env_of(&env, "client_env_var")?)?;
    plan.router_extra = router_extra(root);
    Ok(plan)
}

const GEN_ONLY_NO_CONTEXT: &str = "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1";

/// The GEN workers' extra env of a gen_only run (incumbent.md §7.1, §7.3): no KV-transfer
/// overlap, and a request queue of min(cap, first concurrency), where cap is the gen
/// max_batch_size (× tp with attention DP; max_batch_size defaults to the concurrency).
fn gen_only_env(gen: &Section, bench: &Benchmark) -> Result<Vec<String>> {
    let concurrency = bench.concurrencies.first().copied().unwrap_or(1);
    let max_batch = gen.opt_u64("max_batch_size", 1)?.unwrap_or(concurrency);
    let cap = if gen.opt_bool("enable_attention_dp")?.unwrap_or(false) {
        max_batch.saturating_mul(u64::from(gen.opt_u32("tensor_parallel_size", 1)?.unwrap_or(1)))
    } else {
        max_batch
    };
    Ok(vec![
        "TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1".into(),
        format!("TLLM_BENCHMARK_REQ_QUEUES_SIZE={}", cap.min(concurrency)),
    ])
}

/// `server_config_extra` keys plus `ctx_router_config`, for the router's server_config.yaml.
fn router_extra(root: &Section) -> Option<serde_json::Value> {
    let mut extra = match root.get("server_config_extra").map(to_json) {
        Some(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    if let Some(router) = root.get("ctx_router_config").filter(|v| !v.is_null()) {
        extra.insert("ctx_router_config".into(), to_json(router));
    }
    (!extra.is_empty()).then(|| extra.into())
}

/// `--pack`: servers smaller than a node share nodes (first fit in role order) and get a
/// `gpu_offset`; larger ones keep whole nodes. Aggregated servers already share node 0.
fn pack(plan: &mut Plan) {
    let incumbent_gpus = plan.total_gpus;
    plan.packed = true;
    if plan.mode == Mode::Disagg {
        let per_node = plan.gpus_per_node;
        let mut total_nodes: u32 = 0;
        // Nodes shared by servers smaller than a node: (node index, free GPUs).
        let mut shared: Vec<(u32, u32)> = Vec::new();
        for role in &mut plan.roles {
            if role.gpus < per_node {
                if let Some(slot) = shared.iter_mut().find(|(_, free)| *free >= role.gpus) {
                    role.first_node = slot.0;
                    role.gpu_offset = Some(per_node - slot.1);
                    slot.1 -= role.gpus;
                } else {
                    role.first_node = total_nodes;
                    role.gpu_offset = Some(0);
                    shared.push((total_nodes, per_node - role.gpus));
                    total_nodes = total_nodes.saturating_add(1);
                }
            } else {
                role.first_node = total_nodes;
                role.gpu_offset = Some(0);
                total_nodes = total_nodes.saturating_add(role.nodes);
            }
        }
        plan.total_nodes = total_nodes;
        plan.total_gpus = plan.total_nodes.saturating_mul(per_node);
    } else {
        for role in &mut plan.roles {
            role.gpu_offset = Some(0);
        }
    }
    plan.gpus_saved = Some(incumbent_gpus.saturating_sub(plan.total_gpus));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(family: Family, mode: Option<BenchmarkMode>, select: &[&str]) -> TestRecord {
        TestRecord {
            id: "t".into(),
            family,
            benchmark_mode: mode,
            config: "cfg".into(),
            select: select.iter().map(|s| s.to_string()).collect(),
            upload: false,
            timeout_s: Some(5400),
            source: "list.txt:1".into(),
            prefix: None,
            list: None,
            group: None,
            condition: None,
            hints: Default::default(),
        }
    }

    fn plan_of(test: &TestRecord, yaml: &str, opts: Options) -> Result<Plan> {
        let value = perfline::yaml::parse(yaml, "cfg.yaml").unwrap();
        plan(test, &value, "cfg.yaml", opts)
    }

    fn disagg(mode: Option<BenchmarkMode>, yaml: &str) -> Result<Plan> {
        plan_of(&record(Family::Disagg, mode, &[]), yaml, Options::default())
    }

    /// (role, gpus, nodes, tasks_per_node, first_node) of each role.
    fn layout(plan: &Plan) -> Vec<(String, u32, u32, u32, u32)> {
        plan.roles
            .iter()
            .map(|r| (r.role.clone(), r.gpus, r.nodes, r.tasks_per_node, r.first_node))
            .collect()
    }

    fn row(
        role: &str,
        gpus: u32,
        nodes: u32,
        tasks: u32,
        first: u32,
    ) -> (String, u32, u32, u32, u32) {
        (role.to_string(), gpus, nodes, tasks, first)
    }

    const WORKED: &str = "
metadata: {model_name: m}
benchmark: {mode: e2e, multi_round: 8, benchmark_ratio: 0.8, concurrency_list: '1 4', input_length: 1024, output_length: 256, dataset_file: d.json}
hardware: {gpus_per_node: 4, num_ctx_servers: 1, num_gen_servers: 1}
environment: {worker_env_var: 'A=1', gen_worker_env_var: 'G=1', ctx_worker_env_var: 'C=1', client_env_var: 'K=1', server_env_var: 'R=1'}
worker_config:
  gen: {tensor_parallel_size: 8, pipeline_parallel_size: 1, max_batch_size: 16}
  ctx: {tensor_parallel_size: 1, cache_transceiver_config: {backend: UCX}}
";

    #[test]
    fn worked_example_three_nodes_twelve_gpus() {
        let p = disagg(Some(BenchmarkMode::E2e), WORKED).unwrap();
        assert_eq!(p.mode, Mode::Disagg);
        assert_eq!((p.gpus_per_node, p.total_nodes, p.total_gpus, p.used_gpus), (4, 3, 12, 9));
        assert_eq!((p.num_ctx_servers, p.num_gen_servers), (Some(1), Some(1)));
        assert_eq!(layout(&p), [row("GEN_0", 8, 2, 4, 0), row("CTX_0", 1, 1, 1, 2)]);
        let gen = &p.roles[0];
        assert_eq!(gen.name.as_deref(), Some("e2e-cfg"));
        assert_eq!(gen.model.as_deref(), Some("m"));
        assert_eq!(gen.env, ["A=1", "G=1"]);
        assert_eq!(p.roles[1].env, ["A=1", "C=1"]);
        assert_eq!(
            gen.llm_config,
            Some(
                serde_json::json!({"tensor_parallel_size": 8, "pipeline_parallel_size": 1, "max_batch_size": 16})
            )
        );
        let names: Vec<_> = p.clients.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["con1_iter8_isl1024_osl256", "con4_iter8_isl1024_osl256"]);
        let c = &p.clients[1];
        assert_eq!((c.concurrency, c.iterations, c.num_prompts), (4, 8, 32));
        assert_eq!(
            (c.random_range_ratio, c.warmup, c.server.as_str()),
            (0.8, false, "DISAGG_SERVER")
        );
        assert_eq!(c.dataset_file.as_deref(), Some("d.json"));
        assert_eq!(c.env, ["K=1"]);
        assert_eq!(p.timeout_s, Some(5400), "no slurm.timeout: the list's TIMEOUT");
        assert_eq!(p.router_extra, None);
        assert_eq!(p.router_env, ["R=1"]);
    }

    #[test]
    fn gen_only_runs_first_concurrency_once_with_warmup() {
        let p = disagg(Some(BenchmarkMode::GenOnly), WORKED).unwrap();
        assert_eq!(p.total_nodes, 3, "gen_only keeps the ctx servers");
        assert_eq!(p.clients.len(), 1);
        let c = &p.clients[0];
        assert_eq!((c.concurrency, c.iterations, c.num_prompts, c.warmup), (1, 1, 1, true));
        assert_eq!(p.roles[0].name.as_deref(), Some("gen_only-cfg"));
        assert_eq!(
            p.roles[0].env,
            [
                "A=1",
                "G=1",
                "TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1",
                "TLLM_BENCHMARK_REQ_QUEUES_SIZE=1"
            ]
        );
        assert_eq!(p.roles[1].env, ["A=1", "C=1"]);
        // Queue = min(max_batch_size × tp with attention DP, first concurrency).
        let yaml = WORKED
            .replace("'1 4'", "'512 4'")
            .replace("max_batch_size: 16", "max_batch_size: 16, enable_attention_dp: true");
        let p = disagg(Some(BenchmarkMode::GenOnly), &yaml).unwrap();
        assert_eq!(
            p.roles[0].env.last().map(String::as_str),
            Some("TLLM_BENCHMARK_REQ_QUEUES_SIZE=128")
        );
        let p =
            disagg(Some(BenchmarkMode::GenOnly), &yaml.replace(", enable_attention_dp: true", ""))
                .unwrap();
        assert_eq!(
            p.roles[0].env.last().map(String::as_str),
            Some("TLLM_BENCHMARK_REQ_QUEUES_SIZE=16")
        );
        assert_eq!(p.router_env, ["R=1"]);
    }

    #[test]
    fn gen_only_no_context_drops_ctx_servers() {
        let yaml = WORKED.replace("mode: e2e", "mode: gen_only_no_context");
        let p = disagg(Some(BenchmarkMode::GenOnly), &yaml).unwrap();
        assert_eq!((p.total_nodes, p.total_gpus, p.num_ctx_servers), (2, 8, Some(0)));
        assert_eq!(layout(&p), [row("GEN_0", 8, 2, 4, 0)]);
        assert_eq!(
            p.roles[0].env.last().map(String::as_str),
            Some("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1")
        );
        assert_eq!(p.router_env, ["R=1", "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1"]);
        // An e2e id keeps them whatever the config says.
        let p = disagg(Some(BenchmarkMode::E2e), &yaml).unwrap();
        assert_eq!(p.total_nodes, 3);
        // The old `disagg-CFG` form takes the mode from the config.
        let p = disagg(None, &yaml).unwrap();
        assert_eq!((p.total_nodes, p.clients.len()), (2, 1));
        let p = disagg(None, WORKED).unwrap();
        assert_eq!((p.total_nodes, p.clients.len()), (3, 2));
    }

    #[test]
    fn servers_never_share_nodes_and_gen_comes_first() {
        let yaml = WORKED
            .replace(
                "num_ctx_servers: 1, num_gen_servers: 1",
                "num_ctx_servers: 3, num_gen_servers: 2",
            )
            .replace(
                "tensor_parallel_size: 8, pipeline_parallel_size: 1",
                "tensor_parallel_size: 2, pipeline_parallel_size: 3",
            );
        let p = disagg(Some(BenchmarkMode::E2e), &yaml).unwrap();
        assert_eq!(
            layout(&p),
            [
                row("GEN_0", 6, 2, 4, 0),
                row("GEN_1", 6, 2, 4, 2),
                row("CTX_0", 1, 1, 1, 4),
                row("CTX_1", 1, 1, 1, 5),
                row("CTX_2", 1, 1, 1, 6)
            ]
        );
        assert_eq!((p.total_nodes, p.total_gpus, p.used_gpus), (7, 28, 15));
    }

    #[test]
    fn ctx_only_runs_the_ctx_worker_alone() {
        let yaml = WORKED.replace(
            "tensor_parallel_size: 1,",
            "tensor_parallel_size: 2, pipeline_parallel_size: 4, gpus_per_node: 99,",
        );
        let test = record(Family::Aggr, Some(BenchmarkMode::CtxOnly), &[]);
        let p = plan_of(&test, &yaml, Options::default()).unwrap();
        assert_eq!(p.mode, Mode::MultiAgg);
        assert_eq!((p.total_nodes, p.total_gpus, p.used_gpus), (2, 8, 8));
        assert_eq!(layout(&p), [row("SERVER_0", 8, 2, 4, 0)]);
        let role = &p.roles[0];
        assert_eq!(role.kind, RoleKind::Server);
        assert_eq!(role.name.as_deref(), Some("ctx_only-cfg"));
        assert_eq!(
            role.llm_config,
            Some(
                serde_json::json!({"tensor_parallel_size": 2, "pipeline_parallel_size": 4, "disable_overlap_scheduler": true})
            )
        );
        assert_eq!(role.env, ["A=1", "C=1"]);
        assert_eq!(p.num_ctx_servers, None);
        let c = &p.clients[0];
        assert_eq!(
            (c.server.as_str(), c.osl, c.iterations, c.dataset_file.as_deref()),
            ("SERVER_0", 1, 8, None)
        );
        assert_eq!(c.name, "con1_iter8_isl1024_osl1");
        // ctx_only uses only the ctx worker: a broken gen worker does not matter.
        let p = plan_of(&test, &yaml.replace("gen: {", "gen_unused: {"), Options::default());
        assert!(p.is_ok());
        let single = plan_of(&test, WORKED, Options::default()).unwrap();
        assert_eq!((single.mode, single.total_nodes, single.total_gpus), (Mode::SingleAgg, 1, 4));
    }

    const AGGR: &str = "
metadata: {model_name: base}
hardware: {gpus_per_node: 4}
environment: {server_env_var: 'OLD=1'}
server_configs:
  - name: small
    tensor_parallel_size: 2
    server_env_var: 'S=1'
    backend: pytorch
    concurrency: 8
    client_configs:
      - {name: c1, concurrency: 4, iterations: 3, isl: 128, osl: 64, random_range_ratio: 0.5, client_env_var: 'X=1'}
      - {concurrency: 2}
  - name: big
    model_name: other
    tensor_parallel_size: 4
    pipeline_parallel_size: 2
    client_configs: [{name: c2}]
  - name: explicit
    tensor_parallel_size: 8
    gpus: 3
    client_configs: [{name: c3}]
";

    fn aggr(select: &[&str]) -> Result<Plan> {
        plan_of(&record(Family::Aggr, None, select), AGGR, Options::default())
    }

    #[test]
    fn aggregated_is_sized_by_the_largest_selected_server() {
        let p = aggr(&[]).unwrap();
        assert_eq!(p.mode, Mode::MultiAgg);
        assert_eq!(
            layout(&p),
            [row("SERVER_0", 2, 1, 2, 0), row("SERVER_1", 8, 2, 4, 0), row("SERVER_2", 3, 1, 3, 0)]
        );
        assert_eq!((p.total_nodes, p.total_gpus, p.used_gpus), (2, 8, 8));
        let names: Vec<_> = p.roles.iter().map(|r| r.name.as_deref().unwrap_or("")).collect();
        assert_eq!(names, ["small", "big", "explicit"]);
        let small = &p.roles[0];
        assert_eq!(small.model.as_deref(), Some("base"));
        assert_eq!(p.roles[1].model.as_deref(), Some("other"));
        assert_eq!(small.env, ["OLD=1", "S=1"]);
        assert_eq!(small.backend.as_deref(), Some("pytorch"));
        assert_eq!(small.llm_config, Some(serde_json::json!({"tensor_parallel_size": 2})));
        let clients: Vec<_> =
            p.clients.iter().map(|c| (c.server.as_str(), c.name.as_str(), c.num_prompts)).collect();
        assert_eq!(
            clients,
            [
                ("SERVER_0", "c1", 12),
                ("SERVER_0", "con2_iter1_isl1024_osl1024", 2),
                ("SERVER_1", "c2", 1),
                ("SERVER_2", "c3", 1)
            ]
        );
        let c1 = &p.clients[0];
        assert_eq!(
            (c1.isl, c1.osl, c1.random_range_ratio, c1.env.as_slice()),
            (128, 64, 0.5, &["X=1".to_string()][..])
        );
    }

    #[test]
    fn select_keeps_config_order_and_sizes_by_the_selection() {
        let p = aggr(&["explicit", "small"]).unwrap();
        assert_eq!(layout(&p), [row("SERVER_0", 2, 1, 2, 0), row("SERVER_1", 3, 1, 3, 0)]);
        assert_eq!((p.mode, p.total_nodes, p.total_gpus, p.used_gpus), (Mode::SingleAgg, 1, 4, 3));
        let err = aggr(&["small", "nope"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "server_configs: no server config named \"nope\" (have: small, big, explicit)"
        );
    }

    #[test]
    fn anchors_and_merge_keys_are_resolved() {
        let yaml = "
hardware: {gpus_per_node: 4}
base: &base {tensor_parallel_size: 4, pipeline_parallel_size: 2, client_configs: [{}]}
server_configs:
  - name: a
    <<: *base
    pipeline_parallel_size: 3
  - name: b
    <<: *base
";
        let p = plan_of(&record(Family::Aggr, None, &[]), yaml, Options::default()).unwrap();
        assert_eq!(layout(&p), [row("SERVER_0", 12, 3, 4, 0), row("SERVER_1", 8, 2, 4, 0)]);
        assert_eq!(p.total_nodes, 3);
    }

    #[test]
    fn pack_shares_nodes_first_fit_in_role_order() {
        let yaml = WORKED
            .replace(
                "num_ctx_servers: 1, num_gen_servers: 1",
                "num_ctx_servers: 5, num_gen_servers: 1",
            )
            .replace("tensor_parallel_size: 1,", "tensor_parallel_size: 2,")
            .replace(
                "tensor_parallel_size: 8, pipeline_parallel_size: 1",
                "tensor_parallel_size: 6",
            );
        let test = record(Family::Disagg, Some(BenchmarkMode::E2e), &[]);
        let whole = plan_of(&test, &yaml, Options::default()).unwrap();
        assert_eq!((whole.total_nodes, whole.total_gpus), (7, 28));
        let p = plan_of(&test, &yaml, Options { pack: true }).unwrap();
        let placed: Vec<_> =
            p.roles.iter().map(|r| (r.role.as_str(), r.first_node, r.gpu_offset)).collect();
        assert_eq!(
            placed,
            [
                ("GEN_0", 0, Some(0)),
                ("CTX_0", 2, Some(0)),
                ("CTX_1", 2, Some(2)),
                ("CTX_2", 3, Some(0)),
                ("CTX_3", 3, Some(2)),
                ("CTX_4", 4, Some(0))
            ]
        );
        assert_eq!((p.total_nodes, p.total_gpus, p.packed, p.gpus_saved), (5, 20, true, Some(8)));
        assert_eq!(p.roles[1].nodes, 1);
        // Aggregated servers already share node 0: nothing to save.
        let p = plan_of(&record(Family::Aggr, None, &[]), AGGR, Options { pack: true }).unwrap();
        assert_eq!((p.total_nodes, p.gpus_saved), (2, Some(0)));
    }

    #[test]
    fn slurm_timeout_and_router_extra() {
        let yaml = format!(
            "{WORKED}slurm: {{timeout: 7200}}\nctx_router_config: {{type: conversation}}\nserver_config_extra: {{keep: 1}}\n"
        );
        let p = disagg(Some(BenchmarkMode::E2e), &yaml).unwrap();
        assert_eq!(p.timeout_s, Some(7200));
        assert_eq!(
            p.router_extra,
            Some(serde_json::json!({"keep": 1, "ctx_router_config": {"type": "conversation"}}))
        );
    }

    #[test]
    fn concurrency_list_forms() {
        for (list, want) in
            [("'8'", vec![8]), ("[2, 4]", vec![2, 4]), ("16", vec![16]), ("' 1  2 '", vec![1, 2])]
        {
            let yaml = WORKED.replace("'1 4'", list);
            let p = disagg(Some(BenchmarkMode::E2e), &yaml).unwrap();
            let got: Vec<u64> = p.clients.iter().map(|c| c.concurrency).collect();
            assert_eq!(got, want, "{list}");
        }
        for (list, reason) in [
            ("'1 x'", "\"x\" is not an integer ≥ 1"),
            ("''", "must list at least one concurrency"),
            ("[1, 0]", "must be an integer ≥ 1, got 0"),
        ] {
            let yaml = WORKED.replace("'1 4'", list);
            let err = disagg(Some(BenchmarkMode::E2e), &yaml).unwrap_err();
            assert_eq!(err.to_string(), format!("benchmark.concurrency_list: {reason}"));
        }
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (
                "tensor_parallel_size: 8,",
                "tensor_parallel_size: x,",
                "worker_config.gen.tensor_parallel_size: must be an integer ≥ 1, got \"x\"",
            ),
            (
                "tensor_parallel_size: 8,",
                "tensor_parallel_size: 0,",
                "worker_config.gen.tensor_parallel_size: must be an integer ≥ 1, got 0",
            ),
            (
                "pipeline_parallel_size: 1,",
                "pipeline_parallel_size: 1.5,",
                "worker_config.gen.pipeline_parallel_size: must be an integer ≥ 1, got 1.5",
            ),
            (
                "tensor_parallel_size: 1,",
                "gpus: 0, tensor_parallel_size: 1,",
                "worker_config.ctx.gpus: must be an integer ≥ 1, got 0",
            ),
            (
                "gpus_per_node: 4",
                "gpus_per_node: 0",
                "hardware.gpus_per_node: must be an integer ≥ 1, got 0",
            ),
            (
                "num_ctx_servers: 1",
                "num_ctx_servers: -1",
                "hardware.num_ctx_servers: must be an integer ≥ 0, got -1",
            ),
            (
                "num_gen_servers: 1",
                "num_gen_servers: '1'",
                "hardware.num_gen_servers: must be an integer ≥ 0, got \"1\"",
            ),
            ("hardware:", "hw:", "hardware: required section is missing"),
            ("  ctx:", "  ctxx:", "worker_config.ctx: required section is missing"),
            ("'K=1'", "'K'", "environment.client_env_var: \"K\" is not a NAME=VALUE word"),
            (
                "benchmark_ratio: 0.8",
                "benchmark_ratio: 2",
                "benchmark.benchmark_ratio: must be a number between 0 and 1, got 2",
            ),
        ];
        for (from, to, want) in cases {
            let yaml = WORKED.replacen(from, to, 1);
            assert_ne!(yaml, WORKED, "{from}");
            let err = disagg(Some(BenchmarkMode::E2e), &yaml).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
        let zero = WORKED.replace(
            "num_ctx_servers: 1, num_gen_servers: 1",
            "num_ctx_servers: 0, num_gen_servers: 0",
        );
        assert_eq!(
            disagg(Some(BenchmarkMode::E2e), &zero).unwrap_err().to_string(),
            "hardware: the test has no servers to run"
        );
        let huge = WORKED.replace("num_gen_servers: 1", "num_gen_servers: 4000000000");
        assert_eq!(
            disagg(Some(BenchmarkMode::E2e), &huge).unwrap_err().to_string(),
            "hardware: the test needs 8000000001 nodes, more than the 65536 nodecount plans for"
        );
        let overflow =
            WORKED.replace("pipeline_parallel_size: 1,", "pipeline_parallel_size: 4000000000,");
        assert_eq!(
            disagg(Some(BenchmarkMode::E2e), &overflow).unwrap_err().to_string(),
            "worker_config.gen: the GPU or node count is too large"
        );
        let no_mode = WORKED.replace("mode: e2e, ", "");
        assert_eq!(
            disagg(None, &no_mode).unwrap_err().to_string(),
            "benchmark.mode: required for an id without a benchmark mode"
        );
        let empty = "hardware: {gpus_per_node: 1}\nserver_configs: []\n";
        assert_eq!(
            plan_of(&record(Family::Aggr, None, &[]), empty, Options::default())
                .unwrap_err()
                .to_string(),
            "server_configs: must list at least one server config"
        );
        let bad_server = "hardware: {gpus_per_node: 1}\nserver_configs: [{name: a}, 5]\n";
        assert_eq!(
            plan_of(&record(Family::Aggr, None, &[]), bad_server, Options::default())
                .unwrap_err()
                .to_string(),
            "server_configs[1]: must be a mapping, got 5"
        );
        assert_eq!(
            plan_of(&record(Family::Aggr, None, &[]), "- 1\n", Options::default())
                .unwrap_err()
                .to_string(),
            "must be a mapping, got a list"
        );
    }

    #[test]
    fn servers_without_client_runs_and_absurd_runs_are_rejected() {
        let aggr = |yaml: &str| {
            plan_of(&record(Family::Aggr, None, &[]), yaml, Options::default())
                .map_err(|e| e.to_string())
        };
        let head = "hardware: {gpus_per_node: 8}\nserver_configs:\n  - name: s\n";
        let no_runs = "server_configs[0].client_configs: no client run: a server needs at least one client config (else it is benchmarked with no metric)";
        for clients in ["    client_configs: []\n", "    client_configs:\n", ""] {
            assert_eq!(aggr(&format!("{head}{clients}")).unwrap_err(), no_runs, "{clients:?}");
        }
        let runs = |c: &str, i: &str| {
            format!("{head}    client_configs:\n      - {{concurrency: 1}}\n      - {{concurrency: {c}, iterations: {i}}}\n")
        };
        assert_eq!(aggr(&runs("10000", "1000")).unwrap().clients[1].num_prompts, 10_000_000);
        assert_eq!(
            aggr(&runs("1000000", "1000000")).unwrap_err(),
            "server_configs[0].client_configs[1]: concurrency 1000000 × iterations 1000000 = 1000000000000 requests; at most 10000000 (num_prompts) allowed"
        );
        assert_eq!(
            aggr(&runs("18446744073709551615", "2")).unwrap_err(),
            "server_configs[0].client_configs[1]: concurrency 18446744073709551615 × iterations 2 = more than 2^64 requests; at most 10000000 (num_prompts) allowed"
        );
        let many = WORKED.replace("multi_round: 8", "multi_round: 100000000");
        assert_eq!(
            disagg(Some(BenchmarkMode::E2e), &many).unwrap_err().to_string(),
            "benchmark.concurrency_list: concurrency 1 × iterations 100000000 = 100000000 requests; at most 10000000 (num_prompts) allowed"
        );
    }

    #[test]
    fn unused_and_unknown_keys_pass_through() {
        // Junk where nothing reads it is not an error: only what the plan uses is validated.
        let yaml = format!("{WORKED}accuracy: [whatever]\nprofiling: 7\n");
        assert!(disagg(Some(BenchmarkMode::E2e), &yaml).is_ok());
    }

    #[test]
    fn shape_rejects_mismatched_family_and_mode() {
        let bad = record(Family::Disagg, Some(BenchmarkMode::CtxOnly), &[]);
        assert_eq!(
            Shape::of(&bad),
            Err("benchmark_mode ctx_only belongs to the aggr family".into())
        );
        let bad = record(Family::Aggr, Some(BenchmarkMode::GenOnly), &[]);
        assert_eq!(
            Shape::of(&bad),
            Err("benchmark_mode gen_only belongs to the disagg family".into())
        );
    }
}
