//! The groups of command-line flags `upload` flattens into its arguments: the run's system
//! info and provenance, and the retry policy. Their doc comments are the `--help`.

use crate::batch::{self, Batch, RunInfo};
use crate::retry::Policy;
use perfline::wire::metrics::MetricRecord;
use std::time::Duration;

// The run's system info and provenance; unset fields come from the records' `context`, then
// (unless --no-gather) from this host. (No doc comment: clap would take it for the tool's
// `about`.)
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunFlags {
    /// Job id (default: the records' context `job_id`).
    #[arg(long)]
    pub job_id: Option<String>,
    /// Commit under test (default: context `commit`).
    #[arg(long)]
    pub commit: Option<String>,
    /// Start time of the run, e.g. 2026-05-01T12:00:00Z (default: context `start_time`).
    #[arg(long)]
    pub start_time: Option<String>,
    /// End time of the run (default: context `end_time`).
    #[arg(long)]
    pub end_time: Option<String>,
    /// TensorRT version.
    #[arg(long)]
    pub tensorrt: Option<String>,
    /// TensorRT-LLM version.
    #[arg(long)]
    pub trtllm: Option<String>,
    /// GPU driver version (default: nvidia-smi).
    #[arg(long)]
    pub driver: Option<String>,
    /// GPU name (default: nvidia-smi).
    #[arg(long)]
    pub gpu: Option<String>,
    /// CUDA version (default: nvidia-smi).
    #[arg(long)]
    pub cuda: Option<String>,
    /// Operating system (default: /etc/os-release).
    #[arg(long)]
    pub os: Option<String>,
    /// Host name (default: this host's).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Free-form notes stored with the run.
    #[arg(long)]
    pub notes: Option<String>,
    /// Do not gather system info from this host (nvidia-smi, os-release, host name).
    #[arg(long)]
    pub no_gather: bool,
}

impl RunFlags {
    /// The batch of `records`: the flags, then the records' context, then (unless
    /// --no-gather) this host; keyed by `run_key`, else by its content.
    pub fn batch(&self, run_key: Option<String>, records: Vec<MetricRecord>) -> Batch {
        let mut run = RunInfo {
            run_key: String::new(),
            job_id: self.job_id.clone(),
            tensorrt: self.tensorrt.clone(),
            trtllm: self.trtllm.clone(),
            driver: self.driver.clone(),
            gpu: self.gpu.clone(),
            cuda: self.cuda.clone(),
            os: self.os.clone(),
            hostname: self.hostname.clone(),
            start_time: self.start_time.clone(),
            end_time: self.end_time.clone(),
            commit: self.commit.clone(),
            notes: self.notes.clone(),
        };
        batch::fill_from_context(&mut run, &records);
        run.run_key = run_key.unwrap_or_else(|| batch::derive_run_key(&run, &records));
        if !self.no_gather {
            crate::sysinfo::gather(&mut run);
        }
        Batch { run, records }
    }
}

// How hard a delivery is tried.
#[derive(clap::Args, Debug, Clone)]
pub struct RetryFlags {
    /// Attempts per delivery, the first included.
    #[arg(long, env = "PERFLINE_UPLOAD_RETRIES", default_value_t = 5)]
    pub retries: u32,
    /// Pause before the second attempt, in milliseconds; doubled each time (at most 10 s).
    #[arg(long, env = "PERFLINE_UPLOAD_RETRY_BASE_MS", default_value_t = 500)]
    pub retry_base_ms: u64,
    /// No attempt starts later than this many seconds after the first.
    #[arg(long, env = "PERFLINE_UPLOAD_RETRY_DEADLINE_S", default_value_t = 60)]
    pub retry_deadline_s: u64,
    /// Connect and request timeout, in seconds.
    #[arg(long, env = "PERFLINE_UPLOAD_TIMEOUT_S", default_value_t = 20)]
    pub timeout_s: u64,
}

impl RetryFlags {
    pub fn policy(&self) -> Policy {
        Policy {
            attempts: self.retries.max(1),
            base: Duration::from_millis(self.retry_base_ms),
            deadline: Duration::from_secs(self.retry_deadline_s),
        }
    }

    /// The connect and request timeout (at least a second).
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_has_one_attempt_and_one_second_at_least() {
        let flags =
            RetryFlags { retries: 0, retry_base_ms: 250, retry_deadline_s: 3, timeout_s: 0 };
        let policy = flags.policy();
        assert_eq!(
            (policy.attempts, policy.base, policy.deadline),
            (1, Duration::from_millis(250), Duration::from_secs(3))
        );
        assert_eq!(flags.timeout(), Duration::from_secs(1));
    }

    #[test]
    fn flags_win_then_the_key_is_given_or_derived() {
        let flags = RunFlags { job_id: Some("7".into()), no_gather: true, ..RunFlags::default() };
        let batch = flags.batch(Some("k".into()), Vec::new());
        assert_eq!((batch.run.run_key.as_str(), batch.run.job_id.as_deref()), ("k", Some("7")));
        assert_eq!(batch.run.hostname, None, "--no-gather gathers nothing");
        let derived = flags.batch(None, Vec::new());
        assert_eq!(derived.run.run_key, batch::derive_run_key(&derived.run, &[]));
    }
}
