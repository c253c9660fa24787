//! `classify` output: one record per test of a test list.

use serde::{Deserialize, Serialize};

/// Which harness family a test belongs to (the id's prefix).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Aggr,
    Disagg,
}

/// The benchmark mode named in the id (`null` for plain aggregated tests and for the old
/// `disagg-CFG` form, where the mode comes from the config's `benchmark.mode`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum BenchmarkMode {
    E2e,
    GenOnly,
    CtxOnly,
}

/// Informational values parsed from a config name, and for aggregated tests from the one
/// selected server's name (never used for node counts). Sizes are in tokens (`1k` = 1024).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Hints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isl: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub osl: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    /// Aggregated tests: the parallelism token of the (single) selected server (`dep4`, `tp2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx_servers: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx_parallel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_servers: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_parallel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eplb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

impl Hints {
    pub fn is_empty(&self) -> bool {
        *self == Hints::default()
    }
}

/// One test of a list.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TestRecord {
    /// The test id as written between `test_e2e[` and `]` (or the bare id).
    pub id: String,
    pub family: Family,
    pub benchmark_mode: Option<BenchmarkMode>,
    /// Config base name, without `.yaml`.
    pub config: String,
    /// Selected aggregated `server_configs[].name`s; empty = all.
    pub select: Vec<String>,
    /// The id's prefix contains `upload`.
    pub upload: bool,
    /// ` TIMEOUT (N)` in minutes, as seconds.
    pub timeout_s: Option<u64>,
    /// `FILE:LINE` of the test in its list.
    pub source: String,
    /// The id's prefix as written: `aggr`, `aggr_upload`, `disagg`, `profiling`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Test-db YAML: the list name (`l0_gb200_multi_gpus_perf_sanity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// Grouped YAML: the group key (`disagg_3nodes_tests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Test-db YAML: the block's `condition`, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Hints::is_empty")]
    pub hints: Hints,
}

/// An example `classify` record.
pub const EXAMPLE: &str = r#"{"id":"disagg_upload-gen_only-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX","family":"disagg","benchmark_mode":"gen_only","config":"gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX","select":[],"upload":true,"timeout_s":7200,"source":"l0_gb200_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen1_node2_gpu8.yml:17","prefix":"disagg_upload","list":"l0_gb200_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen1_node2_gpu8","condition":{"ranges":{"system_gpu_count":{"gte":12,"lte":12}},"wildcards":{"gpu":["*gb200*"]},"terms":{"stage":"post_merge","backend":"pytorch"}},"hints":{"gpu":"gb200","isl":1024,"osl":1024,"concurrency":1024,"ctx_servers":1,"ctx_parallel":"dep4","gen_servers":1,"gen_parallel":"dep8","eplb":0,"mtp":0,"transport":"UCX"}}"#;

#[cfg(test)]
mod tests {
    #[test]
    fn example_round_trips() {
        super::super::assert_round_trip::<super::TestRecord>(super::EXAMPLE);
    }
}
