//! classify: reads test lists (plain text, upstream test-db YAML, grouped YAML; files or stdin)
//! and writes one JSON TestRecord per test on stdout, in list order.

use clap::Parser;
use classify::{classify, Filter, Format};
use perfline::cli::Result;
use perfline::{Exit, Failure, Reporter};
use std::io::Read;
use std::path::PathBuf;

/// Test list → one JSON record per test (id, family, benchmark mode, config, selected servers,
/// upload, timeout, source FILE:LINE, hints).
#[derive(Parser, Debug)]
#[command(
    name = "classify",
    version,
    after_help = AFTER_HELP,
    after_long_help = AFTER_HELP
)]
struct Args {
    /// Test-db lists: keep only blocks whose `condition.terms.stage` equals STAGE
    /// (e.g. pre_merge, post_merge).
    #[arg(long, value_name = "STAGE")]
    stage: Option<String>,
    /// Test-db lists: keep only blocks whose `condition.wildcards.gpu` patterns (fnmatch, e.g.
    /// `*gb200*`, case-insensitive) match GPU; blocks without a gpu wildcard match any GPU.
    #[arg(long, value_name = "GPU")]
    gpu: Option<String>,
    /// The list format; `auto` detects it per file from the content.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Exit 0 with a warning, not 66, when the lists hold no test (after --stage/--gpu).
    #[arg(long)]
    allow_empty: bool,
    /// Test lists to read, in order; none or `-` reads stdin.
    #[arg(value_name = "LIST")]
    lists: Vec<PathBuf>,
}

const AFTER_HELP: &str = "\
Test ids (the text between `test_e2e[` and `]`, or a bare id), split on `-`:
  aggr[_upload]-CFG[-SERVER[,SERVER...]]       aggregated; SERVERs select server_configs
  aggr[_upload]-ctx_only-DISAGG_CFG            context worker alone (disagg config)
  disagg[_upload]-{e2e|gen_only}-DISAGG_CFG    disaggregated (CFG may contain `-`)
  disagg[_upload]-DISAGG_CFG                   older form; mode comes from the config
  profiling-CFG[-SERVER..], benchmark-CFG[..]  team wrappers: aggregated, no upload
  CFG.yaml                                     a bare config file name: disagg when the name
                                               has both ctx<N> and gen<N> tokens, else aggr
A `.yaml` suffix on CFG is dropped. ` TIMEOUT (N)` after a test is N minutes, 1..=10080 (one
week). An id has at most 200 characters. `#` starts a comment. Any other line is an error `classify: error: FILE:LINE: ID: reason`; the other tests
are still written.

Exit status: 0 ok, 64 usage, 65 a bad test or list (DataErr), 66 a list cannot be read or
the lists hold no test (--allow-empty exits 0).

Examples:
  classify tests/integration/test_lists/test-db/l0_gb200_multi_gpus_perf_sanity.yml
  classify --stage post_merge --gpu gb200 l0_*.yml | nodecount | launch --dry-run
  echo 'test_e2e[disagg-e2e-gb200_x_ctx1_dep4_gen1_dep8_ccb-UCX] TIMEOUT (120)' | classify
  classify testlists/examples/grammar.txt | jq -r '[.id, .family, .config] | @tsv'";

fn main() {
    perfline::cli::main("classify", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    let filter = Filter { stage: args.stage, gpu: args.gpu };
    let lists = if args.lists.is_empty() { vec![PathBuf::from("-")] } else { args.lists };
    let mut out = perfline::jsonl::stdout();
    let mut reporter = Reporter::new("classify");
    let mut written = 0usize;
    for path in &lists {
        let source = path.display().to_string();
        let classified = read(path).and_then(|text| classify(&text, &source, args.format, &filter));
        let classified = match classified {
            Ok(classified) => classified,
            Err(failure) => {
                reporter.failure(&failure);
                continue;
            }
        };
        if classified.format != Format::Testdb && (filter.stage.is_some() || filter.gpu.is_some()) {
            reporter.warn(format!("{source}: --stage and --gpu apply to test-db lists only"));
        }
        for item in classified.items {
            match item {
                Ok(record) => {
                    out.write(&record)?;
                    written += 1;
                }
                Err(failure) => reporter.failure(&failure),
            }
        }
    }
    if written == 0 && reporter.exit() == Exit::Ok {
        let source = match lists.as_slice() {
            [one] => one.display().to_string(),
            many => format!("{} lists", many.len()),
        };
        let hint = if filter.stage.is_some() || filter.gpu.is_some() {
            "did --stage/--gpu match no block?"
        } else {
            "is the list empty or all comments?"
        };
        reporter.no_records(&source, "tests", hint, args.allow_empty);
    }
    Ok(reporter.exit())
}

/// Usage errors exit 64 (the Exit table), not clap's 2; `--help` and `--version` exit 0.
/// The largest test list read (64 MiB; the corpus's largest is a few KiB).
const MAX_LIST: u64 = 64 << 20;

/// A list's text; `-` is stdin. Unreadable is NoInput; not UTF-8 is bad data.
fn read(path: &std::path::Path) -> Result<String> {
    let source = path.display();
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        perfline::cli::note_terminal_stdin("test ids");
        std::io::stdin().take(MAX_LIST + 1).read_to_end(&mut bytes).map(drop)
    } else {
        // Never hangs on a named pipe; a directory is said to be one.
        let file =
            perfline::fsutil::open_input(path).map_err(|f| Failure { exit: Exit::NoInput, ..f })?;
        file.take(MAX_LIST + 1).read_to_end(&mut bytes).map(drop)
    };
    // Whatever the cause (missing, a directory, permissions), the list cannot be read.
    read.map_err(|e| Failure { exit: Exit::NoInput, ..Failure::io(path.display(), &e) })?;
    if bytes.len() as u64 > MAX_LIST {
        let why = format!("{source}: a test list larger than {} MiB", MAX_LIST >> 20);
        return Err(Failure::data(why));
    }
    perfline::yaml::utf8(&bytes, &source.to_string())?;
    Ok(String::from_utf8(bytes).unwrap_or_default())
}
