//! upload: reads metric records (JSON Lines from parse-metrics) and writes them as one run to
//! SQLite (default `sqlite:perf.db`), MySQL or OpenSearch; prints the run as a JSON record.

use clap::Parser;
use perfline::cli::Result;
use perfline::{Exit, Reporter};
use std::path::PathBuf;
use upload::deliver::{self, Settings};
use upload::flags::{RetryFlags, RunFlags};
use upload::store::{self, Store};
use upload::{input, spool};

/// Store metric records (parse-metrics output) as one run, idempotently.
///
/// The run's key comes from its content (job id, test ids, launch attempts, start time,
/// commit) or --run-key: uploading the same input twice adds nothing; a re-run (a new
/// attempt) is a new run. Each run is written in one transaction.
/// An input with one bad record (not JSON, NaN, a negative value, a duplicate) stores nothing.
/// Transient failures are retried with backoff; when the store stays down the batch is
/// spooled and `upload --flush` delivers it later (exit 69 meanwhile).
#[derive(Parser, Debug)]
#[command(
    name = "upload",
    version,
    after_help = "\
Stores:
  sqlite:PATH                          embedded default (sqlite:perf.db)
  mysql://USER@HOST:PORT/DB            password from PERFLINE_MYSQL_PASSWORD or --password-file
  opensearch+https://HOST[:PORT]/INDEX credentials from PERFLINE_OPENSEARCH_USER/_PASSWORD

Output (stdout), one record per run:
  {\"run_id\":1,\"run_key\":\"…\",\"store\":\"sqlite:perf.db\",\"rows\":3,\"link\":null,\"status\":\"uploaded\"}
  status: uploaded | already-present | spooled

Exit status: 0 stored (or already present); 64 bad usage; 65 bad record (nothing stored);
66 no input: a missing input file, a SQLite directory that does not exist, or no metric record
(--allow-empty: 0); 69 store unavailable (batch spooled); 73 the store or spool file cannot be
created; 74 I/O; 77 permission (a directory not writable by you); 78 configuration (store URL,
credentials).

Examples:
  parse-metrics logs/*.log | upload
  upload mysql://perf@db.example:3306/TRT_perf --password-file ~/.perf-pw < metrics.jsonl
  upload --dry-run < metrics.jsonl
  upload --flush mysql://perf@db.example:3306/TRT_perf --password-file ~/.perf-pw
  upload --link-template 'https://perf.example.com/trt/run?run_id={run_id}' < metrics.jsonl"
)]
struct Args {
    /// Where to store (default sqlite:perf.db); with --flush, only batches spooled for it.
    store: Option<String>,
    /// Metric records to read (JSON Lines); `-` is stdin.
    #[arg(short, long, default_value = "-")]
    input: String,
    /// Print the rows (SQL) or documents (OpenSearch) that would be written; touch nothing.
    #[arg(long)]
    dry_run: bool,
    /// Deliver the batches waiting in the spool directory, then delete them.
    #[arg(long, conflicts_with_all = ["dry_run", "run_key"])]
    flush: bool,
    /// The run's key (letters, digits, _ - . , + =), instead of the one derived from content.
    #[arg(long, value_parser = run_key)]
    run_key: Option<String>,
    #[command(flatten)]
    run: RunFlags,
    /// File holding the MySQL password (mode 0600); else PERFLINE_MYSQL_PASSWORD.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Link printed and stored with the run; {run_id} and {run_key} are replaced.
    #[arg(long, env = "PERFLINE_UPLOAD_LINK_TEMPLATE", value_name = "TEMPLATE")]
    link_template: Option<String>,
    /// Where batches wait when the store is down.
    #[arg(long, env = "PERFLINE_UPLOAD_SPOOL_DIR", default_value = spool::DEFAULT_DIR)]
    spool_dir: PathBuf,
    #[command(flatten)]
    retry: RetryFlags,
    /// Exit 0 (with a warning) when the input holds no metric record (without it: exit 66).
    #[arg(long)]
    allow_empty: bool,
}

fn main() {
    perfline::cli::main("upload", run)
}

/// `--run-key`: it names the spool file, so an id (perfline::shell::check_id).
fn run_key(s: &str) -> std::result::Result<String, String> {
    perfline::shell::check_id(s).map(|()| s.to_string())
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    let settings = Settings {
        password_file: args.password_file,
        link_template: args.link_template,
        spool_dir: args.spool_dir,
        policy: args.retry.policy(),
        timeout: args.retry.timeout(),
    };
    let mut reporter = Reporter::new("upload");
    if args.flush {
        let only = args.store.as_deref().map(Store::parse).transpose()?;
        return deliver::flush(&settings, only.as_ref(), &mut reporter);
    }
    let store = Store::parse(args.store.as_deref().unwrap_or(store::DEFAULT))?;
    let records = input::read_path(&args.input)?;
    if records.is_empty() {
        let what = if args.input == "-" { "stdin".to_string() } else { args.input.clone() };
        let msg = format!("no metric records on {what}; nothing uploaded");
        if args.allow_empty {
            reporter.warn(msg);
        } else {
            reporter.error(
                Exit::NoInput,
                format!("{msg} (did the step before fail? --allow-empty exits 0)"),
            );
        }
        return Ok(reporter.exit());
    }
    let batch = args.run.batch(args.run_key, records);
    if args.dry_run {
        deliver::dry_run(&store, &batch)?;
        return Ok(reporter.exit());
    }
    deliver::upload(&settings, &store, &batch, &mut reporter)
}
