//! Records shared by launch's CLI and Slurm tests.
#![allow(dead_code)]

use serde_json::{json, Value};

/// The README's disagg example: GEN_0 on 2 nodes × 4 tasks, CTX_0 on the third node.
pub fn disagg() -> Value {
    serde_json::from_str(perfline::wire::plan::EXAMPLE).expect("example plan")
}

/// An aggregated plan with one server per entry of `servers`: (nodes, tasks_per_node).
pub fn aggregated(id: &str, servers: &[(u32, u32)]) -> Value {
    let total_nodes = servers.iter().map(|s| s.0).max().unwrap_or(1);
    let roles: Vec<Value> = servers
        .iter()
        .enumerate()
        .map(|(i, (nodes, tpn))| {
            json!({"role": format!("SERVER_{i}"), "kind": "server", "index": i, "name": format!("srv{i}"),
                   "gpus": nodes * tpn, "nodes": nodes, "tasks_per_node": tpn, "first_node": 0})
        })
        .collect();
    json!({
        "id": id, "family": "aggr", "benchmark_mode": null, "config": "cfg", "select": [],
        "upload": false, "timeout_s": 600, "source": "list.txt:1",
        "mode": if total_nodes > 1 { "multi-agg" } else { "single-agg" },
        "config_path": "cfg.yaml", "gpus_per_node": 4, "total_nodes": total_nodes,
        "total_gpus": total_nodes * 4, "used_gpus": 4, "roles": roles, "clients": []
    })
}

/// One JSON line per record.
pub fn lines(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

/// The records a tool printed.
pub fn records(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout is JSON Lines"))
        .collect()
}

/// A role command that records where each task ran: results/ROLE.PROCID holds the node name.
pub const WHERE_TEMPLATE: &str =
    r#"echo "$SLURMD_NODENAME" > "$PERFLINE_JOB_DIR/results/{role}.$SLURM_PROCID""#;
