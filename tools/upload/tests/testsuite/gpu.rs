//! GPU telemetry metrics (role's `gpu_*` summary) reach the store as `perf_result` rows with
//! their units, like every other metric.

use crate::common::upload;

#[test]
fn gpu_metrics_become_perf_result_rows_with_units() {
    let dir = tempfile::tempdir().unwrap();
    let record = serde_json::json!({
        "test_id": "aggr-cfg-srv", "server": "srv", "client": "con4", "concurrency": 4,
        "status": "ok", "reasons": [],
        "metrics": {"seq_throughput": 3.25, "gpu_util_mean": 65.0, "gpu_util_max": 100.0,
                    "gpu_mem_used_max": 90000.0, "gpu_power_mean": 400.0,
                    "gpu_energy_per_token": 1.5},
        "units": {"seq_throughput": "req/s", "gpu_util_mean": "%", "gpu_util_max": "%",
                  "gpu_mem_used_max": "MiB", "gpu_power_mean": "W",
                  "gpu_energy_per_token": "J/token"},
        "counts": {}
    });
    upload(dir.path())
        .args(["--run-key", "gpu1"])
        .write_stdin(format!("{record}\n"))
        .assert()
        .code(0);
    let conn = rusqlite::Connection::open(dir.path().join("perf.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT metric, value, unit, status FROM perf_result ORDER BY metric")
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} {} {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            "gpu_energy_per_token 1.5 J/token ok",
            "gpu_mem_used_max 90000 MiB ok",
            "gpu_power_mean 400 W ok",
            "gpu_util_max 100 % ok",
            "gpu_util_mean 65 % ok",
            "seq_throughput 3.25 req/s ok",
        ]
    );
}
