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
    if let Some(range) = test.condition.as_ref().and_then(|c| c.pointer("/ranges/system_gpu_count"))
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
        mismatches
            .push(format!("total_gpus is {total} but condition system_gpu_count gte is {min}"));
    }
    if let Some(max) = want.max_gpus.filter(|&m| total > m) {
        mismatches
            .push(format!("total_gpus is {total} but condition system_gpu_count lte is {max}"));
    }
    Check { ok: mismatches.is_empty(), expected: want, mismatches }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfline::wire::plan::PlannedTest;

    fn example() -> PlannedTest {
        serde_json::from_str(perfline::wire::plan::EXAMPLE).unwrap()
    }

    fn with_list(list: &str, gte: u64, lte: u64) -> TestRecord {
        let mut test = example().test;
        test.list = Some(list.into());
        test.condition =
            Some(serde_json::json!({"ranges": {"system_gpu_count": {"gte": gte, "lte": lte}}}));
        test
    }

    #[test]
    fn list_names_encode_counts() {
        let want = expected(&with_list("l0_gb200_multi_nodes_perf_sanity_node2_gpu8", 8, 8));
        let mut wanted = Expected {
            total_nodes: Some(2),
            total_gpus: Some(8),
            min_gpus: Some(8),
            max_gpus: Some(8),
            ..Expected::default()
        };
        assert_eq!(want, wanted);
        let want = expected(&with_list(
            "l0_gb200_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen1_node2_gpu8",
            12,
            12,
        ));
        wanted = Expected {
            total_nodes: Some(3),
            num_ctx_servers: Some(1),
            ctx_nodes: Some(1),
            ctx_gpus: Some(4),
            num_gen_servers: Some(1),
            gen_nodes: Some(2),
            gen_gpus: Some(8),
            min_gpus: Some(12),
            max_gpus: Some(12),
            ..Expected::default()
        };
        assert_eq!(want, wanted);
        let want = expected(&with_list("l0_gb200_multi_gpus_perf_sanity", 4, 4));
        assert_eq!((want.total_nodes, want.total_gpus), (Some(1), None));
        let want = expected(&with_list("l0_gb200_disagg_perf_sanity_1ctx_2gen", 4, 4));
        assert_eq!((want.num_ctx_servers, want.num_gen_servers), (Some(1), Some(2)));
        let want = expected(&with_list("l0_dgx_b200_perf_sanity_3_nodes", 4, 4));
        assert_eq!(want.total_nodes, Some(3));
        let mut bare = example().test;
        bare.list = None;
        bare.condition = None;
        assert_eq!(expected(&bare), Expected::default());
    }

    #[test]
    fn matching_plan_is_ok_and_mismatches_are_sentences() {
        // The example plan: GEN_0 8 GPUs / 2 nodes, CTX_0 1 GPU / 1 node, 3 nodes, 12 GPUs.
        let planned = example();
        let list = "l0_x_ctx1_node1_gpu1_gen1_node2_gpu8";
        let c = check(&planned.plan, expected(&with_list(list, 12, 12)), list);
        assert!(c.ok, "{:?}", c.mismatches);
        let list = "l0_x_ctx1_node1_gpu4_gen2_node2_gpu8";
        let c = check(&planned.plan, expected(&with_list(list, 16, 16)), list);
        assert!(!c.ok);
        assert_eq!(
            c.mismatches,
            [
                format!("total_nodes is 3 but list {list} expects 5"),
                format!("num_gen_servers is 1 but list {list} expects 2"),
                format!("GPUs per ctx server is 1 but list {list} expects 4"),
                "total_gpus is 12 but condition system_gpu_count gte is 16".to_string(),
            ]
        );
        let c = check(&planned.plan, expected(&with_list("l0_x_node2_gpu8", 1, 8)), "L");
        assert_eq!(
            c.mismatches,
            [
                "total_nodes is 3 but list L expects 2",
                "total_gpus is 12 but list L expects 8",
                "total_gpus is 12 but condition system_gpu_count lte is 8"
            ]
        );
    }
}
