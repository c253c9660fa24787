//! What launch does with each planned record (render, run locally, or submit) and, at the
//! end, with the submitted jobs it follows (--wait) and their metrics (--metrics).

use crate::view::View;
use crate::{job, jobdir, local, submit, Args};
use perfline::cli::Result;
use perfline::wire::job::JobRecord;
use perfline::{Exit, Reporter};
use perfline_slurm::{Options, Profile};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Launcher<'a> {
    args: &'a Args,
    profile: &'a Profile,
    opts: &'a Options,
    reporter: Reporter,
    /// Jobs submitted with --wait, followed in `finish`.
    submitted: Vec<(JobRecord, Duration, Instant)>,
    /// Job directories of the jobs that ended, for --metrics.
    ended: Vec<PathBuf>,
}

impl<'a> Launcher<'a> {
    pub fn new(args: &'a Args, profile: &'a Profile, opts: &'a Options) -> Launcher<'a> {
        let reporter = Reporter::new("launch");
        Launcher { args, profile, opts, reporter, submitted: Vec::new(), ended: Vec::new() }
    }

    /// One planned record (`at`: FILE:LINE): a bad one is reported and skipped.
    pub fn record(
        &mut self,
        record: Result<serde_json::Value>,
        at: &str,
        out: &mut View<impl Write>,
    ) -> Result<()> {
        let (args, profile) = (self.args, self.profile);
        if let Ok(r) = &record {
            if perfline_slurm::models::is_test_record(r) {
                // The whole pipe is wrong (nodecount skipped): one line, not one per record.
                return Err(perfline_slurm::models::not_planned(r, &"").context(at));
            }
        }
        let result = record.and_then(|mut record| {
            // Model and dataset paths and each server's GPUs, from the profile: a name that
            // resolves to nothing stops here, before any allocation is spent.
            // `--local` without a container: the clients read this host's files.
            let here = args.local && !args.dry_run && profile.container.is_none();
            perfline_slurm::resolve_record_for(&mut record, profile, here)
                .map_err(|f| f.context(at))?;
            let job = jobdir::new_attempt(&record, profile, self.opts, args.dry_run)
                .map_err(|f| f.context(at))?;
            let timeout = Duration::from_secs(args.timeout.unwrap_or_else(|| {
                let plan = &job.planned;
                plan.plan.timeout_s.or(plan.test.timeout_s).map_or(7200, |t| t + 600)
            }));
            Ok((job, timeout))
        });
        let (job, timeout) = match result {
            Ok(x) => x,
            Err(f) => {
                self.reporter.failure(&f);
                return Ok(());
            }
        };
        let per_task = args.per_task || profile.local.per_task;
        let mut rec = JobRecord {
            id: job.id.clone(),
            job_id: None,
            script: job.script.clone(),
            workdir: job.prefix.workdir.clone(),
            attempt: jobdir::opts_attempt(&job),
            commands: if args.local {
                jobdir::local_commands(&job, profile, per_task)
            } else {
                job::commands(&job, profile)?
            },
            state: None,
            exit_code: None,
        };
        if args.dry_run {
            return out.job(&rec, None);
        }
        if args.local {
            let start = Instant::now();
            match local::run(&job, profile, per_task, timeout) {
                Ok(outcome) => {
                    if let Some(why) = &outcome.reason {
                        let exit =
                            if outcome.state == "TIMEOUT" { Exit::TempFail } else { Exit::Failed };
                        self.job_failed(exit, &job.id, why, &outcome.tail, &rec.workdir);
                    }
                    rec.state = Some(outcome.state);
                    rec.exit_code = Some(outcome.exit_code);
                    self.ended.push(PathBuf::from(&rec.workdir));
                    out.job(&rec, Some(start.elapsed()))?;
                }
                Err(f) => self.reporter.failure(&f.context(&job.id)),
            }
            return Ok(());
        }
        let script = Path::new(&job.prefix.workdir).join("job.sh");
        match submit::sbatch(&script, Path::new(&job.prefix.workdir)) {
            Ok(id) => {
                perfline::cli::say(format_args!("launch: {}: submitted job {id}", job.id));
                rec.job_id = Some(id);
                if args.wait {
                    self.submitted.push((rec, timeout, Instant::now()));
                } else {
                    out.job(&rec, None)?;
                }
            }
            Err(f) => self.reporter.failure(&f.context(&job.id)),
        }
        Ok(())
    }

    /// Follows the submitted jobs (--wait), gathers --metrics; the exit of the whole run.
    pub fn finish(mut self, out: &mut View<impl Write>) -> Result<Exit> {
        let poll = Duration::from_secs_f64(self.args.poll);
        for (mut rec, timeout, since) in std::mem::take(&mut self.submitted) {
            let job_id = rec.job_id.clone().unwrap_or_default();
            match submit::wait(&rec.id, &job_id, poll, timeout) {
                Ok(state) => {
                    if state.exit() != Exit::Ok {
                        let ended = format!("job {job_id} ended {}", state.state);
                        let (why, tail) = match jobdir::first_failure(Path::new(&rec.workdir)) {
                            Some((reason, tail)) => (format!("{ended}: {reason}"), tail),
                            None => (ended, Vec::new()),
                        };
                        self.job_failed(state.exit(), &rec.id, &why, &tail, &rec.workdir);
                    }
                    rec.state = Some(state.state);
                    rec.exit_code = state.exit_code;
                    self.ended.push(PathBuf::from(&rec.workdir));
                    out.job(&rec, Some(since.elapsed()))?;
                }
                Err(f) => self.reporter.failure(&f),
            }
        }
        if let Some(file) = &self.args.metrics {
            if let Err(f) =
                jobdir::gather_metrics(&self.ended, file, &self.args.context, self.args.allow_empty)
            {
                self.reporter.failure(&f);
            }
        }
        Ok(self.reporter.exit())
    }

    /// A job that ended badly: one error line with its first failure's reason, then the tail
    /// of the failed role's log (`exec: trtllm-serve: not found` shows here, not only in the
    /// records), and where the logs are.
    fn job_failed(&mut self, exit: Exit, id: &str, why: &str, tail: &[String], workdir: &str) {
        self.reporter.error(exit, format!("{id}: {why}"));
        for line in tail {
            perfline::cli::diag("launch", "note", format!("{id}: | {line}"));
        }
        perfline::cli::diag("launch", "note", format!("{id}: logs in {workdir}/logs"));
    }
}
