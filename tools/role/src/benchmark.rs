//! `BENCHMARK`: waits for the router (or each aggregated server) and its `/health`, runs every
//! client run of the plan, keeps each client log, turns it into metric records with
//! `parse-metrics`, writes the status file and the done flag so every role exits.
//! Also `FINALIZE`, run by the job script's failure trap: it makes sure a failed job still
//! leaves `failed` records naming the role and the cause.

use crate::job::Job;
use crate::process::{describe, render_with_raw, spawn, stop};
use crate::server::{health_url, TICK};
use perfline::cli::{Failure, Result};
use perfline::wire::metrics::{MetricRecord, Status};
use perfline::wire::plan::{ClientRun, RoleKind};
use perfline::Exit;
use perfline_slurm::wait::{tail_lines, Condition, Outcome, WaitSpec};
use perfline_slurm::Api;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ME: &str = "BENCHMARK";

pub fn run_benchmark(job: &Job) -> Result<Exit> {
    let only = std::env::var("PERFLINE_TARGET").ok().filter(|s| !s.is_empty());
    let groups = client_groups(&job.planned.plan.clients, only.as_deref());
    let mut all_ok = true;
    let mut reasons = Vec::new();
    if groups.is_empty() {
        // Nothing measured is not a success: a plan without client runs fails loudly.
        let why = format!(
            "{ME}: the plan has no client run{}",
            only.as_deref().map(|t| format!(" for {t}")).unwrap_or_default()
        );
        perfline::cli::say(format_args!("role: {why}"));
        write_status(job, "status.json", false, std::slice::from_ref(&why))?;
        return Ok(Exit::Failed);
    }
    // Every planned client run ends with a record: run, or failed with the reason it could not run.
    let mut stopped: Option<String> = None;
    for (server, clients) in &groups {
        // The incumbent's log name uses the server's index in the config, not the step's.
        let server_idx = job.role(server).map_or(0, |r| r.index as usize);
        if stopped.is_none() {
            if let Err(why) = wait_for_server(job, server).map(|_| ()) {
                reasons.push(why.clone());
                stopped = Some(why);
            }
        }
        for (client_idx, client) in clients.iter().enumerate() {
            if let Some(why) = &stopped {
                append_record(job, &failed_record(job, client, why, Vec::new()))?;
                all_ok = false;
                continue;
            }
            let endpoint = perfline_slurm::wait::read_addr(&job.addr_file(server))
                .map_err(|f| f.context(server))?;
            if let Some(why) = run_client(job, server_idx, client_idx, client, &endpoint)? {
                all_ok = false;
                reasons.push(why);
                stopped = peer_reason(job);
            }
        }
        if server != "DISAGG_SERVER" {
            let _ = perfline::fsutil::write_atomic(&job.server_done_file(server), b"done\n");
        }
    }
    // An aggregated benchmark step measures one server: the script moves on to the next one,
    // so only the step that measured everything (or the router) ends the job.
    let whole_job = only.as_deref().is_none_or(|t| t == "DISAGG_SERVER");
    let status_name = match only.as_deref() {
        Some(t) if !whole_job => format!("status.{t}.json"),
        _ => "status.json".to_string(),
    };
    write_status(job, &status_name, all_ok, &reasons)?;
    if whole_job {
        perfline::fsutil::write_atomic(&job.done_file(), b"Done\n")?;
    }
    Ok(if all_ok { Exit::Ok } else { Exit::Failed })
}

/// `FINALIZE`: when the benchmark did not finish, writes a failed record per client run with
/// the failed roles' reasons and log tails, and the status file. Idempotent.
pub fn finalize(job: &Job) -> Result<Exit> {
    let (why, tail) = peer_failure(job)
        .unwrap_or_else(|| ("the job ended before the benchmark finished".into(), Vec::new()));
    let done = recorded_clients(job);
    let missing: Vec<&ClientRun> = job
        .planned
        .plan
        .clients
        .iter()
        .filter(|c| !done.contains(&(c.server.clone(), c.name.clone())))
        .collect();
    for client in &missing {
        append_record(job, &failed_record(job, client, &why, tail.clone()))?;
    }
    if !missing.is_empty() || !job.results.join("status.json").exists() {
        write_status(job, "status.json", false, &[why])?;
    }
    Ok(Exit::Ok)
}

/// Client runs grouped by target server, in plan order (optionally only one server).
fn client_groups<'a>(
    clients: &'a [ClientRun],
    only: Option<&str>,
) -> Vec<(String, Vec<&'a ClientRun>)> {
    let mut groups: Vec<(String, Vec<&ClientRun>)> = Vec::new();
    for c in clients.iter().filter(|c| only.is_none_or(|o| o == c.server)) {
        match groups.iter_mut().find(|(s, _)| *s == c.server) {
            Some((_, list)) => list.push(c),
            None => groups.push((c.server.clone(), vec![c])),
        }
    }
    groups
}

/// Waits for `server`'s address and `/health` = 200; returns `host:port`.
fn wait_for_server(job: &Job, server: &str) -> std::result::Result<(String, u16), String> {
    let addr = job.addr_file(server);
    let wait = |condition: Condition| {
        let spec = WaitSpec {
            conditions: vec![condition],
            watches: job.peer_watches(ME),
            timeout: job.ready_timeout.min(job.remaining()),
            interval: TICK,
        };
        match perfline_slurm::wait::wait(&spec, &mut |_| {}) {
            Outcome::Ready { .. } => Ok(()),
            Outcome::TimedOut { pending, .. } => Err(format!(
                "{server} not ready within {}s: {}",
                spec.timeout.as_secs(),
                pending.join("; ")
            )),
            Outcome::PeerFailed { reason, .. } => Err(peer_reason(job).unwrap_or(reason)),
        }
    };
    wait(Condition::FileHasContent(addr.clone()))?;
    let (host, port) = perfline_slurm::wait::read_addr(&addr).map_err(|f| f.message)?;
    wait(Condition::Http200(health_url(&host, port)))?;
    Ok((host, port))
}

/// Runs one client; `Some(reason)` when its record is failed.
fn run_client(
    job: &Job,
    server_idx: usize,
    client_idx: usize,
    client: &ClientRun,
    (host, port): &(String, u16),
) -> Result<Option<String>> {
    let log = job.results.join(format!("trtllm-benchmark.{server_idx}.{client_idx}.log"));
    // A rerun of the step must not parse the previous run's result block.
    let _ = std::fs::remove_file(&log);
    let (model, tokenizer) = model_of(job, &client.server);
    let template = client_template(job, client)?;
    let flavour = (job.api, is_bench(template));
    let args = client_args((model, tokenizer), client, host, *port, flavour);
    let mut values = BTreeMap::from([
        ("bin", job.bin.display().to_string()),
        ("host", host.clone()),
        ("port", port.to_string()),
        ("model", model.to_string()),
    ]);
    values.insert("job_dir", job.dir.display().to_string());
    // For templates that spell the client's flags out (a profile scaling a client down).
    values.insert("tokenizer", tokenizer.to_string());
    values.insert("concurrency", client.concurrency.to_string());
    if let Some(path) = client.dataset_path.as_ref().or(client.dataset_file.as_ref()) {
        values.insert("dataset_path", path.clone());
    }
    let joined = perfline::shell::join(&args).map_err(Failure::data)?;
    let command = render_with_raw(template, &values, &[("client_args", &joined)])?;
    perfline::cli::say(format_args!("role: {ME}: {} → {command}", client.name));
    let started_ms = crate::telemetry::now_ms();
    let mut child = spawn(&command, &client.env, &log)?;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Ok(status);
        }
        if let Some(why) = peer_reason(job) {
            stop(&mut child, Duration::from_secs(1));
            break Err(why);
        }
        if Instant::now() >= job.deadline {
            stop(&mut child, Duration::from_secs(1));
            break Err("job deadline passed during the client run".to_string());
        }
        std::thread::sleep(TICK);
    };
    match status {
        Err(why) => {
            append_record(job, &failed_record(job, client, &why, tail_lines(&log, 20)))?;
            Ok(Some(why))
        }
        Ok(status) => {
            let code = status.code().unwrap_or(-1);
            if status.code().is_none() {
                perfline::cli::say(format_args!("role: {ME}: client {}", describe(status)));
            }
            parse_metrics(job, client, code, &log, (started_ms, crate::telemetry::now_ms()))
        }
    }
}

/// Runs `parse-metrics` on a client log and appends its records; `Some(reason)` when failed.
fn parse_metrics(
    job: &Job,
    client: &ClientRun,
    exit_code: i32,
    log: &Path,
    span_ms: (u64, u64),
) -> Result<Option<String>> {
    let mut cmd = Command::new(job.bin.join("parse-metrics"));
    cmd.args([
        "--test-id",
        job.id(),
        "--server",
        &server_name(job, &client.server),
        "--client",
        &client.name,
    ]);
    cmd.args(["--concurrency", &client.concurrency.to_string(), "--isl", &client.isl.to_string()]);
    cmd.args(["--osl", &client.osl.to_string(), "--exit-code", &exit_code.to_string()]);
    if let Some(a) = &job.attempt {
        cmd.args(["--attempt", a]);
    }
    cmd.arg(log);
    let out = cmd.output().map_err(|e| Failure::io(job.bin.join("parse-metrics").display(), &e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let records: Vec<MetricRecord> =
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    if records.is_empty() {
        let why = format!(
            "parse-metrics produced no record ({}): {}",
            describe(out.status),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        append_record(job, &failed_record(job, client, &why, tail_lines(log, 20)))?;
        return Ok(Some(why));
    }
    let mut failed = None;
    let any_failed = records.iter().any(|r| r.status == Status::Failed);
    let peer = if any_failed { peer_reason_after_failure(job) } else { None };
    let server = server_name(job, &client.server);
    let gpu = crate::telemetry::client_run_samples(job, client, &server, span_ms);
    for mut r in records {
        if r.status == Status::Ok {
            crate::telemetry::add_metrics(&mut r, &gpu);
        }
        // A failed run names the role that failed: a failed peer (the likely cause), else the
        // client itself.
        if r.status == Status::Failed {
            r.reasons.push(match &peer {
                Some(why) => format!("peer failed: {why}"),
                None => format!(
                    "{ME}: client {} against {} failed (log {})",
                    client.name,
                    client.server,
                    log.display()
                ),
            });
        }
        append_record(job, &r)?;
        if r.status == Status::Failed {
            failed = Some(format!("{}: {}", client.name, r.reasons.join("; ")));
        }
    }
    Ok(failed)
}

/// The command template of a client run: the profile's `clients` entry (or the built-in
/// `agentx`) for an alternative client with a trace, else `commands.client`. launch refused
/// plans naming a client the profile cannot run; a plan edited since is a config error.
fn client_template<'a>(job: &'a Job, client: &ClientRun) -> Result<&'a str> {
    match (&client.benchmark_client, trace_of(client)) {
        (Some(name), Some(_)) => {
            perfline_slurm::client_command(&job.clients, name).ok_or_else(|| {
                Failure::config(format!(
                    "benchmark_client {name:?} (client {}): perfline cannot run this client; map it under `clients:` in the cluster profile",
                    client.name
                ))
            })
        }
        _ => Ok(&job.commands.client),
    }
}

/// The trace an alternative client replays (launch resolved it), if it has one.
fn trace_of(client: &ClientRun) -> Option<&str> {
    client.benchmark_client.as_ref()?;
    client.dataset_path.as_deref().or(client.dataset_file.as_deref()).filter(|p| !p.is_empty())
}

/// The client template runs perfline's `bench` (its first word is `bench` or `…/bench`).
fn is_bench(template: &str) -> bool {
    template.split_whitespace().next().is_some_and(|w| w == "bench" || w.ends_with("/bench"))
}

/// The client's flags, as the incumbent passes them to benchmark_serving (`--model` is the id
/// the server serves, `--tokenizer` the model's path), adapted to the profile's server flavour
/// `(api, bench)`: an `openai-strict` server takes no `ignore_eos` and no token-id prompts, so
/// `--ignore-eos`, `--random-ids` and `--tokenize-on-client` are left out (the client then
/// sends text prompts; bench makes them of exact length with `--tokenizer`). `--api NAME` is
/// added for perfline's `bench` only, and only for a flavour other than the default `trtllm`
/// (benchmark_serving does not know the flag).
fn client_args(
    (model, tokenizer): (&str, &str),
    c: &ClientRun,
    host: &str,
    port: u16,
    flavour: (Api, bool),
) -> Vec<String> {
    let (api, bench) = flavour;
    let strict = api == Api::OpenaiStrict;
    let mut a: Vec<String> =
        vec!["--model".into(), model.into(), "--tokenizer".into(), tokenizer.into()];
    if trace_of(c).is_none() {
        a.extend(["--num-prompts".into(), c.num_prompts.to_string()]);
    }
    a.extend([
        "--max-concurrency".into(),
        c.concurrency.to_string(),
        "--percentile-metrics".into(),
        "ttft,tpot,itl,e2el".into(),
        "--ignore-eos".into(),
    ]);
    if !c.warmup {
        a.push("--no-test-input".into());
    }
    // launch resolved a relative dataset_file under the profile's models_root.
    match c.dataset_path.as_ref().or(c.dataset_file.as_ref()) {
        // An alternative client (agentx) replays its trace; the run's length is the trace's
        // and the client's duration (AGENTX_DURATION), not a prompt count.
        Some(path) if trace_of(c).is_some() => {
            a.extend([
                "--dataset-name".into(),
                "mooncake".into(),
                "--dataset-path".into(),
                path.clone(),
            ]);
        }
        Some(path) if !path.is_empty() => {
            a.extend([
                "--dataset-name".into(),
                "trtllm_custom".into(),
                "--dataset-path".into(),
                path.clone(),
            ]);
        }
        _ => {
            a.extend([
                "--dataset-name".into(),
                "random".into(),
                "--random-ids".into(),
                "--tokenize-on-client".into(),
            ]);
            a.extend([
                "--random-input-len".into(),
                c.isl.to_string(),
                "--random-output-len".into(),
                c.osl.to_string(),
            ]);
            a.extend(["--random-range-ratio".into(), c.random_range_ratio.to_string()]);
        }
    }
    a.extend(["--backend".into(), c.backend.clone()]);
    if c.use_chat_template {
        a.push("--use-chat-template".into());
    }
    if !c.streaming {
        a.push("--non-streaming".into());
    }
    a.extend(["--host".into(), host.into(), "--port".into(), port.to_string()]);
    if strict {
        a.retain(|f| {
            !["--ignore-eos", "--random-ids", "--tokenize-on-client"].contains(&f.as_str())
        });
    }
    if bench && api != Api::Trtllm {
        a.extend(["--api".into(), api.name().into()]);
    }
    a
}

/// The model id a server role serves and the model's path (disagg: the gen servers'), as
/// launch resolved them from the profile; the config's name when nothing was resolved.
fn model_of<'a>(job: &'a Job, server: &str) -> (&'a str, &'a str) {
    let roles = &job.planned.plan.roles;
    let role = if server == "DISAGG_SERVER" {
        roles.iter().find(|r| r.kind == RoleKind::Gen).or_else(|| roles.first())
    } else {
        job.role(server)
    };
    let name = role.and_then(|r| r.model.as_deref().or(r.name.as_deref())).unwrap_or("model");
    let path = role.and_then(|r| r.model_path.as_deref()).unwrap_or(name);
    (role.and_then(|r| r.served_model.as_deref()).unwrap_or(path), path)
}

/// The server's name in records: the aggregated server_config name, or the disagg `{mode}-{config}`.
fn server_name(job: &Job, server: &str) -> String {
    let roles = &job.planned.plan.roles;
    let role = if server == "DISAGG_SERVER" {
        roles.iter().find(|r| r.kind != RoleKind::Server)
    } else {
        job.role(server)
    };
    role.and_then(|r| r.name.clone()).unwrap_or_else(|| server.to_string())
}

fn failed_record(job: &Job, client: &ClientRun, why: &str, log_tail: Vec<String>) -> MetricRecord {
    MetricRecord {
        attempt: job.attempt.clone(),
        test_id: job.id().to_string(),
        server: Some(server_name(job, &client.server)),
        client: Some(client.name.clone()),
        concurrency: Some(client.concurrency),
        isl: Some(client.isl),
        osl: Some(client.osl),
        status: Status::Failed,
        reasons: vec![why.to_string()],
        metrics: BTreeMap::new(),
        units: BTreeMap::new(),
        counts: Default::default(),
        source: None,
        log_tail,
        context: BTreeMap::new(),
    }
}

fn metrics_file(job: &Job) -> PathBuf {
    job.results.join("metrics.jsonl")
}

/// Appends a record unless one for the same (server, client) is already there: BENCHMARK and
/// the failure trap's FINALIZE may race, and a run must be recorded once. The check and the
/// append happen under an exclusive lock on the file.
fn append_record(job: &Job, record: &MetricRecord) -> Result<()> {
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    let path = metrics_file(job);
    let mut record = record.clone();
    if record.attempt.is_none() {
        record.attempt = job.attempt.clone();
    }
    let mut line = serde_json::to_string(&record).map_err(|e| Failure::software(e.to_string()))?;
    line.push('\n');
    let io = |e: std::io::Error| Failure::io(path.display(), &e);
    let mut f =
        std::fs::OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(io)?;
    // SAFETY: flock on a descriptor we own; released when `f` is closed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    let mut existing = String::new();
    f.rewind().map_err(io)?;
    f.read_to_string(&mut existing).map_err(io)?;
    let same_run = |r: &MetricRecord| r.server == record.server && r.client == record.client;
    if existing
        .lines()
        .filter_map(|l| serde_json::from_str::<MetricRecord>(l).ok())
        .any(|r| same_run(&r))
    {
        return Ok(());
    }
    f.write_all(line.as_bytes()).map_err(io)
}

/// (server name, client name) of the records already written.
fn recorded_clients(job: &Job) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(metrics_file(job)).unwrap_or_default();
    let names: BTreeMap<String, String> = job
        .planned
        .plan
        .clients
        .iter()
        .map(|c| (server_name(job, &c.server), c.server.clone()))
        .collect();
    text.lines()
        .filter_map(|l| serde_json::from_str::<MetricRecord>(l).ok())
        .filter_map(|r| Some((names.get(r.server.as_deref()?)?.clone(), r.client?)))
        .collect()
}

/// The first peer to fail (perfline_slurm::coord's `first.failed`; later markers are usually roles
/// stopping because of it): its reason (first marker line) and its log tail.
fn peer_failure(job: &Job) -> Option<(String, Vec<String>)> {
    let p = perfline_slurm::coord::first_failed(&job.coord, &job.peer_markers(ME))?;
    let lines = tail_lines(&p, 40);
    let why = lines.first().cloned().unwrap_or_else(|| format!("{} appeared", p.display()));
    Some((why, lines.into_iter().skip(1).collect()))
}

/// After a failed client run, a peer's failure report may still be on its way (a role notices
/// its server's death within one tick): wait briefly for it, since it is the likely cause.
fn peer_reason_after_failure(job: &Job) -> Option<String> {
    let until = Instant::now() + PEER_REPORT_GRACE;
    loop {
        if let Some(why) = peer_reason(job) {
            return Some(why);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(TICK);
    }
}

/// How long a failed client run waits for a peer's failure report.
const PEER_REPORT_GRACE: Duration = Duration::from_secs(1);

fn peer_reason(job: &Job) -> Option<String> {
    peer_failure(job).map(|(why, _)| why)
}

/// Writes a status file (`results/NAME`): the test id, `ok` or `failed`, and the reasons.
fn write_status(job: &Job, name: &str, ok: bool, reasons: &[String]) -> Result<()> {
    let status = serde_json::json!({
        "id": job.id(),
        "status": if ok { "ok" } else { "failed" },
        "reasons": reasons,
    });
    perfline::fsutil::write_atomic(&job.results.join(name), format!("{status}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(server: &str, name: &str) -> ClientRun {
        ClientRun {
            server: server.into(),
            name: name.into(),
            concurrency: 4,
            iterations: 2,
            num_prompts: 8,
            isl: 128,
            osl: 32,
            random_range_ratio: 0.0,
            backend: "openai".into(),
            streaming: true,
            use_chat_template: false,
            dataset_file: None,
            dataset_path: None,
            warmup: false,
            use_nv_sa_benchmark: false,
            benchmark_client: None,
            env: vec![],
        }
    }

    #[test]
    fn groups_clients_by_server_in_order() {
        let cs = [client("SERVER_0", "a"), client("SERVER_1", "b"), client("SERVER_0", "c")];
        let g = client_groups(&cs, None);
        let names: Vec<(String, Vec<&str>)> = g
            .iter()
            .map(|(s, v)| (s.clone(), v.iter().map(|c| c.name.as_str()).collect()))
            .collect();
        assert_eq!(
            names,
            vec![("SERVER_0".into(), vec!["a", "c"]), ("SERVER_1".into(), vec!["b"])]
        );
        assert_eq!(client_groups(&cs, Some("SERVER_1")).len(), 1);
    }

    #[test]
    fn client_args_follow_the_incumbent() {
        let args = client_args(("m", "m"), &client("SERVER_0", "a"), "h", 9, (Api::Trtllm, true));
        assert_eq!(
            args.join(" "),
            "--model m --tokenizer m --num-prompts 8 --max-concurrency 4 --percentile-metrics ttft,tpot,itl,e2el \
             --ignore-eos --no-test-input --dataset-name random --random-ids --tokenize-on-client \
             --random-input-len 128 --random-output-len 32 --random-range-ratio 0 --backend openai --host h --port 9"
        );
        let mut c = client("SERVER_0", "a");
        c.dataset_file = Some("d.json".into());
        c.streaming = false;
        c.warmup = true;
        let args = client_args(("m", "m"), &c, "h", 9, (Api::Trtllm, false)).join(" ");
        assert!(args.contains("--dataset-name trtllm_custom --dataset-path d.json"), "{args}");
        assert!(args.contains("--non-streaming") && !args.contains("--no-test-input"), "{args}");
        // The served id and the path, and the resolved dataset path, as launch wrote them.
        c.dataset_path = Some("/models/d.json".into());
        let args = client_args(("served", "/models/m"), &c, "h", 9, (Api::Trtllm, true)).join(" ");
        assert!(args.starts_with("--model served --tokenizer /models/m "), "{args}");
        assert!(args.contains("--dataset-path /models/d.json"), "{args}");
    }

    #[test]
    fn agentx_replays_its_trace_with_bench_in_agentic_mode() {
        let mut c = client("DISAGG_SERVER", "con4");
        c.benchmark_client = Some("agentx".into());
        c.dataset_file = Some("trace".into());
        c.dataset_path = Some("/models/trace.jsonl".into());
        assert_eq!(
            client_args(("m", "/p/m"), &c, "h", 9, (Api::Trtllm, true)).join(" "),
            "--model m --tokenizer /p/m --max-concurrency 4 --percentile-metrics ttft,tpot,itl,e2el \
             --ignore-eos --no-test-input --dataset-name mooncake --dataset-path /models/trace.jsonl \
             --backend openai --host h --port 9"
        );
        let job_clients = BTreeMap::new();
        assert_eq!(
            perfline_slurm::client_command(&job_clients, "agentx"),
            Some("{bin}/bench --agentic {client_args}")
        );
        // A ctx_only run of an agentx config has no trace: the standard client and flags.
        c.dataset_file = None;
        c.dataset_path = None;
        assert!(trace_of(&c).is_none());
        let args = client_args(("m", "m"), &c, "h", 9, (Api::Trtllm, true)).join(" ");
        assert!(args.contains("--num-prompts 8 ") && args.contains("--dataset-name random"));
    }

    #[test]
    fn strict_servers_get_no_extensions_and_bench_gets_the_flavour() {
        let c = client("SERVER_0", "a");
        assert_eq!(
            client_args(("m", "m"), &c, "h", 9, (Api::OpenaiStrict, true)).join(" "),
            "--model m --tokenizer m --num-prompts 8 --max-concurrency 4 --percentile-metrics ttft,tpot,itl,e2el \
             --no-test-input --dataset-name random \
             --random-input-len 128 --random-output-len 32 --random-range-ratio 0 --backend openai --host h --port 9 \
             --api openai-strict"
        );
        // benchmark_serving does not know --api: the flags are dropped, none is added.
        let incumbent = client_args(("m", "m"), &c, "h", 9, (Api::OpenaiStrict, false)).join(" ");
        assert!(!incumbent.contains("--api") && !incumbent.contains("--ignore-eos"), "{incumbent}");
        let vllm = client_args(("m", "m"), &c, "h", 9, (Api::Vllm, true)).join(" ");
        assert!(vllm.contains("--ignore-eos --no-test-input") && vllm.ends_with(" --api vllm"));
        assert!(is_bench("{bin}/bench {client_args}") && is_bench("bench {client_args}"));
        assert!(!is_bench("python -m tensorrt_llm.serve.scripts.benchmark_serving {client_args}"));
    }
}
