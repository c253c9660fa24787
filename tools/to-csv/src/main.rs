//! to-csv: reads metric records (JSON Lines) on stdin and writes the legacy perf-DB CSV
//! (or a wide CSV for spreadsheets) on stdout. Failed records are kept and marked.

use clap::Parser;
use perfline::cli::Result;
use perfline::wire::metrics::MetricRecord;
use perfline::{jsonl, Exit, Failure, Reporter};
use std::io::Write;
use to_csv::{choose, legacy, wide};

const AFTER_HELP: &str = "\
Legacy columns: network (test id), batchsize (concurrency), precision (context.precision or a
precision word of the test id), framework (trtllm), command ({server}-{client}), then:

  throughput__qps          seq_throughput: REQUEST throughput (req/s)
  tokens_per__sec          token_throughput: OUTPUT-token throughput (tok/s)
  total_tokens_per__sec    total_token_throughput (input + output tok/s)
  user_tokens_per__sec     user_throughput (tok/s per user)
  {mean,median,p99}_{ttft,tpot,itl,e2el}__ms    the latency of that name (ms)
  al__tokens_per_iter      al (spec-decode tokens per iteration)
  mean_gen_worker_per_iter_device_step_time__ms
  goodput__qps             request_goodput
  cache_hit_rate__pct, cached_tokens__count, sessions__count, turns__count   trace replay
  duration__sec, total_requests__count, successful_requests__count,
  failed_requests__count, input_tokens__count, output_tokens__count   counts
then status (ok|failed) and reasons. Other metrics (p90_ttft, std_itl, energy, …) become
<metric>__<unit> columns with --columns all or by name.

Examples:
  parse-metrics client.log | to-csv > perf.csv
  to-csv --columns throughput__qps,tokens_per__sec,mean_ttft < metrics.jsonl
  to-csv --wide < metrics.jsonl > sheet.csv

Exit status: 0 CSV written; 64 bad usage; 65 a bad input line (skipped, the rest is written);
66 no metric record on input (nothing written; --allow-empty writes the header and exits 0).";

/// Metric records → the legacy perf-DB CSV.
#[derive(Parser, Debug)]
#[command(name = "to-csv", version, after_help = AFTER_HELP)]
struct Args {
    /// Metric columns, comma-separated: `default` (the mapping table), `all` (table + every
    /// other metric of the input), column headers or metric names.
    #[arg(long, value_delimiter = ',', default_value = "default")]
    columns: Vec<String>,
    /// Wide format for spreadsheets: one row per test and concurrency, all metrics by default.
    #[arg(long)]
    wide: bool,
    /// Write the header alone and exit 0 when the input holds no metric record (without it:
    /// exit 66, nothing written).
    #[arg(long)]
    allow_empty: bool,
}

fn main() {
    perfline::cli::main("to-csv", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    let mut reporter = Reporter::new("to-csv");
    let mut records: Vec<MetricRecord> = Vec::new();
    perfline::cli::note_terminal_stdin("metric records");
    for line in jsonl::read::<MetricRecord, _>(std::io::stdin().lock(), "-") {
        match line.record {
            Ok(r) => records.push(r),
            Err(f) => reporter.failure(&f),
        }
    }
    if records.is_empty() && reporter.errors() > 0 {
        // Every line was bad, each said so: one line per problem, no summary besides.
        return Ok(reporter.exit());
    }
    if records.is_empty() && !args.allow_empty {
        reporter.error(
            Exit::NoInput,
            "no metric records on stdin; nothing written (did the step before fail? --allow-empty writes the header alone)",
        );
        return Ok(reporter.exit());
    }
    let spec = if args.wide && args.columns == ["default"] {
        vec!["all".to_string()]
    } else {
        args.columns
    };
    let columns = choose(&spec, &records).map_err(Failure::usage)?;
    let csv = if args.wide { wide(&records, &columns) } else { legacy(&records, &columns) };
    let mut out = std::io::stdout().lock();
    out.write_all(csv.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::io("stdout", &e))?;
    Ok(reporter.exit())
}
