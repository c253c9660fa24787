//! `nodecount` output: a test record plus its allocation plan, computed from the config YAML.
//! nodecount is the one place that interprets configs: everything later stages need from a
//! config (servers, their LLM-API settings, client runs, env vars) is in the plan.

use super::test::TestRecord;
use serde::{Deserialize, Serialize};

/// How the test runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    SingleAgg,
    MultiAgg,
    Disagg,
}

/// What kind of server a role is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    /// Disaggregated context (prefill) server `CTX_i`.
    Ctx,
    /// Disaggregated generation (decode) server `GEN_i`.
    Gen,
    /// Aggregated server `SERVER_i` (also the ctx worker of a `ctx_only` test).
    Server,
}

/// One server of the plan and its place in the allocation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Role {
    /// `GEN_0`, `CTX_1`, `SERVER_0`, …
    pub role: String,
    pub kind: RoleKind,
    pub index: u32,
    /// Aggregated: the `server_configs[].name`; disaggregated: `{mode}-{config}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// GPUs the server uses: tp × pp × cp, or an explicit `gpus`.
    pub gpus: u32,
    /// Whole nodes it takes: ceil(gpus / gpus_per_node).
    pub nodes: u32,
    /// Ranks per node: min(gpus, gpus_per_node).
    pub tasks_per_node: u32,
    /// Index of its first node in `scontrol show hostnames` order.
    pub first_node: u32,
    /// `--pack` only: first GPU on its (shared) node, for `CUDA_VISIBLE_DEVICES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_offset: Option<u32>,
    /// Model name (`metadata.model_name` or the server's `model_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Added by launch/mkprefix from the cluster profile (`perfline_slurm::models`): the path
    /// the server loads (`{model}`) and the clients' `--tokenizer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_path: Option<String>,
    /// Added by launch/mkprefix: the model id clients request (`--model`), the path or the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_model: Option<String>,
    /// Added by launch/mkprefix unless the profile turns GPU isolation off: the server's GPUs
    /// on each of its nodes, as indices into the GPUs its step sees (`CUDA_VISIBLE_DEVICES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_visible_devices: Option<Vec<u32>>,
    /// `trtllm-serve --backend` when the config names one (e.g. `_autodeploy`; default pytorch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// A repo-relative LLM-API config file the server config points to (autodeploy configs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_llm_api_config_path: Option<String>,
    /// The LLM-API settings for `--config extra-llm-api-config.yml` (harness keys removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_config: Option<serde_json::Value>,
    /// Environment for the server process, `K=V` words (worker_env_var + role-specific).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// One benchmark-client run (a client_config, or one value of a disagg `concurrency_list`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ClientRun {
    /// The role whose endpoint it targets: `SERVER_i` or `DISAGG_SERVER`.
    pub server: String,
    pub name: String,
    pub concurrency: u64,
    pub iterations: u64,
    /// concurrency × iterations.
    pub num_prompts: u64,
    pub isl: u64,
    pub osl: u64,
    pub random_range_ratio: f64,
    pub backend: String,
    pub streaming: bool,
    #[serde(default)]
    pub use_chat_template: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_file: Option<String>,
    /// Added by launch/mkprefix: `dataset_file` resolved (relative ones under `models_root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_path: Option<String>,
    #[serde(default)]
    pub warmup: bool,
    /// Use the SemiAnalysis `benchmark_serving.py` client (`use_nv_sa_benchmark`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub use_nv_sa_benchmark: bool,
    /// An alternative client named by the config (`benchmark.benchmark_client`, e.g. `agentx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark_client: Option<String>,
    /// `K=V` words for the client process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// The allocation plan nodecount adds to a test record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Plan {
    pub mode: Mode,
    /// The config file the plan was computed from.
    pub config_path: String,
    pub gpus_per_node: u32,
    pub total_nodes: u32,
    /// total_nodes × gpus_per_node: what the allocation holds.
    pub total_gpus: u32,
    /// Σ role GPUs: what the servers use.
    pub used_gpus: u32,
    /// Disaggregated only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_ctx_servers: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_gen_servers: Option<u32>,
    /// Aggregated: `SERVER_i` in config order; disaggregated: `GEN_i` then `CTX_i`.
    pub roles: Vec<Role>,
    /// Client runs, in order.
    #[serde(default)]
    pub clients: Vec<ClientRun>,
    /// Seconds the whole test may take (config `slurm.timeout`, else the list's TIMEOUT).
    /// On the wire `job_timeout_s`: the flattened test record already has a `timeout_s`.
    #[serde(rename = "job_timeout_s", default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Disaggregated: environment of the router (`DISAGG_SERVER`) process, `K=V` words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub router_env: Vec<String>,
    /// Disaggregated: extra keys merged into the router's server_config.yaml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_extra: Option<serde_json::Value>,
    /// `--pack` was used.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub packed: bool,
    /// `--pack`: GPUs saved against the incumbent's whole-node plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_saved: Option<u32>,
    /// `--check`: the plan compared with the counts the test list encodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
}

/// Counts a test list encodes in its name (`…_node2_gpu8`, `…_ctx1_node1_gpu4_gen1_node2_gpu8`,
/// `…_multi_gpus_…`) and its condition (`ranges.system_gpu_count`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_nodes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_gpus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_ctx_servers: Option<u32>,
    /// Nodes and GPUs of each ctx server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx_nodes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx_gpus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_gen_servers: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_nodes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_gpus: Option<u32>,
    /// `condition.ranges.system_gpu_count.gte` / `.lte`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_gpus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gpus: Option<u64>,
}

/// The result of `nodecount --check`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub expected: Expected,
    /// One sentence per disagreement, e.g. `total_nodes 3, list expects 2`.
    #[serde(default)]
    pub mismatches: Vec<String>,
}

/// A test record with its plan: nodecount's output line.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PlannedTest {
    #[serde(flatten)]
    pub test: TestRecord,
    #[serde(flatten)]
    pub plan: Plan,
}

/// An example `nodecount` record (the README's worked example: ctx TP1 ×1, gen TP8 ×1, 4 GPUs/node).
pub const EXAMPLE: &str = r#"{"id":"disagg-e2e-cfg_ctx1_tp1_gen1_tp8","family":"disagg","benchmark_mode":"e2e","config":"cfg_ctx1_tp1_gen1_tp8","select":[],"upload":false,"timeout_s":7200,"source":"list.txt:1","mode":"disagg","config_path":"configs/cfg_ctx1_tp1_gen1_tp8.yaml","gpus_per_node":4,"total_nodes":3,"total_gpus":12,"used_gpus":9,"num_ctx_servers":1,"num_gen_servers":1,"roles":[{"role":"GEN_0","kind":"gen","index":0,"name":"e2e-cfg_ctx1_tp1_gen1_tp8","gpus":8,"nodes":2,"tasks_per_node":4,"first_node":0,"model":"m","llm_config":{"tensor_parallel_size":8},"env":["A=1"]},{"role":"CTX_0","kind":"ctx","index":0,"name":"e2e-cfg_ctx1_tp1_gen1_tp8","gpus":1,"nodes":1,"tasks_per_node":1,"first_node":2,"model":"m","llm_config":{"tensor_parallel_size":1}}],"clients":[{"server":"DISAGG_SERVER","name":"con1_iter8_isl1024_osl1024","concurrency":1,"iterations":8,"num_prompts":8,"isl":1024,"osl":1024,"random_range_ratio":0.8,"backend":"openai","streaming":true,"use_chat_template":false,"warmup":false}],"job_timeout_s":3600,"check":{"ok":true,"expected":{"total_nodes":3,"total_gpus":12},"mismatches":[]}}"#;

#[cfg(test)]
mod tests {
    #[test]
    fn example_round_trips() {
        super::super::assert_round_trip::<super::PlannedTest>(super::EXAMPLE);
    }
}
