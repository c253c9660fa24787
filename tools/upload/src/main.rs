//! upload: reads metric records (JSON Lines from parse-metrics) and writes them as one run to
//! SQLite (default `sqlite:perf.db`), MySQL or OpenSearch; prints the run as a JSON record.

use clap::Parser;
use perfline::cli::{Failure, Result};
use perfline::{Exit, Reporter};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use upload::batch::{self, Batch, RunInfo};
use upload::mysql_store::{self, Mysql};
use upload::retry::{Policy, StoreError};
use upload::sql;
use upload::sqlite::Sqlite;
use upload::store::{self, Store};
use upload::{opensearch, secret, spool, sysinfo};

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

Exit codes: 0 stored (or already present), 65 bad record (nothing stored), 66 no input,
  69 store unavailable (batch spooled), 77 permission, 78 configuration, 74 I/O.

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
    #[arg(long)]
    run_key: Option<String>,
    /// Job id (default: the records' context `job_id`).
    #[arg(long)]
    job_id: Option<String>,
    /// Commit under test (default: context `commit`).
    #[arg(long)]
    commit: Option<String>,
    /// Start time of the run, e.g. 2026-05-01T12:00:00Z (default: context `start_time`).
    #[arg(long)]
    start_time: Option<String>,
    /// End time of the run (default: context `end_time`).
    #[arg(long)]
    end_time: Option<String>,
    /// TensorRT version.
    #[arg(long)]
    tensorrt: Option<String>,
    /// TensorRT-LLM version.
    #[arg(long)]
    trtllm: Option<String>,
    /// GPU driver version (default: nvidia-smi).
    #[arg(long)]
    driver: Option<String>,
    /// GPU name (default: nvidia-smi).
    #[arg(long)]
    gpu: Option<String>,
    /// CUDA version (default: nvidia-smi).
    #[arg(long)]
    cuda: Option<String>,
    /// Operating system (default: /etc/os-release).
    #[arg(long)]
    os: Option<String>,
    /// Host name (default: this host's).
    #[arg(long)]
    hostname: Option<String>,
    /// Free-form notes stored with the run.
    #[arg(long)]
    notes: Option<String>,
    /// Do not gather system info from this host (nvidia-smi, os-release, host name).
    #[arg(long)]
    no_gather: bool,
    /// File holding the MySQL password (mode 0600); else PERFLINE_MYSQL_PASSWORD.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Link printed and stored with the run; {run_id} and {run_key} are replaced.
    #[arg(long, env = "PERFLINE_UPLOAD_LINK_TEMPLATE", value_name = "TEMPLATE")]
    link_template: Option<String>,
    /// Where batches wait when the store is down.
    #[arg(long, env = "PERFLINE_UPLOAD_SPOOL_DIR", default_value = spool::DEFAULT_DIR)]
    spool_dir: PathBuf,
    /// Attempts per delivery, the first included.
    #[arg(long, env = "PERFLINE_UPLOAD_RETRIES", default_value_t = 5)]
    retries: u32,
    /// Pause before the second attempt, in milliseconds; doubled each time (at most 10 s).
    #[arg(long, env = "PERFLINE_UPLOAD_RETRY_BASE_MS", default_value_t = 500)]
    retry_base_ms: u64,
    /// No attempt starts later than this many seconds after the first.
    #[arg(long, env = "PERFLINE_UPLOAD_RETRY_DEADLINE_S", default_value_t = 60)]
    retry_deadline_s: u64,
    /// Connect and request timeout, in seconds.
    #[arg(long, env = "PERFLINE_UPLOAD_TIMEOUT_S", default_value_t = 20)]
    timeout_s: u64,
}

/// The record printed for each run.
#[derive(serde::Serialize, Debug)]
struct Outcome {
    run_id: Option<i64>,
    run_key: String,
    store: String,
    rows: usize,
    link: Option<String>,
    status: &'static str,
}

fn main() {
    perfline::cli::main("upload", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    let mut reporter = Reporter::new("upload");
    if args.flush {
        return flush(&args, &mut reporter);
    }
    let store = Store::parse(args.store.as_deref().unwrap_or(store::DEFAULT))?;
    let records = read_records(&args.input)?;
    if records.is_empty() {
        reporter.warn("no metric records on input; nothing uploaded");
        return Ok(reporter.exit());
    }
    let batch = build_batch(&args, records)?;
    if args.dry_run {
        dry_run(&store, &batch)?;
        return Ok(reporter.exit());
    }
    let outcome = match deliver(&args, &store, &batch, &reporter) {
        Ok(outcome) => outcome,
        Err(StoreError::Transient(f)) => {
            let path = spool::write(
                &args.spool_dir,
                &spool::Spooled { store: store.to_string(), batch: batch.clone() },
            )?;
            reporter.error(
                Exit::Unavailable,
                format!(
                    "{store}: {}; spooled to {}: deliver it with `upload --flush`",
                    f.message,
                    path.display()
                ),
            );
            Outcome {
                run_id: None,
                run_key: batch.run.run_key.clone(),
                store: store.to_string(),
                rows: 0,
                link: None,
                status: "spooled",
            }
        }
        Err(StoreError::Fatal(f)) => return Err(f),
        Err(StoreError::Duplicate) => return Err(Failure::software("unresolved duplicate run")),
    };
    report(&outcome)?;
    Ok(reporter.exit())
}

/// Every record of the input, or the first problem with it: all or nothing.
fn read_records(input: &str) -> Result<Vec<perfline::wire::metrics::MetricRecord>> {
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(input).map_err(|e| Failure::io(input, &e))?;
        Box::new(std::io::BufReader::new(file))
    };
    upload::input::read_all(reader, input)
}

fn build_batch(args: &Args, records: Vec<perfline::wire::metrics::MetricRecord>) -> Result<Batch> {
    let mut run = RunInfo {
        run_key: String::new(),
        job_id: args.job_id.clone(),
        tensorrt: args.tensorrt.clone(),
        trtllm: args.trtllm.clone(),
        driver: args.driver.clone(),
        gpu: args.gpu.clone(),
        cuda: args.cuda.clone(),
        os: args.os.clone(),
        hostname: args.hostname.clone(),
        start_time: args.start_time.clone(),
        end_time: args.end_time.clone(),
        commit: args.commit.clone(),
        notes: args.notes.clone(),
    };
    batch::fill_from_context(&mut run, &records);
    run.run_key = match &args.run_key {
        Some(key) => {
            // The key names the spool file.
            perfline::shell::check_id(key)
                .map_err(|e| Failure::usage(format!("--run-key: {e}")))?;
            key.clone()
        }
        None => batch::derive_run_key(&run, &records),
    };
    if !args.no_gather {
        sysinfo::gather(&mut run);
    }
    Ok(Batch { run, records })
}

fn dry_run(store: &Store, batch: &Batch) -> Result<()> {
    let mut out = perfline::jsonl::stdout();
    match store {
        Store::OpenSearch { index, .. } => {
            for d in opensearch::documents(batch) {
                out.write(&serde_json::json!({"_index": index, "_id": d.id, "doc": d.doc}))?;
            }
        }
        Store::Sqlite { .. } | Store::Mysql { .. } => {
            for row in sql::dry_run(&sql::rows(batch)) {
                out.write(&row)?;
            }
        }
    }
    Ok(())
}

fn policy(args: &Args) -> Policy {
    Policy {
        attempts: args.retries.max(1),
        base: Duration::from_millis(args.retry_base_ms),
        deadline: Duration::from_secs(args.retry_deadline_s),
    }
}

/// Delivers one batch with retries. Configuration problems (credentials, files) are found
/// before the first attempt and are never spooled.
fn deliver(
    args: &Args,
    store: &Store,
    batch: &Batch,
    reporter: &Reporter,
) -> std::result::Result<Outcome, StoreError> {
    let timeout = Duration::from_secs(args.timeout_s.max(1));
    let link = args.link_template.as_deref();
    let note = |n: u32, f: &Failure, pause: Duration| {
        reporter.warn(format!(
            "{store}: attempt {n} failed: {}; retrying in {:.1}s",
            f.message,
            pause.as_secs_f64()
        ));
    };
    let run_key = batch.run.run_key.clone();
    let outcome = |run_id: Option<i64>, rows: usize, present: bool| Outcome {
        run_id,
        link: link.map(|t| sql::render_link(t, run_id, &run_key)),
        run_key: run_key.clone(),
        store: store.to_string(),
        rows,
        status: if present { "already-present" } else { "uploaded" },
    };
    let rows = sql::rows(batch);
    let into_sql = |conn: &mut dyn sql::Conn| {
        sql::ensure_schema(conn)?;
        sql::deliver(conn, &rows, link)
    };
    let done = match store {
        Store::Sqlite { path } => policy(args).run(
            |_| {
                let mut db = Sqlite::open(path, timeout)?;
                into_sql(&mut db)
            },
            note,
        )?,
        Store::Mysql { user, host, port, db } => {
            let password =
                secret::mysql_password(args.password_file.as_deref()).map_err(StoreError::Fatal)?;
            let target =
                mysql_store::Target { user, host, port: *port, db, password: &password, timeout };
            policy(args).run(
                |_| {
                    let mut conn = Mysql::connect(&target)?;
                    into_sql(&mut conn)
                },
                note,
            )?
        }
        Store::OpenSearch { base, index } => {
            let credentials = secret::opensearch_credentials().map_err(StoreError::Fatal)?;
            let endpoint = opensearch::Endpoint { base, index, credentials, timeout };
            let docs = opensearch::documents(batch);
            let d = opensearch::deliver(&endpoint, &docs, &policy(args), note)?;
            return Ok(outcome(None, d.created, d.created == 0 && d.already_present > 0));
        }
    };
    Ok(outcome(Some(done.run_id), done.rows, done.already_present))
}

/// Prints the run record on stdout and one human line on stderr.
fn report(o: &Outcome) -> Result<()> {
    perfline::jsonl::stdout().write(o)?;
    let run = o.run_id.map_or_else(|| format!("key {}", o.run_key), |id| format!("run {id}"));
    let link = o.link.as_deref().map_or_else(String::new, |l| format!(": {l}"));
    note(format_args!("{run} {} in {} ({} rows){link}", o.status, o.store, o.rows));
    Ok(())
}

/// One human line on stderr; a closed stderr is not an error (and never a panic).
fn note(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "upload: {line}");
}

fn flush(args: &Args, reporter: &mut Reporter) -> Result<Exit> {
    let only = args.store.as_deref().map(Store::parse).transpose()?;
    let files = spool::list(&args.spool_dir)?;
    let mut delivered = 0;
    for path in &files {
        let spooled = match spool::read(path) {
            Ok(s) => s,
            Err(f) => {
                reporter.failure(&f);
                continue;
            }
        };
        let store = match Store::parse(&spooled.store) {
            Ok(s) => s,
            Err(f) => {
                reporter.failure(&f.context(path.display()));
                continue;
            }
        };
        if only.as_ref().is_some_and(|o| *o != store) {
            continue;
        }
        match deliver(args, &store, &spooled.batch, reporter) {
            Ok(outcome) => {
                remove_delivered(path)?;
                report(&outcome)?;
                delivered += 1;
            }
            Err(StoreError::Transient(f)) => reporter.error(
                Exit::Unavailable,
                format!("{store}: {}; kept {}", f.message, path.display()),
            ),
            Err(StoreError::Fatal(f)) => reporter.failure(&f.context(path.display())),
            Err(StoreError::Duplicate) => {
                reporter.error(Exit::Software, format!("{}: unresolved duplicate", path.display()))
            }
        }
    }
    if delivered == 0 && reporter.errors() == 0 {
        note(format_args!("nothing to flush in {}", args.spool_dir.display()));
    }
    Ok(reporter.exit())
}

fn remove_delivered(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| Failure::io(path.display(), &e))
}
