//! waitfiles: polls files (glob counts, non-empty files) and HTTP endpoints until ready, bounded
//! by a deadline, while watching peers (pids, error keywords in logs, failure markers); writes
//! one JSON result to stdout and exits 0 ready, 75 timed out, 76 a peer failed.

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use perfline::cli::Result;
use perfline::wait::{self, Condition, LogStart, Outcome, Progress, WaitSpec, Watch};
use perfline::{Exit, Failure};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Exit status: 0 ready, 75 timed out, 76 a watched peer died or logged an error, 64 bad usage.

Examples:
  # DISAGG_SERVER: wait for 1 ctx + 2 gen addresses, failing fast if a worker logs an error
  waitfiles --glob 'hostnames/*.txt' --count 3 --timeout 3600 \\
      --watch-log ctx_server_0.log --watch-log gen_server_0.log --watch-file hostnames/FAILED
  # BENCHMARK: wait for the router address, then its /health
  waitfiles --file hostnames/DISAGG_SERVER.0.addr --timeout 600
  waitfiles --http http://node1:8000/health --timeout 600 --watch-pid \"$SERVER_PID\"
  # custom error keywords (replace the default list)
  waitfiles --file out/done --watch-log server.log --keywords 'Traceback,CUDA error'";

/// Waits until files or endpoints are ready, bounded by a deadline, while watching peers.
///
/// Conditions (all must hold): `--glob` with its `--count`, `--file`, `--http`. Watches (any
/// failing ends the wait with status 76): `--watch-pid`, `--watch-log`, `--watch-file`.
/// Polls (no inotify): the coordination directory may be on a shared filesystem.
#[derive(Parser, Debug)]
#[command(name = "waitfiles", version, after_help = EXAMPLES)]
struct Args {
    /// Wait until at least --count paths match this glob (hidden files never count).
    #[arg(long = "glob", value_name = "PATTERN")]
    globs: Vec<String>,
    /// How many paths the preceding --glob needs [default: 1].
    #[arg(long = "count", value_name = "N")]
    counts: Vec<usize>,
    /// Wait until this file exists and is not empty.
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Wait until GET URL answers HTTP 200 (each try is bounded to 1 s).
    #[arg(long = "http", value_name = "URL")]
    urls: Vec<String>,
    /// Give up after this many seconds (exit 75).
    #[arg(long, value_name = "SECS", default_value_t = 3600.0)]
    timeout: f64,
    /// Seconds between polls (at most the default on shared filesystems is wise).
    #[arg(long, value_name = "SECS", default_value_t = 0.5)]
    interval: f64,
    /// Fail (exit 76) as soon as this process has exited.
    #[arg(long = "watch-pid", value_name = "PID")]
    pids: Vec<i32>,
    /// Fail (exit 76) as soon as a line written to this log after the wait started contains
    /// an error keyword (what an earlier run left in it is ignored; see --from-start). A log
    /// that does not exist yet is watched from its first line once it appears.
    #[arg(long = "watch-log", value_name = "FILE")]
    logs: Vec<PathBuf>,
    /// Error keywords for --watch-log, comma-separated; replaces the default list
    /// (the incumbent's: RuntimeError, out of memory, ValueError, FileNotFoundError,
    /// ConnectionRefusedError, ClientConnectorError, CancelledError, TimeoutError,
    /// PMI2_Init failed to initialize, OSError).
    #[arg(long, value_name = "K1,K2", value_delimiter = ',')]
    keywords: Vec<String>,
    /// One error keyword (may contain commas); repeatable; replaces the default list.
    #[arg(long = "keyword", value_name = "K")]
    keyword: Vec<String>,
    /// Scan every --watch-log from its first line, old lines included.
    #[arg(long)]
    from_start: bool,
    /// Fail (exit 76) as soon as this failure marker (written by a peer) exists.
    #[arg(long = "watch-file", value_name = "FILE")]
    markers: Vec<PathBuf>,
    /// Never print progress (it goes to stderr only when stderr is a terminal).
    #[arg(long, short, conflicts_with = "progress")]
    quiet: bool,
    /// Print progress as plain lines on stderr (for logs): one as soon as every watch is in
    /// place, then one every 10 s.
    #[arg(long)]
    progress: bool,
}

/// How often --progress prints a line.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The longest wait: a week (a deadline past that is a typo, and overflows clocks).
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// An `http://HOST[:PORT][/PATH]` URL with a valid port and no whitespace; why not otherwise.
fn check_url(url: &str) -> std::result::Result<(), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs are supported")?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = if authority.starts_with('[') {
        // [IPv6]:PORT
        let end = authority.find(']').ok_or("unclosed [ in the host")?;
        let after = &authority[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("{after:?} after the host")),
        };
        (&authority[..=end], port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains('@') {
        return Err("no host".into());
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(format!("port {p:?} is not 1..65535")),
        }
    }
    Ok(())
}

/// The JSON result on stdout.
#[derive(Serialize, Debug, PartialEq)]
struct Report {
    status: &'static str,
    elapsed_s: f64,
    reason: Option<String>,
    matched: Vec<String>,
    pending: Vec<String>,
}

fn main() {
    perfline::cli::main("waitfiles", run)
}

fn run() -> Result<Exit> {
    let matches = match Args::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            print!("{e}");
            return Ok(Exit::Ok);
        }
        Err(e) => return Err(usage_error(&e)),
    };
    let args = Args::from_arg_matches(&matches).map_err(|e| usage_error(&e))?;
    let spec = spec(&args, &count_per_glob(&matches, &args)?)?;
    let show_progress = !args.quiet && !args.progress && std::io::stderr().is_terminal();
    let mut last_shown = Instant::now();
    let mut lines_shown = 0u64;
    let outcome = wait::wait(&spec, &mut |p: &Progress| {
        // --progress: plain lines for logs (CI), the first once the watches are in place.
        if args.progress && (lines_shown == 0 || last_shown.elapsed() >= PROGRESS_EVERY) {
            lines_shown += 1;
            last_shown = Instant::now();
            let _ = writeln!(
                std::io::stderr(),
                "waitfiles: {:.0} s: waiting for {}",
                p.elapsed.as_secs_f64(),
                p.pending.join("; ")
            );
        }
        if show_progress && last_shown.elapsed() >= Duration::from_secs(1) {
            last_shown = Instant::now();
            eprint!(
                "\rwaitfiles: {:.0} s: waiting for {}\x1b[K",
                p.elapsed.as_secs_f64(),
                p.pending.join("; ")
            );
        }
    });
    if show_progress {
        eprint!("\r\x1b[K");
    }
    let report = report(&outcome, spec.timeout);
    if let Some(reason) = &report.reason {
        eprintln!("waitfiles: error: {}", perfline::cli::one_line(reason));
    }
    if let Outcome::PeerFailed { log_tail, .. } = &outcome {
        for line in log_tail {
            eprintln!("waitfiles: | {line}");
        }
    }
    perfline::jsonl::stdout().write(&report)?;
    Ok(outcome.exit())
}

/// Clap's error as one line, classified as bad usage (64).
fn usage_error(e: &clap::Error) -> Failure {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    Failure::usage(first.strip_prefix("error: ").unwrap_or(first))
}

/// Pairs each `--count` with the `--glob` before it on the command line.
fn count_per_glob(matches: &ArgMatches, args: &Args) -> Result<Vec<usize>> {
    let glob_at: Vec<usize> =
        matches.indices_of("globs").map(Iterator::collect).unwrap_or_default();
    let count_at: Vec<usize> =
        matches.indices_of("counts").map(Iterator::collect).unwrap_or_default();
    let mut counts = vec![None; args.globs.len()];
    for (&at, &count) in count_at.iter().zip(&args.counts) {
        let owner = glob_at.iter().rposition(|&g| g < at).ok_or_else(|| {
            Failure::usage(format!("--count {count} must follow the --glob it counts"))
        })?;
        match counts.get_mut(owner) {
            Some(slot @ None) => *slot = Some(count),
            _ => return Err(Failure::usage(format!("--count {count}: two counts for one --glob"))),
        }
    }
    Ok(counts.into_iter().map(|c| c.unwrap_or(1)).collect())
}

fn spec(args: &Args, counts: &[usize]) -> Result<WaitSpec> {
    let seconds = |name: &str, value: f64| {
        Duration::try_from_secs_f64(value)
            .map_err(|_| Failure::usage(format!("--{name} {value}: not a number of seconds")))
    };
    let timeout = seconds("timeout", args.timeout)?;
    if timeout > MAX_TIMEOUT {
        return Err(Failure::usage(format!(
            "--timeout {}: at most {} seconds (7 days)",
            args.timeout,
            MAX_TIMEOUT.as_secs()
        )));
    }
    let interval = seconds("interval", args.interval)?;
    if !(Duration::from_millis(1)..=Duration::from_secs(60)).contains(&interval) {
        return Err(Failure::usage(format!(
            "--interval {}: between 0.001 and 60 seconds",
            args.interval
        )));
    }
    let mut conditions = Vec::new();
    for (pattern, &count) in args.globs.iter().zip(counts) {
        if pattern.trim().is_empty() {
            return Err(Failure::usage("--glob: empty pattern"));
        }
        if count == 0 {
            return Err(Failure::usage(format!("--glob {pattern}: --count 0 is always true")));
        }
        glob::Pattern::new(pattern)
            .map_err(|e| Failure::usage(format!("--glob {pattern}: invalid pattern: {e}")))?;
        conditions.push(Condition::GlobCount { pattern: pattern.clone(), count });
    }
    conditions.extend(args.files.iter().cloned().map(Condition::FileHasContent));
    for url in &args.urls {
        check_url(url).map_err(|why| Failure::usage(format!("--http {url:?}: {why}")))?;
        conditions.push(Condition::Http200(url.clone()));
    }
    for path in args.files.iter().chain(&args.logs).chain(&args.markers) {
        if path.as_os_str().is_empty() {
            return Err(Failure::usage("empty path"));
        }
    }
    for path in &args.logs {
        // A FIFO or a device would block or never end: only regular files are logs.
        if let Ok(meta) = std::fs::metadata(path) {
            if !meta.is_file() {
                return Err(Failure::usage(format!(
                    "--watch-log {}: not a regular file",
                    path.display()
                )));
            }
        }
    }
    if conditions.is_empty() {
        return Err(Failure::usage("nothing to wait for: give --glob, --file or --http"));
    }
    let keywords = keywords(args);
    let from = if args.from_start { LogStart::Offset(0) } else { LogStart::End };
    let mut watches = Vec::new();
    for &pid in &args.pids {
        if pid <= 0 {
            return Err(Failure::usage(format!("--watch-pid {pid}: not a process id")));
        }
        watches.push(Watch::Pid(pid));
    }
    watches.extend(args.logs.iter().map(|path| Watch::LogKeywords {
        path: path.clone(),
        keywords: keywords.clone(),
        from,
    }));
    watches.extend(args.markers.iter().cloned().map(Watch::FailureMarker));
    Ok(WaitSpec { conditions, watches, timeout, interval })
}

/// The keywords given on the command line, or the incumbent's default list.
fn keywords(args: &Args) -> Vec<String> {
    let given: Vec<String> = args
        .keywords
        .iter()
        .chain(&args.keyword)
        .filter(|k| !k.trim().is_empty())
        .cloned()
        .collect();
    if given.is_empty() {
        wait::DEFAULT_ERROR_KEYWORDS.iter().map(|k| k.to_string()).collect()
    } else {
        given
    }
}

fn report(outcome: &Outcome, timeout: Duration) -> Report {
    let elapsed_s = (outcome.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    match outcome {
        Outcome::Ready { values, .. } => Report {
            status: "ready",
            elapsed_s,
            reason: None,
            matched: values.clone(),
            pending: vec![],
        },
        Outcome::TimedOut { pending, .. } => Report {
            status: "timeout",
            elapsed_s,
            reason: Some(format!(
                "timed out after {} s waiting for: {}",
                timeout.as_secs_f64(),
                pending.join("; ")
            )),
            matched: vec![],
            pending: pending.clone(),
        },
        Outcome::PeerFailed { reason, .. } => Report {
            status: "peer_failed",
            elapsed_s,
            reason: Some(reason.clone()),
            matched: vec![],
            pending: vec![],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<WaitSpec> {
        let matches = Args::command().try_get_matches_from(argv).unwrap();
        let args = Args::from_arg_matches(&matches).unwrap();
        spec(&args, &count_per_glob(&matches, &args)?)
    }

    #[test]
    fn counts_pair_with_the_glob_before_them() {
        let s =
            parse(&["w", "--glob", "a/*", "--glob", "b/*", "--count", "3", "--file", "f"]).unwrap();
        assert_eq!(
            s.conditions,
            vec![
                Condition::GlobCount { pattern: "a/*".into(), count: 1 },
                Condition::GlobCount { pattern: "b/*".into(), count: 3 },
                Condition::FileHasContent("f".into()),
            ]
        );
        assert_eq!(parse(&["w", "--count", "2", "--glob", "a"]).unwrap_err().exit, Exit::Usage);
        let twice = parse(&["w", "--glob", "a", "--count", "2", "--count", "3"]).unwrap_err();
        assert_eq!(twice.message, "--count 3: two counts for one --glob");
    }

    #[test]
    fn keywords_replace_the_default_list() {
        let s = parse(&["w", "--file", "f", "--watch-log", "l"]).unwrap();
        let Watch::LogKeywords { keywords, .. } = &s.watches[0] else { panic!() };
        assert_eq!(keywords.len(), 10);
        assert_eq!(keywords[0], "RuntimeError");
        let s = parse(&[
            "w",
            "--file",
            "f",
            "--watch-log",
            "l",
            "--keywords",
            "A,B",
            "--keyword",
            "C,D",
        ])
        .unwrap();
        let Watch::LogKeywords { keywords, .. } = &s.watches[0] else { panic!() };
        assert_eq!(keywords, &["A", "B", "C,D"]);
    }

    #[test]
    fn rejects_bad_usage() {
        assert_eq!(parse(&["w"]).unwrap_err().exit, Exit::Usage);
        assert_eq!(parse(&["w", "--file", "f", "--watch-pid", "0"]).unwrap_err().exit, Exit::Usage);
        assert_eq!(parse(&["w", "--file", "f", "--timeout=-1"]).unwrap_err().exit, Exit::Usage);
        assert_eq!(parse(&["w", "--glob", "a[", "--count", "1"]).unwrap_err().exit, Exit::Usage);
        assert_eq!(parse(&["w", "--http", "https://x/health"]).unwrap_err().exit, Exit::Usage);
    }

    #[test]
    fn reports_are_rounded_and_explain_timeouts() {
        let r = report(
            &Outcome::TimedOut {
                elapsed: Duration::from_micros(2_000_400),
                pending: vec!["file f: missing".into()],
            },
            Duration::from_secs(2),
        );
        assert_eq!(
            r,
            Report {
                status: "timeout",
                elapsed_s: 2.0,
                reason: Some("timed out after 2 s waiting for: file f: missing".into()),
                matched: vec![],
                pending: vec!["file f: missing".into()],
            }
        );
    }
}
