//! parse-metrics: reads benchmark client output (the `benchmark_serving` text block, its
//! `--save-result` JSON, JUnit XML, gen-worker logs) and writes one metric record (JSON Lines)
//! per (test, server, client) run on stdout, each `ok` or `failed` with reasons.

use clap::Parser;
use parse_metrics::input::{self, Format, GenLog, Sink};
use parse_metrics::junit;
use parse_metrics::record::Context;
use perfline::cli::Result;
use perfline::Exit;
use std::io::StdoutLock;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # What the role runner calls after each client run (appends to metrics.jsonl):
  parse-metrics --test-id aggr-cfg-srv --attempt 20261129T120000.000Z --server srv \\
      --client con4_iter2_isl128_osl64 --concurrency 4 --isl 128 --osl 64 --exit-code $rc \\
      trtllm-benchmark.0.0.log >> metrics.jsonl

  # gen_only: add the gen workers' per-iteration device step time
  parse-metrics --test-id disagg-gen_only-cfg --gen-log gen_server_0.log client.log

  # Context from records on stdin (`id`/`test_id`, and `log`, `source` or `workdir`):
  launch --local < planned.jsonl | parse-metrics --junit report.xml > metrics.jsonl

Records are `failed` when: the client exit code is non-zero, failed requests > 0, a failure
marker (!FAILED REQUESTS!, !CHECK LOG FOR ERRORS!) was printed, fewer successes than prompts,
zero output tokens, lengths not as asked (gates.rs), a value out of range, a metric missing.
Required by default: the 16 incumbent metrics except user_throughput (the SA client prints
none); gen_only test ids and --gen-log add mean_gen_worker_per_iter_device_step_time.

Ranges: request and token counts are whole numbers in 0..=2^53; metric values (ms, req/s,
tok/s, s, …) are finite and in 0..=1e15. A value out of range (negative, fractional count,
nan/inf, Python's NaN/Infinity in a --save-result JSON) fails the record with a reason naming
the field (`invalid mean_ttft: -2.5 (negative)`) and is left out, never replaced by 0.

A failed record carries no unmeasured value: when no request succeeded or no output token came
back, its `metrics` are empty (the client's 0.00s summarise an empty sample); otherwise it
keeps the values printed for the completed requests, except zeros. Counts are kept.

Exit status: 0 all records ok; 1 some record failed (records are still written); 65 an input
had no result block (a failed record is still written when the test id is known); 66 an input
could not be read; 64 bad usage.";

/// Benchmark client output → metric records (JSON Lines on stdout).
#[derive(Parser, Debug)]
#[command(name = "parse-metrics", version, after_help = EXAMPLES)]
struct Args {
    /// Client logs, --save-result JSON or JUnit XML files; none or `-`: stdin (text, JSON,
    /// or JSON Lines records giving each test's context and log).
    files: Vec<PathBuf>,
    /// Input format; `auto` looks at the first bytes.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Test id of the run (default: from the stdin record, the JUnit testcase, or the file name).
    #[arg(long)]
    test_id: Option<String>,
    /// The launch attempt (`JOB_ROOT/ID/ATTEMPT`, docs/job-layout.md), written as `attempt`
    /// on every record; letters, digits and `_ - . , + =`, at most 200 characters.
    #[arg(long, value_parser = attempt_id)]
    attempt: Option<String>,
    /// Server name (aggregated `server_configs[].name`, or the disagg router).
    #[arg(long)]
    server: Option<String>,
    /// Client name (`client_configs[].name`); default `con{C}_iter{I}_isl{ISL}_osl{OSL}`.
    #[arg(long)]
    client: Option<String>,
    /// Client concurrency (a block's own `max_concurrency=` wins); 0..=2^53.
    #[arg(long, value_parser = count)]
    concurrency: Option<u64>,
    /// Input sequence length; 0..=2^53.
    #[arg(long, value_parser = count)]
    isl: Option<u64>,
    /// Output sequence length; 0..=2^53.
    #[arg(long, value_parser = count)]
    osl: Option<u64>,
    /// The client's exit code; non-zero fails the record.
    #[arg(long, allow_negative_numbers = true)]
    exit_code: Option<i32>,
    /// Gen-worker log(s) to scan for the per-iteration device step time (repeatable).
    #[arg(long = "gen-log")]
    gen_log: Vec<PathBuf>,
    /// Also write a JUnit XML report here (one testcase per test; failure message = reasons).
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Metrics every record must have, comma-separated (replaces the default list; `""`: none).
    #[arg(long, value_delimiter = ',')]
    required: Option<Vec<String>>,
}

fn main() {
    perfline::cli::main("parse-metrics", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    let ctx = Context {
        test_id: args.test_id.clone(),
        attempt: args.attempt.clone(),
        server: args.server.clone(),
        client: args.client.clone(),
        concurrency: args.concurrency,
        isl: args.isl,
        osl: args.osl,
        exit_code: args.exit_code,
        required: args
            .required
            .as_ref()
            .map(|r| r.iter().map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect()),
        ..Context::default()
    };
    let gen = GenLog::scan(&args.gen_log);
    let mut sink = Sink::new(std::io::stdout().lock(), args.junit.is_some());
    let parsed = parse(&args, &ctx, &gen, &mut sink);
    let exit = sink.exit();
    let summaries = sink.summaries.take();
    // Flush what was written even when parsing stopped on an error.
    drop(sink.finish()?);
    parsed?;
    if let Some(path) = &args.junit {
        let report = junit::report(summaries.as_deref().unwrap_or_default());
        perfline::fsutil::write_atomic(path, report.as_bytes())?;
    }
    Ok(exit)
}

/// A count flag: 0..=2^53, like the counts read from the client's output.
fn count(s: &str) -> std::result::Result<u64, String> {
    let max = parse_metrics::text::MAX_COUNT;
    s.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| format!("must be in 0..={max}"))
}

/// `--attempt`: a path component and shell word, so an id (perfline::shell::check_id).
fn attempt_id(s: &str) -> std::result::Result<String, String> {
    perfline::shell::check_id(s).map(|()| s.to_string())
}

fn parse(args: &Args, ctx: &Context, gen: &GenLog, sink: &mut Sink<StdoutLock>) -> Result<()> {
    if args.format == Format::GenLog && !args.files.is_empty() {
        // Several gen-worker logs are one run: the incumbent averages their values.
        let scan = GenLog::scan(&args.files);
        let names: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
        input::gen_only_record(&names.join(","), ctx, &scan, sink)
    } else if args.files.is_empty() {
        input::stdin(args.format, ctx, gen, sink)
    } else {
        args.files.iter().try_for_each(|path| input::file(path, args.format, ctx, gen, sink))
    }
}
