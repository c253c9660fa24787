//! perfline's Slurm layer: cluster profiles and the Slurm prefix (sbatch header, srun
//! arguments, exports) shared by `mkprefix` and `launch`; the coordination markers of a job's
//! steps ([`coord`], `launch` and `role`); and (feature `wait`, it pulls in an HTTP client) the
//! bounded peer-watching wait ([`wait`], `role` and `waitfiles`).
//!
//! Depends only on `perfline` (and external crates); tools depend on it, never the reverse.
//!
//! A profile is a YAML file (`ci/clusters/NAME.yaml`) chosen with `--cluster NAME|FILE` or
//! `PERFLINE_CLUSTER`; without one, [`Profile::default`] describes a bare-metal cluster with no
//! partition or account. Unknown keys are errors: a typo must not silently change a job.
//! The header follows the incumbent's (reference/incumbent.md §7.2, local `submit.py`).
//!
//! [`profile`] is the profile schema and its validation, [`prefix`] renders the prefix of a
//! planned test, [`models`] resolves model and dataset paths and each server's GPUs, [`args`]
//! holds the command-line options both tools flatten in.

pub mod args;
pub mod coord;
pub mod models;
pub mod prefix;
pub mod profile;
#[cfg(feature = "wait")]
pub mod wait;

pub use args::PrefixArgs;
pub use models::{resolve_record, resolve_record_for, MODELS_ROOT_ENV};
pub use prefix::*;
pub use profile::*;

#[cfg(test)]
mod tests;
