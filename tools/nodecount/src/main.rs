//! nodecount: reads test records (JSON Lines, from `classify`) on stdin, finds and validates
//! each test's config YAML, and writes each record plus its allocation plan (JSON Lines) to
//! stdout, computed exactly as the incumbent does (incumbent.md §7.1, §3, §2).

use clap::Parser;
use nodecount::{locate::Locator, Options, Planner};
use perfline::cli::Result;
use perfline::wire::plan::PlannedTest;
use perfline::wire::test::TestRecord;
use perfline::{Exit, Reporter};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Config search order, first match wins: for aggregated tests
  ROOT/tests/scripts/perf-sanity/aggregated, ROOT/tests/scripts/perf/aggregated,
  ROOT/tests/scripts/perf-sanity;
for disagg and ctx_only tests
  ROOT/tests/scripts/perf-sanity/disaggregated, ROOT/tests/scripts/perf/disaggregated,
  ROOT/tests/integration/defs/perf/disagg/test_configs/{disagg/perf,wideep/perf,disagg/perf-sanity};
then each --config-dir, then the other family's folders.

Every selected server needs at least one client run (`client_configs`), and a client run at
most 10000000 requests (concurrency × iterations, or × multi_round for disagg).

Exit status: 0 all planned; 1 --check found a mismatch (the record is still written);
65 a bad record or config field; 66 a config not found, a directory or a symlink loop;
77 a config not readable (permission); the first error's class wins.

Examples:
  classify tests.txt | nodecount --root ~/TensorRT-LLM | launch --dry-run
  classify l0_gb200_multi_nodes_perf_sanity_node2_gpu8.yml | nodecount --root . --check
  classify list.txt | nodecount --config-dir ./my-configs --pack | jq .total_nodes";

/// Test records + config YAML → records with the allocation plan (mode, nodes, GPUs, roles,
/// client runs).
#[derive(Parser, Debug)]
#[command(name = "nodecount", version, after_help = EXAMPLES)]
struct Args {
    /// A checkout with the upstream layout to search for configs (repeatable). Default:
    /// PERFLINE_CONFIG_ROOTS (colon-separated), else `.` unless --config-dir is given.
    #[arg(long = "root", value_name = "DIR", env = "PERFLINE_CONFIG_ROOTS", value_delimiter = ':')]
    roots: Vec<PathBuf>,
    /// A flat folder of config files to search (repeatable).
    #[arg(long = "config-dir", value_name = "DIR")]
    config_dirs: Vec<PathBuf>,
    /// Pack servers smaller than a node onto shared nodes (sets gpu_offset per role and
    /// gpus_saved); the default plan is the incumbent's whole-node plan.
    #[arg(long)]
    pack: bool,
    /// Compare each plan with the counts its test list's name and condition encode; adds a
    /// `check` object and exits 1 on any mismatch.
    #[arg(long)]
    check: bool,
}

fn main() {
    perfline::cli::main("nodecount", run)
}

/// `--check`: adds the check object and reports each mismatch as one error line.
fn check(planned: &mut PlannedTest, reporter: &mut Reporter) {
    let test = &planned.test;
    let list = test.list.as_deref().unwrap_or("(none)");
    let check = nodecount::check::check(&planned.plan, nodecount::check::expected(test), list);
    for mismatch in &check.mismatches {
        reporter.error(Exit::Failed, format!("{}: {}: {mismatch}", test.source, test.id));
    }
    planned.plan.check = Some(check);
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    let mut roots = args.roots;
    if roots.is_empty() && args.config_dirs.is_empty() {
        roots.push(PathBuf::from("."));
    }
    let mut planner =
        Planner::new(Locator::new(roots, args.config_dirs), Options { pack: args.pack });
    let mut reporter = Reporter::new("nodecount");
    let mut out = perfline::jsonl::stdout();
    perfline::cli::note_terminal_stdin("test records");
    for line in perfline::jsonl::read::<TestRecord, _>(std::io::stdin().lock(), "-") {
        let mut planned = match line.record.and_then(|test| planner.plan(test)) {
            Ok(planned) => planned,
            Err(failure) => {
                reporter.failure(&failure);
                continue;
            }
        };
        if args.check {
            check(&mut planned, &mut reporter);
        }
        out.write(&planned)?;
    }
    Ok(reporter.exit())
}
