//! GPU telemetry. Every server role samples its node's GPUs once a second for its whole life
//! (node-local rank 0 only, one sampler per node and server) with
//! `nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits [-i IDS]` and appends the rows,
//! stamped with the Unix time in ms, its host and its role, to
//! `results/gpu-samples.<ROLE>.<host>.csv`. `BENCHMARK` notes when each client run starts and
//! ends, cuts the samples of the roles that serve it to that window, writes them to
//! `results/gpu.<server>.<client>.csv` and adds the summary metrics to the run's `ok` record.
//!
//! The command is `$PERFLINE_NVIDIA_SMI` (a profile `env` entry), else `nvidia-smi` on `PATH`;
//! where there is none, nothing is sampled, no file is written and nothing fails. With
//! `CUDA_VISIBLE_DEVICES` set by the role (GPU isolation, docs/profiles.md) only those GPUs are
//! sampled (`-i`); with isolation off, all of the node's GPUs.

use crate::job::Job;
use perfline::cli::{Failure, Result};
use perfline::wire::metrics::MetricRecord;
use perfline::wire::plan::{ClientRun, Role, RoleKind};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The fields asked of `nvidia-smi`, in the order of its CSV.
pub const QUERY: &str =
    "timestamp,index,uuid,name,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu";
/// The header of `results/gpu.<server>.<client>.csv`: our stamp, then nvidia-smi's fields.
pub const HEADER: [&str; 12] = [
    "unix_ms",
    "host",
    "role",
    "timestamp",
    "index",
    "uuid",
    "name",
    "utilization.gpu [%]",
    "memory.used [MiB]",
    "memory.total [MiB]",
    "power.draw [W]",
    "temperature.gpu [C]",
];
const FIELDS: usize = 9;
/// Overrides the `nvidia-smi` found on `PATH`.
pub const ENV_COMMAND: &str = "PERFLINE_NVIDIA_SMI";
/// The sampling interval in ms (default 1000; tests sample faster).
pub const ENV_INTERVAL_MS: &str = "PERFLINE_GPU_SAMPLE_MS";
/// How long one `nvidia-smi` call may take before it is killed.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Failed calls in a row after which sampling stops.
const MAX_FAILURES: u32 = 3;

/// The summary metrics: (name, unit).
pub const METRICS: [(&str, &str); 5] = [
    ("gpu_util_mean", "%"),
    ("gpu_util_max", "%"),
    ("gpu_mem_used_max", "MiB"),
    ("gpu_power_mean", "W"),
    ("gpu_energy_per_token", "J/token"),
];

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The sampling command: `$PERFLINE_NVIDIA_SMI`, else `nvidia-smi` on `PATH`.
fn command() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_COMMAND).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("nvidia-smi")).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The `-i` list of a role's GPUs on its node: the `CUDA_VISIBLE_DEVICES` the role gives its
/// server (out of those the step sees), else the packed offset range, else none (all of the
/// node's GPUs, when the profile turns GPU isolation off).
pub fn gpu_ids(role: &Role) -> Option<String> {
    gpu_ids_within(role, std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref())
}

fn gpu_ids_within(role: &Role, inherited: Option<&str>) -> Option<String> {
    if let Some(gpus) = &role.cuda_visible_devices {
        return crate::gpus::visible_devices(gpus, inherited).ok();
    }
    let offset = role.gpu_offset?;
    let n = role.tasks_per_node.max(1);
    Some((offset..offset + n).map(|g| g.to_string()).collect::<Vec<_>>().join(","))
}

fn file_safe(name: &str) -> String {
    crate::server::file_safe(name)
}

/// Starts the sampler thread of server role `name` on this node, when this task is the node's
/// first and there is an `nvidia-smi`. It runs until the process exits.
pub fn start_sampler(job: &Job, role: &Role, name: &str) {
    let local = std::env::var("SLURM_LOCALID").ok().and_then(|v| v.parse::<u32>().ok());
    if local.unwrap_or(0) != 0 {
        return;
    }
    let Some(program) = command() else {
        perfline::cli::say(format_args!(
            "role: {name}: no nvidia-smi ({ENV_COMMAND} unset, none on PATH): no GPU telemetry"
        ));
        return;
    };
    let interval = std::env::var(ENV_INTERVAL_MS)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(Duration::from_secs(1), Duration::from_millis);
    let host = job.host.clone();
    let file = job.results.join(format!("gpu-samples.{name}.{}.csv", file_safe(&host)));
    let mut args = vec![format!("--query-gpu={QUERY}"), "--format=csv,noheader,nounits".into()];
    if let Some(ids) = gpu_ids(role) {
        args.extend(["-i".to_string(), ids]);
    }
    let name = name.to_string();
    perfline::cli::say(format_args!(
        "role: {name}: GPU telemetry: {} {} → {}",
        program.display(),
        args.join(" "),
        file.display()
    ));
    let mut failures = 0;
    // One sample now, before the server starts: every client run then has a sample before it.
    let sample = move |failures: &mut u32| -> bool {
        let t = now_ms();
        match call(&program, &args) {
            Ok(out) => {
                *failures = 0;
                let rows = sample_rows(t, &host, &name, &out);
                if !rows.is_empty() {
                    let _ = append(&file, &rows);
                }
                true
            }
            Err(why) => {
                *failures += 1;
                perfline::cli::say(format_args!("role: {name}: GPU telemetry: {why}"));
                if *failures >= MAX_FAILURES {
                    perfline::cli::say(format_args!(
                        "role: {name}: GPU telemetry stopped after {failures} failures"
                    ));
                }
                *failures < MAX_FAILURES
            }
        }
    };
    let mut started = Instant::now();
    if !sample(&mut failures) {
        return;
    }
    std::thread::spawn(move || loop {
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
        started = Instant::now();
        if !sample(&mut failures) {
            return;
        }
    });
}

/// Runs `program args` within [`CALL_TIMEOUT`]; its stdout.
fn call(program: &Path, args: &[String]) -> std::result::Result<String, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    perfline::bounded::output_within(program, &args, CALL_TIMEOUT)
}

fn append(file: &Path, rows: &str) -> std::io::Result<()> {
    // One write per sample: concurrent readers see whole lines (the reader skips broken ones).
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    f.write_all(rows.as_bytes())
}

/// `nvidia-smi`'s rows stamped `unix_ms,host,role,…`; rows without all [`QUERY`] fields are
/// dropped.
pub fn sample_rows(t_ms: u64, host: &str, role: &str, stdout: &str) -> String {
    let mut out = String::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != FIELDS {
            continue;
        }
        out.push_str(&format!("{t_ms},{host},{role},{}\n", fields.join(",")));
    }
    out
}

/// One sampled GPU at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub t_ms: u64,
    /// unix_ms, host, role, then nvidia-smi's fields.
    pub cells: Vec<String>,
}

impl Sample {
    pub fn parse(line: &str) -> Option<Sample> {
        let cells: Vec<String> = line.split(',').map(|c| c.trim().to_string()).collect();
        if cells.len() != HEADER.len() {
            return None;
        }
        Some(Sample { t_ms: cells[0].parse().ok()?, cells })
    }
    /// A number of nvidia-smi (`[N/A]`, `[Not Supported]` are none).
    fn number(&self, header: &str) -> Option<f64> {
        let i = HEADER.iter().position(|h| *h == header)?;
        self.cells[i].parse::<f64>().ok().filter(|v| v.is_finite())
    }
    /// The GPU: host and uuid (else index).
    fn gpu(&self) -> (String, String) {
        let id = if self.cells[5].is_empty() { &self.cells[4] } else { &self.cells[5] };
        (self.cells[1].clone(), id.clone())
    }
}

/// The summary of the samples of one client run: (metric, value); energy per output token
/// needs the run's duration and output tokens.
pub fn summarize(
    samples: &[Sample],
    duration_s: Option<f64>,
    output_tokens: Option<u64>,
) -> Vec<(&'static str, f64)> {
    let mut out = Vec::new();
    let util: Vec<f64> = samples.iter().filter_map(|s| s.number("utilization.gpu [%]")).collect();
    if !util.is_empty() {
        out.push(("gpu_util_mean", util.iter().sum::<f64>() / util.len() as f64));
        out.push(("gpu_util_max", util.iter().copied().fold(f64::MIN, f64::max)));
    }
    let mem = samples.iter().filter_map(|s| s.number("memory.used [MiB]"));
    if let Some(max) = mem.reduce(f64::max) {
        out.push(("gpu_mem_used_max", max));
    }
    // Mean power of every GPU, summed: the mean power of all the run's GPUs together.
    let mut per_gpu: BTreeMap<(String, String), (f64, u32)> = BTreeMap::new();
    for s in samples {
        if let Some(w) = s.number("power.draw [W]") {
            let e = per_gpu.entry(s.gpu()).or_default();
            e.0 += w;
            e.1 += 1;
        }
    }
    if !per_gpu.is_empty() {
        let power: f64 = per_gpu.values().map(|(sum, n)| sum / f64::from(*n)).sum();
        out.push(("gpu_power_mean", power));
        if let (Some(d), Some(tokens)) = (duration_s, output_tokens.filter(|t| *t > 0)) {
            out.push(("gpu_energy_per_token", power * d / tokens as f64));
        }
    }
    out
}

/// The roles whose GPUs serve the client runs against `server` (the router has none).
fn serving_roles<'a>(job: &'a Job, server: &str) -> Vec<&'a str> {
    let roles = &job.planned.plan.roles;
    if server == "DISAGG_SERVER" {
        roles.iter().filter(|r| r.kind != RoleKind::Server).map(|r| r.role.as_str()).collect()
    } else {
        roles.iter().filter(|r| r.role == server).map(|r| r.role.as_str()).collect()
    }
}

/// The samples of the roles serving `client`, taken within `[from_ms, to_ms]`, in time order.
fn window(job: &Job, client: &ClientRun, (from_ms, to_ms): (u64, u64)) -> Vec<Sample> {
    let roles = serving_roles(job, &client.server);
    let Ok(entries) = std::fs::read_dir(&job.results) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            roles
                .iter()
                .any(|r| name.starts_with(&format!("gpu-samples.{r}.")) && name.ends_with(".csv"))
        })
        .collect();
    files.sort();
    let all: Vec<Sample> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| text.lines().filter_map(Sample::parse).collect::<Vec<_>>())
        .collect();
    cut(all, from_ms, to_ms)
}

/// The samples that describe `[from_ms, to_ms]`, in time order: those taken within it, and per
/// GPU the last one taken before it (a sample holds until the next, so the run's first moments
/// are covered and a run shorter than the interval still has its GPUs' state).
pub fn cut(all: Vec<Sample>, from_ms: u64, to_ms: u64) -> Vec<Sample> {
    let mut before: BTreeMap<(String, String), Sample> = BTreeMap::new();
    let mut samples = Vec::new();
    for s in all {
        if (from_ms..=to_ms).contains(&s.t_ms) {
            samples.push(s);
        } else if s.t_ms < from_ms {
            match before.get(&s.gpu()) {
                Some(b) if b.t_ms >= s.t_ms => {}
                _ => {
                    before.insert(s.gpu(), s);
                }
            }
        }
    }
    samples.extend(before.into_values());
    samples.sort_by(|a, b| (a.t_ms, &a.cells).cmp(&(b.t_ms, &b.cells)));
    samples
}

/// After a client run: writes `results/gpu.<server>.<client>.csv` when there are samples in
/// its window and returns them (empty without GPU telemetry). Telemetry never fails a run: a
/// file that cannot be written is reported and the summary still computed.
pub fn client_run_samples(
    job: &Job,
    client: &ClientRun,
    server_name: &str,
    span: (u64, u64),
) -> Vec<Sample> {
    let samples = window(job, client, span);
    if samples.is_empty() {
        return samples;
    }
    let path =
        job.results.join(format!("gpu.{}.{}.csv", file_safe(server_name), file_safe(&client.name)));
    if let Err(f) = write_csv(&path, &samples) {
        perfline::cli::say(format_args!("role: BENCHMARK: GPU telemetry: {}", f.message));
    }
    samples
}

fn write_csv(path: &Path, samples: &[Sample]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Failure::software(format!("{}: {e}", path.display()));
    w.write_record(HEADER).map_err(io)?;
    for s in samples {
        w.write_record(&s.cells).map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| Failure::software(e.to_string()))?;
    perfline::fsutil::write_atomic(path, &bytes)
}

/// Adds the summary metrics (with units) of `samples` to an `ok` record.
pub fn add_metrics(record: &mut MetricRecord, samples: &[Sample]) {
    if samples.is_empty() {
        return;
    }
    let c = &record.counts;
    for (name, value) in summarize(samples, c.duration_s, c.total_output_tokens) {
        let unit = METRICS.iter().find(|(m, _)| *m == name).map_or("", |(_, u)| u);
        record.metrics.insert(name.to_string(), value);
        record.units.insert(name.to_string(), unit.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMI: &str = "2026/11/30 01:40:00.123, 0, GPU-aaa, NVIDIA H200, 80, 70000, 143771, 500.5, 60\n\
                       2026/11/30 01:40:00.124, 1, GPU-bbb, NVIDIA H200, 40, 90000, 143771, [N/A], 58\n\
                       garbage line\n";

    fn samples() -> Vec<Sample> {
        let mut rows = sample_rows(1000, "n1", "GEN_0", SMI);
        rows += &sample_rows(
            2000,
            "n1",
            "GEN_0",
            &SMI.replace(", 80,", ", 100,").replace("500.5", "299.5"),
        );
        rows.lines().map(|l| Sample::parse(l).unwrap()).collect()
    }

    #[test]
    fn rows_are_stamped_and_checked() {
        assert_eq!(
            sample_rows(1000, "n1", "GEN_0", SMI),
            "1000,n1,GEN_0,2026/11/30 01:40:00.123,0,GPU-aaa,NVIDIA H200,80,70000,143771,500.5,60\n\
             1000,n1,GEN_0,2026/11/30 01:40:00.124,1,GPU-bbb,NVIDIA H200,40,90000,143771,[N/A],58\n"
        );
        assert_eq!(Sample::parse("x,n1,GEN_0"), None);
    }

    #[test]
    fn summary_metrics() {
        let got = summarize(&samples(), Some(10.0), Some(4000));
        // util 80, 40, 100, 40 → mean 65, max 100; power: GPU-aaa (500.5 + 299.5) / 2 = 400,
        // GPU-bbb none → 400 W; 400 W × 10 s / 4000 tokens = 1 J/token.
        assert_eq!(
            got,
            vec![
                ("gpu_util_mean", 65.0),
                ("gpu_util_max", 100.0),
                ("gpu_mem_used_max", 90000.0),
                ("gpu_power_mean", 400.0),
                ("gpu_energy_per_token", 1.0),
            ]
        );
        // Without tokens there is no energy per token; without samples nothing at all.
        assert_eq!(summarize(&samples(), Some(10.0), Some(0)).len(), 4);
        assert!(summarize(&[], Some(10.0), Some(10)).is_empty());
    }

    #[test]
    fn metrics_carry_units() {
        let mut r: MetricRecord = perfline::jsonl::parse(perfline::wire::metrics::EXAMPLE).unwrap();
        add_metrics(&mut r, &samples());
        // EXAMPLE: 512 output tokens in 2.5 s → 400 W × 2.5 s / 512.
        assert_eq!(r.metrics["gpu_energy_per_token"], 400.0 * 2.5 / 512.0);
        assert_eq!(r.units["gpu_energy_per_token"], "J/token");
        assert_eq!(r.units["gpu_util_max"], "%");
        assert_eq!(r.units["gpu_mem_used_max"], "MiB");
        assert_eq!(r.units["gpu_power_mean"], "W");
    }

    #[test]
    fn a_window_holds_the_last_sample_before_it() {
        let rows = sample_rows(500, "n1", "GEN_0", SMI)
            + &sample_rows(900, "n1", "GEN_0", SMI)
            + &sample_rows(1500, "n1", "GEN_0", SMI)
            + &sample_rows(2500, "n1", "GEN_0", SMI);
        let all: Vec<Sample> = rows.lines().filter_map(Sample::parse).collect();
        let times =
            |v: Vec<Sample>| v.iter().map(|s| (s.t_ms, s.cells[5].clone())).collect::<Vec<_>>();
        let aaa = |t| (t, "GPU-aaa".to_string());
        let bbb = |t| (t, "GPU-bbb".to_string());
        assert_eq!(times(cut(all.clone(), 1000, 2000)), [aaa(900), bbb(900), aaa(1500), bbb(1500)]);
        // Shorter than the interval: the state it began in.
        assert_eq!(times(cut(all.clone(), 1000, 1100)), [aaa(900), bbb(900)]);
        assert!(cut(all, 0, 100).is_empty());
    }

    #[test]
    fn ids_of_a_packed_server() {
        let mut role: Role = serde_json::from_value(serde_json::json!({
            "role": "GEN_0", "kind": "gen", "index": 0, "gpus": 2, "nodes": 1,
            "tasks_per_node": 2, "first_node": 0
        }))
        .unwrap();
        assert_eq!(gpu_ids_within(&role, None), None);
        role.gpu_offset = Some(2);
        assert_eq!(gpu_ids_within(&role, None).as_deref(), Some("2,3"));
        // Isolated servers sample exactly the GPUs their server sees, also out of a list the
        // step inherited from Slurm.
        role.cuda_visible_devices = Some(vec![0]);
        assert_eq!(gpu_ids_within(&role, None).as_deref(), Some("0"));
        assert_eq!(gpu_ids_within(&role, Some("4,5,6,7")).as_deref(), Some("4"));
    }
}
