//! The wire types: the JSON Lines records that flow between the tools, defined once here.
//!
//! Each stage adds fields to the record it reads, so a record keeps everything upstream said:
//!
//! | stage          | type                         | adds                                        |
//! |----------------|------------------------------|---------------------------------------------|
//! | `classify`     | [`test::TestRecord`]         | `id family benchmark_mode config select …`  |
//! | `nodecount`    | [`plan::PlannedTest`]        | `mode gpus_per_node total_nodes roles …`    |
//! | `mkprefix`     | [`job::PrefixedTest`]        | `sbatch srun_args`                          |
//! | `launch`       | [`job::JobRecord`]           | `job_id script workdir commands …`          |
//! | `parse-metrics`| [`metrics::MetricRecord`]    | `status reasons metrics units counts …`     |
//! | `perf-check`   | [`verdict::VerdictRecord`]   | one verdict per series (a new record)       |
//!
//! An example stream, one line per stage (each module's `EXAMPLE` is round-tripped by a test):
//!
//! ```text
//! classify  → {"id":"disagg-e2e-gb200_x_ctx1_dep4_gen1_dep8_ccb-UCX","family":"disagg","benchmark_mode":"e2e",…}
//! nodecount → {…,"mode":"disagg","gpus_per_node":4,"total_nodes":3,"total_gpus":12,"used_gpus":12,"roles":[…]}
//! mkprefix  → {…,"sbatch":["#SBATCH --nodes=3",…],"srun_args":["--container-image=…",…]}
//! launch    → {"id":"…","job_id":"1234","script":"#!/bin/bash\n…","workdir":"…",…}
//! parse-metrics → {"test_id":"…","status":"ok","metrics":{"seq_throughput":12.35,…},…}
//! ```
//! The full example records are [`test::EXAMPLE`], [`plan::EXAMPLE`], [`job::EXAMPLE_PREFIXED`],
//! [`job::EXAMPLE_JOB`] and [`metrics::EXAMPLE`].

pub mod job;
pub mod metrics;
pub mod plan;
pub mod test;
pub mod verdict;

#[cfg(test)]
pub(crate) fn assert_round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(example: &str) {
    let want: serde_json::Value = serde_json::from_str(example).expect("example is JSON");
    let record: T = serde_json::from_str(example).expect("example parses as the wire type");
    let got = serde_json::to_value(&record).expect("serializes");
    assert_eq!(got, want, "round trip changed the record");
}
