//! `--check`: compares a plan with the counts its test list encodes: the list name
//! (`…_node2_gpu8`, `…_ctx1_node1_gpu4_gen1_node2_gpu8`, `…_multi_gpus_…`, older `…_3_nodes`,
//! `…_1ctx_2gen`) and the block condition `ranges.system_gpu_count.{gte,lte}`.

use perfline::wire::plan::{Check, Expected, Plan, RoleKind};
use perfline::wire::test::TestRecord;
use regex::Regex;
use std::sync::LazyLock;

static CTX_GEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"_ctx(\d+)_node(\d+)_gpu(\d+)_gen(\d+)_node(\d+)_gpu(\d+)(?:_|$)").expect("valid")
});
static NODES_GPUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"_node(\d+)_gpu(\d+)(?:_|$)").expect("valid"));
static OLD_NODES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"_(\d+)_nodes(?:_|$)").expect("valid"));
static OLD_CTX_GEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"_(\d+)ctx_(\d+)gen(?:_|$)").expect("valid"));
static MULTI_GPUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"_multi_gpus(?:_|$)").expect("valid"));

/// Counts the record's list name and condition encode (all `None` when it has neither).
pub fn expected(test: &TestRecord) -> Expected {
    let mut want = Expected::default();
    if let Some(list) = test.list.as_deref() {
        let num = |caps: &regex::Captures, i: usize| {
            caps.get(i).and_then(|m| m.as_str().parse::<u32>().ok())
        };
        if let Some(c) = CTX_GEN.captures(list) {
            want.num_ctx_servers = num(&c, 1);
            want.ctx_nodes = num(&c, 2);
            want.ctx_gpus = num(&c, 3);
            want.num_gen_servers = num(&c, 4);
            want.gen_nodes = num(&c, 5);
            want.gen_gpus = num(&c, 6);
            want.total_nodes = (|| {
                let ctx = want.num_ctx_servers?.checked_mul(want.ctx_nodes?)?;
                ctx.checked_add(want.num_gen_servers?.checked_mul(want.gen_nodes?)?)
            })();
        } else if let Some(c) = NODES_GPUS.captures(list) {
            want.total_nodes = num(&c, 1);
            want.total_gpus = num(&c, 2);
        } else if let Some(c) = OLD_NODES.captures(list) {
            want.total_nodes = num(&c, 1);
        } else if MULTI_GPUS.is_match(list) {
            want.total_nodes = Some(1);
        }
        if let Some(c) = OLD_CTX_GEN.captures(list) {
            want.num_ctx_servers = num(&c, 1);
            want.num_gen_servers = num(&c, 2);
        }
    }
    if let Some(range) = test
        .condition
        .as_ref()
        .and_then(|c| c.pointer("/ranges/system_gpu_count"))
    {
        want.min_gpus = range.get("gte").and_then(serde_json::Value::as_u64);
        want.max_gpus = range.get("lte").and_then(serde_json::Value::as_u64);
    }
    want
}

/// Compares `plan` with `want`; each disagreement is one sentence.
pub fn check(plan: &Plan, want: Expected, list: &str) -> Check {
    let mut mismatches = Vec::new();
    let mut expect = |what: &str, got: u32, want: Option<u32>| {
        if let Some(want) = want.filter(|&w| w != got) {
            mismatches.push(format!("{what} is {got} but list {list} expects {want}"));
        }
    };
    expect("total_nodes", plan.total_nodes, want.total_nodes);
    expect("total_gpus", plan.total_gpus, want.total_gpus);
    expect("num_ctx_servers", plan.num_ctx_servers.unwrap_or(0), want.num_ctx_servers);
    expect("num_gen_servers", plan.num_gen_servers.unwrap_or(0), want.num_gen_servers);
    for (kind, nodes, gpus, label) in [
        (RoleKind::Ctx, want.ctx_nodes, want.ctx_gpus, "ctx"),
        (RoleKind::Gen, want.gen_nodes, want.gen_gpus, "gen"),
    ] {
        if let Some(role) = plan.roles.iter().find(|r| r.kind == kind) {
            expect(&format!("nodes per {label} server"), role.nodes, nodes);
            expect(&format!("GPUs per {label} server"), role.gpus, gpus);
        }
    }
    let total = u64::from(plan.total_gpus);
    if let Some(min) = want.min_gpus.filter(|&m| total < m) {
        mismatches.push(format!("total_gpus is {total} but condition system_gpu_count gte is {min}"));
    }
    if let Some(max) = want.max_gpus.filter(|&m| total > m) {
        mismatches.push(format!("total_gpus is {total} but condition system_gpu_count lte is {max}"));
    }
    Check { ok: mismatches.is_empty(), expected: want, mismatches }
}
