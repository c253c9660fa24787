//! What `launch` (and `mkprefix`) add to each plan from the cluster profile before anything is
//! submitted: the model path each server loads, the model id clients request, dataset paths,
//! and each server's GPUs (`CUDA_VISIBLE_DEVICES`). The rules (docs/profiles.md):
//!
//! - model name in the profile's `models` map → its entry (a relative entry under
//!   `models_root` when one is set, else as written, e.g. a hub id);
//! - else an absolute path → as is;
//! - else, when `models` has entries → an error naming the config and the field: the map is
//!   authoritative (a bare name reaching the server was issue 11's failure);
//! - else `models_root/name` when `models_root` is set, else the name as is (no map, no root:
//!   today's behaviour);
//! - a relative `dataset_file` → under `models_root` when set (the incumbent's
//!   `LLM_MODELS_ROOT/dataset_file`); an alternative client (`benchmark_client`, e.g. `agentx`)
//!   must be one the profile can run ([`check_client`]), and its `dataset_file` names a trace,
//!   resolved the same way as the file NAME or NAME.jsonl, and one that is missing where the
//!   launch host can tell is an error ([`trace_path`]);
//! - with `check_model_paths: true` every resolved path must exist on the launch host.
//!
//! GPUs: a server role gets `gpu_offset..` (`--pack`) or `0..`, one per rank on its node
//! (`tasks_per_node`), unless the profile says `gpu_isolation: false`. The role runner maps
//! these indices onto the GPUs its step sees (role's `gpus::visible_devices`).

use crate::{Profile, ServedModel};
use perfline::cli::{Failure, Result};
use perfline::wire::plan::{PlannedTest, Role};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::Path;

/// Environment variable that replaces the profile's `models_root` (the incumbent's).
pub const MODELS_ROOT_ENV: &str = "LLM_MODELS_ROOT";

/// The path a server loads for config model name `name`, by the rules above (without the
/// existence check).
pub fn model_path(name: &str, profile: &Profile) -> std::result::Result<String, String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if let Some(entry) = profile.models.get(name) {
        return Ok(under_root(entry, profile));
    }
    if name.starts_with('/') {
        return Ok(name.to_string());
    }
    if !profile.models.is_empty() {
        return Err(format!(
            "not in the models map of cluster profile {} ({} entries): add `{name}: PATH` under `models:` or use an absolute path",
            profile.name,
            profile.models.len()
        ));
    }
    Ok(under_root(name, profile))
}

/// The path a client reads for `dataset_file` (None when empty).
pub fn dataset_path(file: &str, profile: &Profile) -> Option<String> {
    (!file.is_empty()).then(|| under_root(file, profile))
}

/// Checks that perfline can run alternative client `name` with `profile` (its `clients` map,
/// or the built-in `agentx`).
pub fn check_client(name: &str, profile: &Profile) -> std::result::Result<(), String> {
    if profile.client_command(name).is_some() {
        return Ok(());
    }
    Err(format!(
        "perfline cannot run this client (cluster profile {} runs: {}); map it to a command under `clients:` in the profile",
        profile.name,
        profile.client_names().join(", ")
    ))
}

/// The trace an alternative client (`agentx`) replays: `dataset_file` resolved like any
/// dataset (under `models_root` when relative), as the file NAME or NAME.jsonl, whichever
/// exists on the launch host (NAME first). When neither does, it is an error if the profile
/// checks paths, or if the launch host sees the directory the trace should be in: the models
/// root (or an absolute name's directory), or any directory when the clients run here
/// (`local`: `launch --local` without a container; a relative name without a root is then
/// relative to the working directory). Otherwise NAME as resolved: the nodes' files may not
/// be visible here.
pub fn trace_path(
    file: &str,
    profile: &Profile,
    local: bool,
) -> std::result::Result<String, String> {
    if file.is_empty() {
        return Err("empty: this client replays a trace (a JSONL file NAME or NAME.jsonl under models_root)".into());
    }
    let base = under_root(file, profile);
    let mut candidates = vec![base.clone()];
    if !base.ends_with(".jsonl") {
        candidates.push(format!("{base}.jsonl"));
    }
    if let Some(found) = candidates.iter().find(|c| Path::new(c.as_str()).is_file()) {
        return Ok(found.clone());
    }
    let visible =
        local || (base.starts_with('/') && Path::new(&base).parent().is_some_and(Path::is_dir));
    if visible || profile.check_model_paths {
        let root = match &profile.models_root {
            Some(root) => format!("models_root {root}"),
            None => format!("cluster profile {} has no models_root", profile.name),
        };
        return Err(format!("no such trace: {} ({root})", candidates.join(" or ")));
    }
    Ok(base)
}

fn under_root(path: &str, profile: &Profile) -> String {
    match &profile.models_root {
        Some(root) if !path.starts_with('/') => format!("{}/{path}", root.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

/// A server role's GPUs on each of its nodes: `gpu_offset..` (`--pack`) or `0..`, one per rank.
pub fn role_gpus(role: &Role, gpus_per_node: u32) -> std::result::Result<Vec<u32>, String> {
    let first = role.gpu_offset.unwrap_or(0);
    let count = role.tasks_per_node.min(role.gpus).max(1);
    let end = first.checked_add(count).filter(|&e| e <= gpus_per_node).ok_or_else(|| {
        format!(
            "GPUs {first}..{} do not fit a node of {gpus_per_node} GPUs",
            first.saturating_add(count)
        )
    })?;
    Ok((first..end).collect())
}

/// Whether `record` is a test record (classify's output: an id and a family, none of
/// nodecount's plan fields), the mistake of a pipe that skipped nodecount.
pub fn is_test_record(record: &Value) -> bool {
    record.get("family").is_some()
        && record.get("id").is_some()
        && ["mode", "total_nodes", "roles"].iter().all(|k| record.get(k).is_none())
}

/// The error for a record that does not deserialize as a planned record, with the next step
/// when it is classify's output.
pub fn not_planned(record: &Value, err: &dyn std::fmt::Display) -> Failure {
    if is_test_record(record) {
        let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
        Failure::data(format!(
            "{id}: a test record (classify's), not a planned record: pipe through nodecount first (classify LIST | nodecount --config-dir DIR | launch)"
        ))
    } else {
        Failure::data(format!("not a planned record: {err}"))
    }
}

/// Resolves a planned record (a JSON object, whatever else it holds) against `profile` and
/// writes the results into it: each role's `model_path`, `served_model` and
/// `cuda_visible_devices`, each client's `dataset_path`; returns the resolved plan. Idempotent
/// (it reads only the config's values). Errors name the config and the field and are
/// configuration errors; on error nothing is written.
pub fn resolve_record(record: &mut Value, profile: &Profile) -> Result<PlannedTest> {
    resolve_record_for(record, profile, false)
}

/// [`resolve_record`]; `local`: the clients run on this host (`launch --local`), so a
/// relative trace name without a models root must exist here ([`trace_path`]).
pub fn resolve_record_for(
    record: &mut Value,
    profile: &Profile,
    local: bool,
) -> Result<PlannedTest> {
    let planned = PlannedTest::deserialize(&*record).map_err(|e| not_planned(record, &e))?;
    resolve_into(record, &planned, (profile, local))?;
    PlannedTest::deserialize(&*record)
        .map_err(|e| Failure::software(format!("resolved record: {e}")))
}

fn resolve_into(
    record: &mut Value,
    planned: &PlannedTest,
    (profile, local): (&Profile, bool),
) -> Result<()> {
    let plan = &planned.plan;
    let config = &plan.config_path;
    let exists = |path: &str| !profile.check_model_paths || Path::new(path).exists();
    let mut roles = Vec::with_capacity(plan.roles.len());
    for role in &plan.roles {
        let mut fields = serde_json::Map::new();
        if let Some(name) = &role.model {
            let path = model_path(name, profile).map_err(|why| {
                Failure::config(format!("{config}: model_name {name:?} ({}): {why}", role.role))
            })?;
            if !exists(&path) {
                return Err(Failure::config(format!(
                    "{config}: model_name {name:?} ({}): {path} does not exist (check_model_paths: true)",
                    role.role
                )));
            }
            let served = match profile.served_model {
                ServedModel::Path => path.clone(),
                ServedModel::Name => name.clone(),
            };
            fields.insert("model_path".into(), json!(path));
            fields.insert("served_model".into(), json!(served));
        }
        if profile.gpu_isolation {
            let gpus = role_gpus(role, plan.gpus_per_node)
                .map_err(|why| Failure::data(format!("{config}: {}: {why}", role.role)))?;
            fields.insert("cuda_visible_devices".into(), json!(gpus));
        }
        roles.push(fields);
    }
    let mut clients = Vec::with_capacity(plan.clients.len());
    for client in &plan.clients {
        let file = client.dataset_file.as_deref().unwrap_or_default();
        let path = match &client.benchmark_client {
            Some(name) => {
                check_client(name, profile).map_err(|why| {
                    Failure::config(format!(
                        "{config}: benchmark.benchmark_client {name:?} (client {}): {why}",
                        client.name
                    ))
                })?;
                if file.is_empty() {
                    // A ctx_only run has no trace (nodecount drops it): the standard client runs.
                    clients.push(None);
                    continue;
                }
                let trace = trace_path(file, profile, local).map_err(|why| {
                    Failure::config(format!(
                        "{config}: benchmark.dataset_file {file:?} (client {}, benchmark_client {name}): {why}",
                        client.name
                    ))
                })?;
                Some(trace)
            }
            None => dataset_path(file, profile),
        };
        if let Some(p) = path.as_deref().filter(|p| !exists(p)) {
            return Err(Failure::config(format!(
                "{config}: dataset_file {file:?} (client {}): {p} does not exist (check_model_paths: true)",
                client.name
            )));
        }
        clients.push(path);
    }
    let obj = record.as_object_mut().ok_or_else(|| Failure::data("record is not a JSON object"))?;
    for (key, list) in [("roles", roles.len()), ("clients", clients.len())] {
        if obj.get(key).and_then(Value::as_array).map_or(0, Vec::len) != list {
            return Err(Failure::data(format!("{key}: not the list the plan holds")));
        }
    }
    if let Some(Value::Array(rs)) = obj.get_mut("roles") {
        for (r, fields) in rs.iter_mut().zip(roles) {
            if let Some(r) = r.as_object_mut() {
                for key in ["model_path", "served_model", "cuda_visible_devices"] {
                    r.remove(key);
                }
                r.extend(fields);
            }
        }
    }
    if let Some(Value::Array(cs)) = obj.get_mut("clients") {
        for (c, path) in cs.iter_mut().zip(clients) {
            if let Some(c) = c.as_object_mut() {
                c.remove("dataset_path");
                if let Some(p) = path {
                    c.insert("dataset_path".into(), json!(p));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfline::exit::Exit;

    fn profile(yaml: &str) -> Profile {
        Profile::parse(yaml, "p.yaml").unwrap()
    }

    const MAP: &str = "models_root: /lustre/models/\nmodels:\n  deepseek_r1_0528_fp4_v2: DeepSeek-R1/DeepSeek-R1-0528-FP4-v2/\n  abs: /opt/abs\n  hub: Qwen/Qwen2.5-0.5B\n";

    #[test]
    fn model_names_resolve_by_the_documented_rules() {
        // No map, no root: verbatim (today's behaviour).
        let bare = Profile::default();
        assert_eq!(model_path("tiny_sim", &bare).unwrap(), "tiny_sim");
        // A root and no map: under the root.
        let root = profile("models_root: /models\n");
        assert_eq!(model_path("tiny_sim", &root).unwrap(), "/models/tiny_sim");
        assert_eq!(model_path("/abs/m", &root).unwrap(), "/abs/m");
        // A map: its entries (relative ones under the root), absolute names as they are, and
        // nothing else.
        let map = profile(MAP);
        assert_eq!(
            model_path("deepseek_r1_0528_fp4_v2", &map).unwrap(),
            "/lustre/models/DeepSeek-R1/DeepSeek-R1-0528-FP4-v2/"
        );
        assert_eq!(model_path("abs", &map).unwrap(), "/opt/abs");
        assert_eq!(model_path("/given/path", &map).unwrap(), "/given/path");
        assert_eq!(
            model_path("k2", &map).unwrap_err(),
            "not in the models map of cluster profile p (3 entries): add `k2: PATH` under `models:` or use an absolute path"
        );
        // A map without a root: relative entries as written (a hub id).
        let hub = profile("models: {hub: Qwen/Qwen2.5-0.5B}\n");
        assert_eq!(model_path("hub", &hub).unwrap(), "Qwen/Qwen2.5-0.5B");
        assert_eq!(model_path("", &hub).unwrap_err(), "empty");
    }

    #[test]
    fn datasets_resolve_under_the_root() {
        let map = profile(MAP);
        assert_eq!(
            dataset_path("datasets/x.json", &map).unwrap(),
            "/lustre/models/datasets/x.json"
        );
        assert_eq!(dataset_path("/d/x.json", &map).unwrap(), "/d/x.json");
        assert_eq!(dataset_path("", &map), None);
        assert_eq!(
            dataset_path("datasets/x.json", &Profile::default()).unwrap(),
            "datasets/x.json"
        );
    }

    #[test]
    fn profiles_check_the_new_keys() {
        let e = Profile::parse("models_root: models\n", "p.yaml").unwrap_err();
        assert_eq!(e.exit, Exit::Config);
        assert_eq!(e.message, "p.yaml: models_root: \"models\" is not an absolute path");
        let e = Profile::parse("models: {a: \"x\\ny\"}\n", "p.yaml").unwrap_err();
        assert!(e.message.starts_with("p.yaml: models.a: "), "{}", e.message);
        let e = Profile::parse("served_model: alias\n", "p.yaml").unwrap_err();
        assert!(
            e.message.starts_with("p.yaml: served_model: unknown variant `alias`"),
            "{}",
            e.message
        );
        let e = Profile::parse("models_root: /m\nmodels: {a: \"x/../../etc\"}\n", "p.yaml")
            .unwrap_err();
        assert_eq!(
            e.message,
            "p.yaml: models.a: \"x/../../etc\" leaves models_root (a `..` component); give an absolute path"
        );
        // A wrong type or value names its field.
        let e = Profile::parse("name: x\ngpus_per_node: -1\n", "p.yaml").unwrap_err();
        assert_eq!(
            (e.exit, e.message.as_str()),
            (Exit::Config, "p.yaml: gpus_per_node: invalid value: integer `-1`, expected u32")
        );
        assert!(Profile::default().gpu_isolation);
        assert!(!profile("gpu_isolation: false\n").gpu_isolation);
    }

    fn role(gpus: u32, tasks_per_node: u32, offset: Option<u32>) -> Role {
        let mut r: Role = serde_json::from_value(json!({"role": "SERVER_0", "kind": "server",
            "index": 0, "gpus": gpus, "nodes": 1, "tasks_per_node": tasks_per_node, "first_node": 0}))
        .unwrap();
        r.gpu_offset = offset;
        r
    }

    #[test]
    fn each_server_gets_its_gpus() {
        assert_eq!(role_gpus(&role(1, 1, None), 4).unwrap(), [0]);
        assert_eq!(role_gpus(&role(2, 2, None), 4).unwrap(), [0, 1]);
        // A multi-node server: each node's share.
        assert_eq!(role_gpus(&role(8, 4, None), 4).unwrap(), [0, 1, 2, 3]);
        // --pack: the offset range on the shared node.
        assert_eq!(role_gpus(&role(2, 2, Some(2)), 4).unwrap(), [2, 3]);
        assert_eq!(
            role_gpus(&role(2, 2, Some(3)), 4).unwrap_err(),
            "GPUs 3..5 do not fit a node of 4 GPUs"
        );
    }

    fn record() -> Value {
        let mut v: Value = serde_json::from_str(perfline::wire::plan::EXAMPLE).unwrap();
        v["clients"][0]["dataset_file"] = json!("datasets/d.json");
        v["roles"][0]["future"] = json!("kept");
        v
    }

    #[test]
    fn records_get_the_resolved_values() {
        let mut v = record();
        let prof = profile("models_root: /m\nmodels: {m: M-1}\n");
        let back = resolve_record(&mut v, &prof).unwrap();
        assert_eq!(v["roles"][0]["model_path"], "/m/M-1");
        assert_eq!(v["roles"][0]["served_model"], "/m/M-1");
        assert_eq!(v["roles"][0]["cuda_visible_devices"], json!([0, 1, 2, 3]));
        assert_eq!(v["roles"][0]["future"], "kept");
        assert_eq!(v["roles"][1]["cuda_visible_devices"], json!([0]));
        assert_eq!(v["clients"][0]["dataset_path"], "/m/datasets/d.json");
        // Idempotent, and it round-trips through the wire types.
        let again = v.clone();
        resolve_record(&mut v, &prof).unwrap();
        assert_eq!(v, again);
        assert_eq!(back.plan.roles[0].model_path.as_deref(), Some("/m/M-1"));
        assert_eq!(back.plan.clients[0].dataset_path.as_deref(), Some("/m/datasets/d.json"));

        let named = profile("models: {m: /w}\nserved_model: name\ngpu_isolation: false\n");
        resolve_record(&mut v, &named).unwrap();
        assert_eq!(v["roles"][0]["model_path"], "/w");
        assert_eq!(v["roles"][0]["served_model"], "m");
        assert!(v["roles"][0].get("cuda_visible_devices").is_none());
        assert_eq!(v["clients"][0]["dataset_path"], "datasets/d.json");
    }

    #[test]
    fn unknown_models_and_missing_paths_name_the_config_and_field() {
        let mut v = record();
        let before = v.clone();
        let e = resolve_record(&mut v, &profile("models: {other: /o}\n")).unwrap_err();
        assert_eq!(e.exit, Exit::Config);
        assert_eq!(
            e.message,
            "configs/cfg_ctx1_tp1_gen1_tp8.yaml: model_name \"m\" (GEN_0): not in the models map of cluster profile p (1 entries): add `m: PATH` under `models:` or use an absolute path"
        );
        assert_eq!(v, before, "nothing written on error");

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let checked = format!("models_root: {root}\ncheck_model_paths: true\n");
        let e = resolve_record(&mut v, &profile(&checked)).unwrap_err();
        assert_eq!(
            e.message,
            format!("configs/cfg_ctx1_tp1_gen1_tp8.yaml: model_name \"m\" (GEN_0): {root}/m does not exist (check_model_paths: true)")
        );
        std::fs::create_dir(dir.path().join("m")).unwrap();
        let e = resolve_record(&mut v, &profile(&checked)).unwrap_err();
        assert_eq!(
            e.message,
            format!("configs/cfg_ctx1_tp1_gen1_tp8.yaml: dataset_file \"datasets/d.json\" (client con1_iter8_isl1024_osl1024): {root}/datasets/d.json does not exist (check_model_paths: true)")
        );
        std::fs::create_dir(dir.path().join("datasets")).unwrap();
        std::fs::write(dir.path().join("datasets/d.json"), "[]").unwrap();
        resolve_record(&mut v, &profile(&checked)).unwrap();
        assert_eq!(v["roles"][1]["model_path"], format!("{root}/m"));
    }

    fn agentx_record(client: &str, file: Option<&str>) -> Value {
        let mut v = record();
        v["clients"][0]["benchmark_client"] = json!(client);
        v["clients"][0]["dataset_file"] = json!(file);
        v
    }

    #[test]
    fn clients_perfline_cannot_run_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        std::fs::write(dir.path().join("trace.jsonl"), "").unwrap();
        let prof = profile(&format!("models_root: {root}\n"));
        let mut v = agentx_record("locust", Some("trace"));
        let before = v.clone();
        let e = resolve_record(&mut v, &prof).unwrap_err();
        assert_eq!(e.exit, Exit::Config);
        assert_eq!(
            e.message,
            "configs/cfg_ctx1_tp1_gen1_tp8.yaml: benchmark.benchmark_client \"locust\" (client con1_iter8_isl1024_osl1024): perfline cannot run this client (cluster profile p runs: agentx); map it to a command under `clients:` in the profile"
        );
        assert_eq!(v, before, "nothing written on error");
        // A profile may map it; agentx runs by default, and its trace resolves.
        let mapped = profile(&format!(
            "models_root: {root}\nclients: {{locust: \"locust {{client_args}}\"}}\n"
        ));
        assert_eq!(mapped.client_names(), ["agentx", "locust"]);
        resolve_record(&mut v, &mapped).unwrap();
        assert_eq!(v["clients"][0]["dataset_path"], format!("{root}/trace.jsonl"));
        let mut v = agentx_record("agentx", Some("trace"));
        resolve_record(&mut v, &prof).unwrap();
        assert_eq!(v["clients"][0]["dataset_path"], format!("{root}/trace.jsonl"));
        assert_eq!(prof.client_command("agentx"), Some(crate::DEFAULT_AGENTX_COMMAND));
        assert_eq!(prof.client_command("locust"), None);
        let e = Profile::parse("clients: {\"a b\": x}\n", "p.yaml").unwrap_err();
        assert!(e.message.starts_with("p.yaml: clients: \"a b\": "), "{}", e.message);
        let e = Profile::parse("clients: {a: \" \"}\n", "p.yaml").unwrap_err();
        assert_eq!(e.message, "p.yaml: clients.a: empty command");
    }

    #[test]
    fn traces_resolve_as_name_or_name_jsonl_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let prof = profile(&format!("models_root: {root}\n"));
        std::fs::write(dir.path().join("t.jsonl"), "").unwrap();
        std::fs::write(dir.path().join("plain"), "").unwrap();
        assert_eq!(trace_path("t", &prof, false).unwrap(), format!("{root}/t.jsonl"));
        assert_eq!(trace_path("t.jsonl", &prof, false).unwrap(), format!("{root}/t.jsonl"));
        assert_eq!(trace_path("plain", &prof, false).unwrap(), format!("{root}/plain"));
        // The root is visible here and holds neither: unresolvable, before launch.
        assert_eq!(
            trace_path("semianalysis_x", &prof, false).unwrap_err(),
            format!("no such trace: {root}/semianalysis_x or {root}/semianalysis_x.jsonl (models_root {root})")
        );
        let mut v = agentx_record("agentx", Some("semianalysis_x"));
        let e = resolve_record(&mut v, &prof).unwrap_err();
        assert_eq!(e.exit, Exit::Config);
        assert!(e.message.starts_with("configs/cfg_ctx1_tp1_gen1_tp8.yaml: benchmark.dataset_file \"semianalysis_x\" (client con1_iter8_isl1024_osl1024, benchmark_client agentx): no such trace: "), "{}", e.message);
        // No root: relative to the clients' working directory, known only when they run here.
        let e = trace_path("no_such_trace_here", &Profile::default(), true).unwrap_err();
        assert_eq!(e, "no such trace: no_such_trace_here or no_such_trace_here.jsonl (cluster profile default has no models_root)");
        assert_eq!(
            trace_path("no_such_trace_here", &Profile::default(), false).unwrap(),
            "no_such_trace_here"
        );
        let abs = format!("{root}/missing");
        assert!(trace_path(&abs, &Profile::default(), false)
            .unwrap_err()
            .starts_with("no such trace: "));
        // A root the launch host cannot see: as resolved, unless paths are checked.
        let away = profile("models_root: /nonexistent/perfline/models\n");
        assert_eq!(trace_path("t", &away, false).unwrap(), "/nonexistent/perfline/models/t");
        assert!(trace_path("t", &away, true).unwrap_err().starts_with("no such trace: "));
        let checked =
            profile("models_root: /nonexistent/perfline/models\ncheck_model_paths: true\n");
        assert!(trace_path("t", &checked, false).unwrap_err().starts_with("no such trace: "));
        assert!(trace_path("", &away, false).unwrap_err().starts_with("empty: "));
    }
}
