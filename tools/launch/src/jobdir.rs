//! The job directory of each launch: a new attempt (`JOB_ROOT/ID/ATTEMPT`, written whole and
//! then renamed into place), the commands `--local` runs, and the metric records of the jobs
//! that ended (docs/job-layout.md).

use crate::{job, local};
use perfline::cli::Result;
use perfline::wire::job::RoleCommand;
use perfline::{attempt, fsutil, Exit, Failure};
use perfline_slurm::{self as slurm, Profile};
use std::path::{Path, PathBuf};

/// The commands `--local` runs, as shell text.
pub fn local_commands(job: &job::Job, profile: &Profile, per_task: bool) -> Vec<RoleCommand> {
    job.install
        .iter()
        .chain(job.groups.iter().flatten())
        .map(|step| {
            let n = local::processes(step, per_task);
            let argv = local::argv(job, step, profile, 0, n);
            let command = job::argv_line(&argv).unwrap_or_default();
            RoleCommand { role: step.role.clone(), command }
        })
        .collect()
}

/// The attempt id of a built job (the last component of its directory).
pub fn opts_attempt(job: &job::Job) -> Option<String> {
    job.prefix.exports.iter().find_map(|e| e.strip_prefix("PERFLINE_ATTEMPT=")).map(str::to_string)
}

/// Builds the job of `record` as a new attempt and, unless `dry_run`, writes its directory:
/// complete under a temporary name, then renamed into place (never replacing another
/// attempt), then `latest` pointed at it. A launch in the same millisecond as another of the
/// same test takes the next suffix.
pub fn new_attempt(
    record: &serde_json::Value,
    profile: &Profile,
    opts: &slurm::Options,
    dry_run: bool,
) -> Result<job::Job> {
    let now = std::time::SystemTime::now();
    for n in 1..=1000 {
        let id = attempt::id_at(now, n);
        let opts = slurm::Options { attempt: Some(id.clone()), ..opts.clone() };
        let job = job::build(record, profile, &opts, &profile.commands.role)?;
        if dry_run {
            return Ok(job);
        }
        let workdir = Path::new(&job.prefix.workdir);
        let test_dir = workdir.parent().unwrap_or(workdir).to_path_buf();
        if workdir.exists() {
            continue;
        }
        std::fs::create_dir_all(&test_dir)
            .map_err(|e| Failure::new(Exit::CantCreat, format!("{}: {e}", test_dir.display())))?;
        let tmp = test_dir.join(format!(".{id}.{}.tmp", std::process::id()));
        let written = write_job_dir(&tmp, &job, record, profile)
            .and_then(|()| attempt::publish(&tmp, &test_dir, &id));
        match written {
            Ok(true) => {
                attempt::set_latest(&test_dir, &id)?;
                return Ok(job);
            }
            Ok(false) => {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            Err(f) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(f);
            }
        }
    }
    Err(Failure::new(Exit::CantCreat, "no free attempt id in this millisecond after 1000 tries"))
}

/// Writes a job directory at `dir`: `job.sh`, `plan.json` (the input record), `profile.json`,
/// and empty `logs/`, `coord/`, `results/`.
fn write_job_dir(
    dir: &Path,
    job: &job::Job,
    record: &serde_json::Value,
    profile: &Profile,
) -> Result<()> {
    for sub in ["logs", "coord", "results"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p)
            .map_err(|e| Failure::new(Exit::CantCreat, format!("{}: {e}", p.display())))?;
    }
    fsutil::write_atomic_mode(&dir.join("job.sh"), job.script.as_bytes(), 0o755)?;
    let plan = serde_json::to_vec_pretty(record)
        .map_err(|e| Failure::software(format!("cannot serialize plan: {e}")))?;
    fsutil::write_atomic(&dir.join("plan.json"), &plan)?;
    let prof = serde_json::to_vec_pretty(profile)
        .map_err(|e| Failure::software(format!("cannot serialize profile: {e}")))?;
    fsutil::write_atomic(&dir.join("profile.json"), &prof)
}

/// `KEY=VALUE` of `--context`: VALUE as a JSON number or boolean when it is one, else text.
pub fn context_pair(text: &str) -> std::result::Result<(String, serde_json::Value), String> {
    let (key, value) = text.split_once('=').ok_or("expected KEY=VALUE")?;
    if key.is_empty() {
        return Err("empty KEY".into());
    }
    let value = match serde_json::from_str::<serde_json::Value>(value) {
        Ok(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => v,
        _ => serde_json::Value::String(value.to_string()),
    };
    Ok((key.to_string(), value))
}

/// The first failure of a job: the reason line of `coord/first.failed` (else of any
/// `coord/*.failed`) and the log tail below it (at most 10 lines).
pub fn first_failure(workdir: &Path) -> Option<(String, Vec<String>)> {
    let coord = workdir.join("coord");
    let mut markers: Vec<PathBuf> = std::fs::read_dir(&coord)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "failed"))
        .collect();
    markers.sort();
    let marker = perfline_slurm::coord::first_failed(&coord, &markers)?;
    let text = std::fs::read_to_string(marker).ok()?;
    let mut lines = text.lines().map(str::trim_end).filter(|l| !l.is_empty());
    let reason = lines.next()?.to_string();
    let tail: Vec<String> = lines.map(str::to_string).collect();
    let skip = tail.len().saturating_sub(10);
    Some((reason, tail.into_iter().skip(skip).collect()))
}

/// Writes the metric records of every ended job (its attempt's `results/metrics.jsonl`) to
/// `file` in one atomic write, each record's `context` extended by `context`; a job without
/// records is reported, never silently skipped. No record at all is no input (66: nothing
/// written, an earlier FILE removed) unless `allow_empty`.
pub fn gather_metrics(
    workdirs: &[PathBuf],
    file: &Path,
    context: &[(String, serde_json::Value)],
    allow_empty: bool,
) -> Result<()> {
    let mut all = Vec::new();
    for dir in workdirs {
        let path = dir.join("results/metrics.jsonl");
        match std::fs::read(&path) {
            Ok(bytes) if context.is_empty() => {
                all.extend_from_slice(&bytes);
                if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                    all.push(b'\n');
                }
            }
            Ok(bytes) => {
                for (i, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let mut record: serde_json::Value = serde_json::from_str(line)
                        .map_err(|e| Failure::data(format!("{}:{}: {e}", path.display(), i + 1)))?;
                    if let Some(obj) = record.as_object_mut() {
                        let ctx = obj.entry("context").or_insert_with(|| serde_json::json!({}));
                        if let Some(ctx) = ctx.as_object_mut() {
                            for (k, v) in context {
                                ctx.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    all.extend_from_slice(record.to_string().as_bytes());
                    all.push(b'\n');
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                perfline::cli::diag(
                    "launch",
                    "warning",
                    format_args!("{}: no metric records (the job never ran?)", path.display()),
                );
            }
            Err(e) => return Err(Failure::io(path.display(), &e)),
        }
    }
    if all.iter().all(u8::is_ascii_whitespace) && !allow_empty {
        let why = if workdirs.is_empty() {
            "no job ran (no planned record on input: see the errors above it in the pipe)"
        } else {
            "the jobs wrote none"
        };
        // An earlier run's FILE must not pass for this run's results (a script's `-s FILE`).
        match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Failure::io(file.display(), &e));
            }
            _ => {}
        }
        return Err(Failure::new(
            Exit::NoInput,
            format!(
                "--metrics {}: no metric records: {why}; nothing written (--allow-empty writes an empty file)",
                file.display()
            ),
        ));
    }
    fsutil::write_atomic(file, &all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_records_carry_the_context_given() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job");
        std::fs::create_dir_all(job.join("results")).unwrap();
        std::fs::write(
            job.join("results/metrics.jsonl"),
            "{\"test_id\":\"t\",\"metrics\":{\"x\":1.5}}\n\n{\"test_id\":\"u\",\"context\":{\"gpu\":\"h100\"}}\n",
        )
        .unwrap();
        let out = dir.path().join("all.jsonl");
        let ctx = [context_pair("confirmation=2").unwrap(), context_pair("note=a b").unwrap()];
        gather_metrics(std::slice::from_ref(&job), &out, &ctx, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"test_id\":\"t\",\"metrics\":{\"x\":1.5},\"context\":{\"confirmation\":2,\"note\":\"a b\"}}\n\
             {\"test_id\":\"u\",\"context\":{\"gpu\":\"h100\",\"confirmation\":2,\"note\":\"a b\"}}\n"
        );
        assert!(context_pair("=1").is_err() && context_pair("k").is_err());
    }
}
