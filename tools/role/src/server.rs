//! Server roles: `CTX_i`, `GEN_i` and `SERVER_i` start the engine server, `DISAGG_SERVER`
//! starts the router once every worker has published its address. Each then stays until the
//! benchmark is done, watching its child: a dead or hung server ends the job in seconds.

use crate::job::{free_port, Job};
use crate::liveness::{Dead, Limits, Poller};
use crate::process::{describe, render, spawn, stop};
use perfline::cli::{Failure, Result};
use perfline::wire::plan::RoleKind;
use perfline::Exit;
use perfline_slurm::wait::{
    Condition, LogStart, Outcome, Poll, WaitSpec, Waiter, Watch, DEFAULT_ERROR_KEYWORDS,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// How often a role checks its child, its peers and the done flag.
pub const TICK: Duration = Duration::from_millis(100);
/// How long a server gets to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// `CTX_i`, `GEN_i`, `SERVER_i`.
pub fn run_worker(job: &Job, name: &str) -> Result<Exit> {
    let role = job.role(name).ok_or_else(|| {
        Failure::usage(format!("{name}: no such role in the plan of {}", job.id()))
    })?;
    // GPU telemetry: the first task on each node samples its GPUs (crate::telemetry).
    crate::telemetry::start_sampler(job, role, name);
    // Only rank 0 of a multi-task step serves HTTP; the other ranks wait with it.
    let rank = std::env::var("SLURM_PROCID").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    if rank != 0 {
        perfline::cli::say(format_args!("role: {name}: rank {rank} waits for the benchmark"));
        return Ok(wait_until_done(job, name));
    }
    let kind = match role.kind {
        RoleKind::Ctx => "ctx",
        RoleKind::Gen => "gen",
        RoleKind::Server => "aggr",
    };
    let label = role.name.clone().unwrap_or_else(|| name.to_string());
    let config = job.dir.join(format!("extra-llm-api-config.{kind}.{}.yml", file_safe(&label)));
    let llm = role.llm_config.clone().unwrap_or_else(|| serde_json::json!({}));
    let yaml = perfline::yaml::to_string(&llm);
    perfline::fsutil::write_atomic(&config, yaml.as_bytes())?;

    let port = free_port()?;
    let log = job.logs.join(format!("trtllm-serve.{name}.log"));
    let mut values = base_values(job, name, port);
    // launch resolved the model path and the served id from the profile (docs/profiles.md).
    let model_name = role.model.clone().unwrap_or_else(|| label.clone());
    let model = role.model_path.clone().unwrap_or_else(|| model_name.clone());
    values.insert("served_model", role.served_model.clone().unwrap_or_else(|| model.clone()));
    values.insert("model", model);
    values.insert("model_name", model_name);
    values.insert("config", config.display().to_string());
    let parallel = |key: &str| {
        role.llm_config.as_ref().and_then(|c| c.get(key)).and_then(|v| v.as_u64()).unwrap_or(1)
    };
    values.insert("tp", parallel("tensor_parallel_size").to_string());
    values.insert("pp", parallel("pipeline_parallel_size").to_string());
    values.insert("gpus", role.gpus.to_string());
    let command = render(&job.commands.server, &values)?;
    let mut env = role.env.clone();
    if let Some(gpus) = &role.cuda_visible_devices {
        // Exactly the role's GPUs, out of those the step sees (Slurm may have set the list).
        let inherited = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        match crate::gpus::visible_devices(gpus, inherited.as_deref()) {
            Ok(list) => env.push(format!("CUDA_VISIBLE_DEVICES={list}")),
            Err(why) => {
                job.mark_failed(name, &why, None);
                return Err(Failure::config(format!("{name}: {why}")));
            }
        }
    }
    match env.iter().find(|e| e.starts_with("CUDA_VISIBLE_DEVICES=")) {
        Some(gpus) => perfline::cli::say(format_args!("role: {name}: {gpus} {command}")),
        None => perfline::cli::say(format_args!("role: {name}: {command}")),
    }
    let from = log_start(&log);
    let child = spawn(&command, &env, &log)?;
    job.publish_addr(name, port)?;
    Ok(supervise(job, name, child, (&log, from), &health_url(&job.host, port)))
}

/// `DISAGG_SERVER`: waits for the workers' addresses, writes the router config, starts the router.
pub fn run_router(job: &Job) -> Result<Exit> {
    const ME: &str = "DISAGG_SERVER";
    let roles = &job.planned.plan.roles;
    let ctx: Vec<&str> =
        roles.iter().filter(|r| r.kind == RoleKind::Ctx).map(|r| r.role.as_str()).collect();
    let gen: Vec<&str> =
        roles.iter().filter(|r| r.kind == RoleKind::Gen).map(|r| r.role.as_str()).collect();
    let spec = WaitSpec {
        conditions: ctx
            .iter()
            .chain(&gen)
            .map(|r| Condition::FileHasContent(job.addr_file(r)))
            .collect(),
        watches: job.peer_watches(ME),
        timeout: job.ready_timeout,
        interval: TICK,
    };
    match perfline_slurm::wait::wait(&spec, &mut |_| {}) {
        Outcome::Ready { .. } => {}
        Outcome::TimedOut { pending, .. } => {
            let why = format!(
                "worker addresses missing after {}s: {}",
                job.ready_timeout.as_secs(),
                pending.join("; ")
            );
            job.mark_failed(ME, &why, None);
            return Ok(Exit::TempFail);
        }
        Outcome::PeerFailed { reason, .. } => {
            perfline::cli::say(format_args!("role: {ME}: peer failed: {reason}"));
            return Ok(Exit::PeerFailed);
        }
    }
    let urls = |names: &[&str]| -> Result<Vec<String>> {
        names
            .iter()
            .map(|r| {
                perfline_slurm::wait::read_addr(&job.addr_file(r)).map(|(h, p)| format!("{h}:{p}"))
            })
            .collect()
    };
    let port = free_port()?;
    let mut config = serde_json::json!({
        "hostname": job.host,
        "port": port,
        "backend": "pytorch",
        "context_servers": {"num_instances": ctx.len(), "urls": urls(&ctx)?},
        "generation_servers": {"num_instances": gen.len(), "urls": urls(&gen)?},
    });
    if let (Some(extra), Some(map)) =
        (job.planned.plan.router_extra.as_ref().and_then(|e| e.as_object()), config.as_object_mut())
    {
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
    }
    let config_path = job.dir.join("server_config.yaml");
    let yaml = perfline::yaml::to_string(&config);
    perfline::fsutil::write_atomic(&config_path, yaml.as_bytes())?;

    let log = job.logs.join("trtllm-serve.DISAGG_SERVER.log");
    let mut values = base_values(job, ME, port);
    values.insert("config", config_path.display().to_string());
    values.insert("timeout", job.ready_timeout.as_secs().to_string());
    let command = render(&job.commands.router, &values)?;
    perfline::cli::say(format_args!("role: {ME}: {command}"));
    let from = log_start(&log);
    let child = spawn(&command, &job.planned.plan.router_env, &log)?;
    job.publish_addr(ME, port)?;
    Ok(supervise(job, ME, child, (&log, from), &health_url(&job.host, port)))
}

fn base_values(job: &Job, role: &str, port: u16) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("host", job.host.clone()),
        ("port", port.to_string()),
        ("role", role.to_string()),
        ("job_dir", job.dir.display().to_string()),
        ("bin", job.bin.display().to_string()),
        ("addr_file", job.coord.join(format!("{role}.reported")).display().to_string()),
    ])
}

/// Where the server's log watch starts: the log's end before the server starts (a step
/// started again in the same attempt must not fail on its earlier run's lines).
fn log_start(log: &Path) -> LogStart {
    LogStart::Offset(perfline_slurm::wait::regular_file_len(log).unwrap_or(0))
}

pub fn health_url(host: &str, port: u16) -> String {
    format!("http://{host}:{port}/health")
}

/// Test ids and server names are checked ids; anything else is made file-safe.
pub(crate) fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_-.,+=".contains(c) { c } else { '_' })
        .collect()
}

/// Keeps a server running until the benchmark is done. Fails fast (marker + non-zero exit)
/// when the server dies, logs an error keyword or misses its ready deadline, or, once ready,
/// when its `/health` fails (crate::liveness: 3 bad answers, the router 7; or no answer and
/// no log growth for the profile's `hung_after`: hung, killed at once), and stops it quietly
/// when a peer failed or the job is done.
fn supervise(
    job: &Job,
    name: &str,
    mut child: Child,
    (log, from): (&Path, LogStart),
    health: &str,
) -> Exit {
    let ready_deadline = crate::job::deadline_after(job.ready_timeout);
    let keywords = DEFAULT_ERROR_KEYWORDS.iter().map(|k| k.to_string()).collect();
    let mut readiness = Some(Waiter::new(&WaitSpec {
        conditions: vec![Condition::Http200(health.to_string())],
        watches: vec![Watch::LogKeywords { path: log.to_path_buf(), keywords, from }],
        timeout: job.ready_timeout,
        interval: TICK,
    }));
    let peers = job.peer_markers(name);
    let started = Instant::now();
    // After ready: /health every second from a background thread (crate::liveness).
    let mut liveness: Option<Poller> = None;
    let limits = if name == "DISAGG_SERVER" {
        Limits::router(job.hung_after)
    } else {
        Limits::server(job.hung_after)
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let why = format!("server {} ({})", describe(status), log.display());
            perfline::cli::say(format_args!("role: {name}: {why}"));
            job.mark_failed(name, &why, Some(log));
            return Exit::Failed;
        }
        if job.done_file().exists() || job.server_done_file(name).exists() {
            stop(&mut child, STOP_GRACE);
            return Exit::Ok;
        }
        if let Some(peer) = peers.iter().find(|p| p.exists()) {
            perfline::cli::say(format_args!(
                "role: {name}: stopping, a peer failed: {}",
                peer.display()
            ));
            stop(&mut child, STOP_GRACE);
            return Exit::PeerFailed;
        }
        if let Some(waiter) = readiness.as_mut() {
            match waiter.poll(TICK) {
                Poll::Done(Outcome::Ready { .. }) => {
                    perfline::cli::say(format_args!(
                        "role: {name}: ready after {:.1}s",
                        started.elapsed().as_secs_f64()
                    ));
                    readiness = None;
                    liveness = Some(Poller::start(health, limits));
                }
                Poll::Done(Outcome::PeerFailed { reason, .. }) => {
                    job.mark_failed(name, &format!("server log: {reason}"), Some(log));
                    stop(&mut child, STOP_GRACE);
                    return Exit::Failed;
                }
                Poll::Done(Outcome::TimedOut { .. }) | Poll::Pending(_) => {
                    if Instant::now() >= ready_deadline {
                        let why = format!(
                            "server not ready within {}s ({health})",
                            job.ready_timeout.as_secs()
                        );
                        job.mark_failed(name, &why, Some(log));
                        stop(&mut child, STOP_GRACE);
                        return Exit::TempFail;
                    }
                }
            }
        }
        let log_len = || perfline_slurm::wait::regular_file_len(log);
        if let Some(dead) = liveness.as_mut().and_then(|p| p.check(log_len())) {
            let why = dead.reason();
            perfline::cli::say(format_args!("role: {name}: {why}"));
            job.mark_failed(name, why, Some(log));
            // A hung (frozen) server cannot act on SIGTERM: no grace.
            let grace = if matches!(dead, Dead::Hung(_)) { Duration::ZERO } else { STOP_GRACE };
            stop(&mut child, grace);
            return Exit::Failed;
        }
        if Instant::now() >= job.deadline {
            job.mark_failed(name, "job deadline passed", Some(log));
            stop(&mut child, STOP_GRACE);
            return Exit::TempFail;
        }
        std::thread::sleep(TICK);
    }
}

/// A non-serving rank: waits for the done flag, a peer failure or the deadline.
fn wait_until_done(job: &Job, name: &str) -> Exit {
    let peers = job.peer_markers(name);
    loop {
        if job.done_file().exists() || job.server_done_file(name).exists() {
            return Exit::Ok;
        }
        if job.failed_file(name).exists() {
            // Rank 0 of this very step failed: this step failed.
            return Exit::Failed;
        }
        if peers.iter().any(|p| p.exists()) {
            return Exit::PeerFailed;
        }
        if Instant::now() >= job.deadline {
            return Exit::TempFail;
        }
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_safe_names() {
        assert_eq!(file_safe("e2e-cfg_ccb-UCX"), "e2e-cfg_ccb-UCX");
        assert_eq!(file_safe("a/b c"), "a_b_c");
    }
}
