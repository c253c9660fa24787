//! mkprefix: reads planned records (nodecount's JSON Lines) and writes them back with the Slurm
//! prefix of the chosen cluster profile added: `sbatch` (header lines), `srun_args`, `exports`
//! and `workdir`, and the profile's resolutions (roles' `model_path`, `served_model`,
//! `cuda_visible_devices`, clients' `dataset_path`). `--write DIR` also writes the old
//! `slurm_launch_prefix.sh` and `slurm_srun_args.txt` per test.

mod oldfiles;

use clap::Parser;
use perfline::cli::Result;
use perfline::{jsonl, Exit, Failure, Reporter};
use perfline_slurm::{self as slurm, Options, Profile};

use std::path::{Path, PathBuf};

/// Add the Slurm prefix (sbatch header, srun arguments, exports) to planned records.
#[derive(Parser, Debug)]
#[command(
    name = "mkprefix",
    version,
    after_help = "Examples:\n  \
        classify < list.txt | nodecount | mkprefix --cluster local | launch --dry-run\n  \
        mkprefix --cluster ci/clusters/gb200-pyxis.yaml --write old-files < planned.jsonl\n  \
        PERFLINE_CLUSTER=local mkprefix --nodes n1,n2,n3 < planned.jsonl\n\n\
        Exit status: 0 ok; 64 bad usage; 65 a bad record (a test record: pipe through nodecount\n\
        first); 66 no such profile, or no planned record on the input (--allow-empty: 0); 78 bad\n\
        profile, or a model name the\n\
        profile cannot resolve (docs/profiles.md)."
)]
struct Args {
    #[command(flatten)]
    common: slurm::PrefixArgs,
    /// Also write DIR/<id>/slurm_launch_prefix.sh and slurm_srun_args.txt.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,
    /// Exit 0 (with a warning) when the input holds no planned record (without it: exit 66).
    #[arg(long)]
    allow_empty: bool,
}

fn main() {
    perfline::cli::main("mkprefix", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    let (profile, opts) = args.common.resolve(|_| Ok(()))?;
    let (reader, source) = jsonl::open(args.common.input.as_deref())?;
    let mut out = jsonl::stdout();
    let mut reporter = Reporter::new("mkprefix");
    let mut lines = 0;
    for line in jsonl::read::<serde_json::Value, _>(reader, &source) {
        lines += 1;
        if let Ok(r) = &line.record {
            if slurm::models::is_test_record(r) {
                // The pipe skipped nodecount: one line, not one per record.
                let at = format!("{source}:{}", line.line);
                return Err(slurm::models::not_planned(r, &"").context(at));
            }
        }
        let result = line.record.and_then(|record| {
            add_prefix(record, &profile, &opts, args.write.as_deref())
                .map_err(|f| f.context(format!("{source}:{}", line.line)))
        });
        match result {
            Ok(record) => out.write(&record)?,
            Err(f) if f.is_broken_pipe() => return Err(f),
            Err(f) => reporter.failure(&f),
        }
    }
    if lines == 0 {
        reporter.no_records(&source, "planned records", "did nodecount fail?", args.allow_empty);
    }
    Ok(reporter.exit())
}

/// Opens the input file, or stdin for `-`/none; returns the reader and its name for errors.
/// Adds the prefix fields to one record, keeping every field it already has.
fn add_prefix(
    mut record: serde_json::Value,
    profile: &Profile,
    opts: &Options,
    write: Option<&Path>,
) -> Result<serde_json::Value> {
    // Model and dataset paths and each server's GPUs, from the profile (launch does it again).
    let planned = slurm::resolve_record(&mut record, profile)?;
    let prefix = slurm::prefix(&planned, profile, opts)?;
    if let Some(dir) = write {
        oldfiles::write_old_files(&dir.join(&planned.test.id), &prefix)?;
    }
    let obj = record.as_object_mut().ok_or_else(|| Failure::data("record is not a JSON object"))?;
    obj.insert("sbatch".into(), prefix.sbatch.into());
    obj.insert("srun_args".into(), prefix.srun_args.into());
    obj.insert("exports".into(), prefix.exports.into());
    obj.insert("workdir".into(), prefix.workdir.into());
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_upstream_fields_and_adds_the_prefix() {
        let mut record: serde_json::Value =
            serde_json::from_str(perfline::wire::plan::EXAMPLE).unwrap();
        record["future_field"] = "kept".into();
        let opts = Options { job_root: Some("/jobs".into()), nodelist: Vec::new(), attempt: None };
        let out = add_prefix(record, &Profile::default(), &opts, None).unwrap();
        assert_eq!(out["future_field"], "kept");
        assert_eq!(out["sbatch"][0], "#SBATCH --nodes=3");
        assert_eq!(out["workdir"], "/jobs/disagg-e2e-cfg_ctx1_tp1_gen1_tp8");
        let back: perfline::wire::job::PrefixedTest = serde_json::from_value(out).unwrap();
        assert_eq!(back.planned.plan.total_nodes, 3);
    }
}
