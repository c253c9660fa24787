//! `mkprefix` and `launch` output.

use super::plan::PlannedTest;
use serde::{Deserialize, Serialize};

/// A planned test with its Slurm prefix: mkprefix's output line.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PrefixedTest {
    #[serde(flatten)]
    pub planned: PlannedTest,
    /// `#SBATCH …` header lines, in order.
    pub sbatch: Vec<String>,
    /// Arguments every `srun` step of the job gets (unquoted words).
    pub srun_args: Vec<String>,
    /// `NAME=VALUE` exports of the job script (unquoted; launch quotes them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<String>,
    /// The job directory the header's `--output` points into (launch uses the same one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
}

/// What launch did with one test: launch's output line.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JobRecord {
    pub id: String,
    /// Slurm job id; `null` for `--dry-run` and `--local`.
    pub job_id: Option<String>,
    /// The full job script text.
    pub script: String,
    /// The job directory (script, plan, logs, coordination dir, results): this launch's
    /// attempt, `JOB_ROOT/ID/ATTEMPT`.
    pub workdir: String,
    /// The attempt id (docs/job-layout.md); the records written in the job carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<String>,
    /// The commands each role runs, by role name, in launch order.
    #[serde(default)]
    pub commands: Vec<RoleCommand>,
    /// `--wait`/`--local`: the final state (`COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `--wait`/`--local`: the job's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// One step of a job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RoleCommand {
    pub role: String,
    /// The step's command line (shell-quoted text).
    pub command: String,
}

/// An example `mkprefix` record.
pub const EXAMPLE_PREFIXED: &str = r##"{"id":"aggr-cfg-srv","family":"aggr","benchmark_mode":null,"config":"cfg","select":["srv"],"upload":false,"timeout_s":5400,"source":"list.txt:2","mode":"single-agg","config_path":"cfg.yaml","gpus_per_node":4,"total_nodes":1,"total_gpus":4,"used_gpus":4,"roles":[{"role":"SERVER_0","kind":"server","index":0,"name":"srv","gpus":4,"nodes":1,"tasks_per_node":4,"first_node":0}],"clients":[],"sbatch":["#SBATCH --nodes=1","#SBATCH --ntasks=4","#SBATCH --ntasks-per-node=4","#SBATCH --time=01:30:00"],"srun_args":["--container-image=img.sqsh","--container-mounts=/data:/data"]}"##;

/// An example `launch` record.
pub const EXAMPLE_JOB: &str = r##"{"id":"aggr-cfg-srv","job_id":"42","script":"#!/bin/bash\n#SBATCH --nodes=1\n","workdir":"/shared/perfline/aggr-cfg-srv/20261129T120000.000Z","attempt":"20261129T120000.000Z","commands":[{"role":"SERVER_0","command":"srun --nodes=1 role SERVER_0"}],"state":"COMPLETED","exit_code":0}"##;

#[cfg(test)]
mod tests {
    #[test]
    fn examples_round_trip() {
        super::super::assert_round_trip::<super::PrefixedTest>(super::EXAMPLE_PREFIXED);
        super::super::assert_round_trip::<super::JobRecord>(super::EXAMPLE_JOB);
    }
}
