//! The common shape of every tool's process: `main` → `run` → exit code, with one-line
//! diagnostics on stderr (`TOOL: error: …`) and stdout reserved for data.
//!
//! A closed stdout or stderr never panics a tool: [`main`] ends quietly (status 0) when the
//! reader of stdout went away (`tool | head`), recognised by the error's kind
//! ([`Failure::is_broken_pipe`]), and diagnostics go through [`diag`], which drops what a
//! closed stderr cannot take instead of panicking as `eprintln!` does.
//!
//! This module is the one path to stderr ([`diag`], [`say`], [`say_raw`]) and holds the only
//! print macros of non-test code (tidy rules `print-macro` and `stderr-path`).

use crate::exit::Exit;
use std::fmt;
use std::io::{self, Write};

/// A fatal error: its exit class and a one-line message (no trailing period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// The kind of the I/O error behind it, if any (a broken pipe is told by this, not by
    /// the message text).
    pub io_kind: Option<io::ErrorKind>,
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure { exit, message: message.into(), io_kind: None }
    }
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }
    pub fn data(message: impl Into<String>) -> Failure {
        Failure::new(Exit::DataErr, message)
    }
    pub fn config(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Config, message)
    }
    pub fn software(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Software, message)
    }
    /// An I/O error on `path`, classified by its kind (missing, permission, other). A missing
    /// file gets the next step when its directory holds a similar name (`did you mean
    /// testlists/e2e-slurm.txt?`).
    pub fn io(path: impl fmt::Display, err: &io::Error) -> Failure {
        let path = path.to_string();
        let hint = match err.kind() {
            io::ErrorKind::NotFound => {
                similar_file(&path).map(|p| format!("; did you mean {p}?")).unwrap_or_default()
            }
            _ => String::new(),
        };
        Failure {
            io_kind: Some(err.kind()),
            ..Failure::new(Exit::of_io(err), format!("{path}: {err}{hint}"))
        }
    }
    /// The reader of our output went away (`EPIPE`): not an error of the tool.
    pub fn is_broken_pipe(&self) -> bool {
        self.io_kind == Some(io::ErrorKind::BrokenPipe)
    }
    /// Prefixes the message with some context, e.g. a file name.
    pub fn context(mut self, ctx: impl fmt::Display) -> Failure {
        self.message = format!("{ctx}: {}", self.message);
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Failure {
        Failure { io_kind: Some(err.kind()), ..Failure::new(Exit::of_io(&err), err.to_string()) }
    }
}

/// Collects non-fatal per-record errors: each is printed at once as one line and the
/// stream goes on; the tool then exits with the first error's class.
#[derive(Debug)]
pub struct Reporter {
    tool: &'static str,
    first: Option<Exit>,
    errors: usize,
}

impl Reporter {
    pub fn new(tool: &'static str) -> Reporter {
        Reporter { tool, first: None, errors: 0 }
    }
    /// Prints `TOOL: error: MESSAGE` and remembers the class.
    pub fn error(&mut self, exit: Exit, message: impl fmt::Display) {
        diag(self.tool, "error", message);
        self.first.get_or_insert(exit);
        self.errors += 1;
    }
    pub fn failure(&mut self, failure: &Failure) {
        self.error(failure.exit, &failure.message);
    }
    /// Prints `TOOL: warning: MESSAGE`.
    pub fn warn(&self, message: impl fmt::Display) {
        diag(self.tool, "warning", message);
    }
    pub fn errors(&self) -> usize {
        self.errors
    }
    /// An input with no record at all (`source`: a file, or `-` for stdin): an error (66,
    /// `NoInput`) naming the likely cause (`hint`, e.g. "did nodecount fail?"), or with
    /// `allow_empty` a warning.
    pub fn no_records(&mut self, source: &str, what: &str, hint: &str, allow_empty: bool) {
        let on = if source == "-" { "on stdin".to_string() } else { format!("in {source}") };
        if allow_empty {
            self.warn(format!("no {what} {on}; nothing to do (--allow-empty)"));
        } else {
            let why = format!("no {what} {on}; nothing done ({hint} --allow-empty exits 0)");
            self.error(Exit::NoInput, why);
        }
    }
    /// `Exit::Ok` when nothing was reported, else the first error's class.
    pub fn exit(&self) -> Exit {
        self.first.unwrap_or(Exit::Ok)
    }
}

/// Writes `TOOL: LEVEL: MESSAGE` (one line) to stderr. A closed or failing stderr is ignored:
/// a diagnostic that cannot be shown must not panic or stop the tool.
///
/// A message longer than [`LINE_MAX`] bytes (an echoed value of unbounded size) keeps its
/// head and its tail (the reason) around a [`shorten`]ed middle.
pub fn diag(tool: &str, level: &str, message: impl fmt::Display) {
    to_stderr(&format!("{tool}: {level}: {}\n", cap_line(&one_line(&message.to_string()))));
}

/// Writes `line` and a newline to stderr exactly as given (no prefix, no shortening): a
/// progress or log line whose form its readers rely on (simserve's trtllm-like log lines,
/// role's `role: NAME: …`, a quoted log tail). Like [`diag`], a closed stderr is ignored.
pub fn say(line: impl fmt::Display) {
    to_stderr(&format!("{line}\n"));
}

/// Writes `text` to stderr exactly as given, without a newline: a terminal progress line
/// redrawn in place (`\r…\x1b[K`). A closed stderr is ignored.
pub fn say_raw(text: impl fmt::Display) {
    to_stderr(&text.to_string());
}

/// Whether stderr is a terminal (progress is then redrawn in place rather than logged).
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    io::stderr().is_terminal()
}

/// The one path to stderr: the whole text in one locked write (lines of concurrent threads
/// do not interleave), errors dropped (a diagnostic that cannot be shown must not panic).
fn to_stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Writes `line` and a newline to stdout and flushes it: one line of data a parent process
/// waits for (a listening address). The error is returned: a closed stdout is a broken pipe
/// that [`main`] ends on quietly.
pub fn out_line(line: impl fmt::Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(format!("{line}\n").as_bytes())?;
    out.flush()
}

/// How many characters of an echoed value an error line shows ([`shorten`]).
pub const SHOWN: usize = 200;

/// The most bytes of a diagnostic's message before [`diag`] shortens it (to about 350 bytes):
/// long enough for a list of absolute search paths (over 1 KB in the corpus), far short of an
/// echoed 10 MB input.
pub const LINE_MAX: usize = 4096;

/// A value as echoed in a diagnostic: at most `max` characters, then `…` and its full size
/// (`first 200 chars… (10000005 bytes)`), so a 10 MB input never makes a 10 MB error line.
pub fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((cut, _)) => format!("{}… ({} bytes)", &s[..cut], s.len()).into(),
    }
}

/// A message of at most about [`LINE_MAX`] bytes: an overlong one keeps its first [`SHOWN`]
/// characters (the `FILE:LINE:` and the value's start) and its last 120 (the reason).
pub fn cap_line(message: &str) -> std::borrow::Cow<'_, str> {
    const TAIL: usize = 120;
    if message.len() <= LINE_MAX {
        return std::borrow::Cow::Borrowed(message);
    }
    let chars = message.chars().count();
    if chars <= SHOWN + TAIL {
        return std::borrow::Cow::Borrowed(message);
    }
    let tail_at = message.char_indices().nth(chars - TAIL).map_or(message.len(), |(i, _)| i);
    let (head, tail) = message.split_at(tail_at);
    format!("{} … {tail}", shorten(head, SHOWN)).into()
}

/// Diagnostics are one line each: newlines in a message would split it.
pub fn one_line(message: &str) -> String {
    if message.contains(['\n', '\r']) {
        message.replace("\r\n", "\\n").replace(['\n', '\r'], "\\n")
    } else {
        message.to_string()
    }
}

/// The names among `candidates` close to `wanted` (edit distance at most 2, ignoring case, or
/// at most a third of the name for long names), closest first, at most 3.
pub fn did_you_mean<I: IntoIterator<Item = String>>(wanted: &str, candidates: I) -> Vec<String> {
    let w = wanted.to_lowercase();
    let limit = (w.chars().count() / 3).clamp(1, 2);
    let mut close: Vec<(usize, String)> = candidates
        .into_iter()
        .filter(|c| c != wanted)
        .filter_map(|c| {
            let d = edit_distance(&w, &c.to_lowercase());
            (d <= limit).then_some((d, c))
        })
        .collect();
    close.sort();
    close.dedup();
    close.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A file beside the missing `path` with a similar name (`testlists/e2e-slurm.txt` for
/// `testlists/e2e-slurm.tx`), as `path` spells its directory.
fn similar_file(path: &str) -> Option<String> {
    let p = std::path::Path::new(path);
    let name = p.file_name()?.to_str()?;
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
    let names = std::fs::read_dir(dir.unwrap_or(std::path::Path::new(".")))
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok());
    let best = did_you_mean(name, names).into_iter().next()?;
    Some(dir.map_or(best.clone(), |d| d.join(&best).display().to_string()))
}

/// The environment variable that makes [`parse_args`] parse and stop.
pub const CHECK_ARGS_ENV: &str = "PERFLINE_CHECK_ARGS";

/// Parses the command line with clap. `--help` and `--version` print and give `Ok(None)` (the
/// tool then exits 0); a usage error is a one-line `Failure` of class `Usage` (64, the exit
/// table's, not clap's 2).
///
/// ```no_run
/// # #[derive(clap::Parser)] struct Args {}
/// # fn run() -> perfline::cli::Result<perfline::Exit> {
/// let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(perfline::Exit::Ok) };
/// # Ok(perfline::Exit::Ok) }
/// ```
///
/// With `PERFLINE_CHECK_ARGS=1` in the environment a tool only parses its command line and
/// exits (0 when it parses, 64 when not) without reading input or running anything: the test
/// of every `--help` example's syntax uses it (`Args::try_parse_from` on the example's words,
/// from outside the tool's crate).
pub fn parse_args<T: clap::Parser>() -> Result<Option<T>> {
    match T::try_parse() {
        Ok(_) if std::env::var_os(CHECK_ARGS_ENV).is_some_and(|v| v == "1") => Ok(None),
        Ok(args) => Ok(Some(args)),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Ok(None)
        }
        Err(e) => Err(Failure::usage(clap_message(&e.to_string()))),
    }
}

/// Folds clap's rendered error into one diagnostic line that keeps all of it but the usage
/// block: the error, the arguments it lists (`the following required arguments were not
/// provided: --store <URL>`) and its tips (`tip: a similar argument exists: '--cluster'`).
pub fn clap_message(rendered: &str) -> String {
    let mut head = String::new();
    let mut items: Vec<&str> = Vec::new();
    let mut tips: Vec<&str> = Vec::new();
    for line in rendered.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Usage:") || trimmed.starts_with("For more information") {
            break;
        }
        if trimmed.is_empty() {
            continue;
        }
        if head.is_empty() {
            head = trimmed.strip_prefix("error: ").unwrap_or(trimmed).to_string();
        } else if let Some(tip) = trimmed.strip_prefix("tip: ") {
            tips.push(tip);
        } else {
            items.push(trimmed);
        }
    }
    if head.is_empty() {
        head = "bad command line".to_string();
    }
    if !items.is_empty() {
        let sep = if head.ends_with(':') { " " } else { ": " };
        head = format!("{head}{sep}{}", items.join(", "));
    }
    for tip in tips {
        head = format!("{head}; {tip}");
    }
    format!("{head} (see --help)")
}

/// Runs a tool's `run` function and turns its result into the process exit code.
///
/// ```no_run
/// fn run() -> perfline::cli::Result<perfline::Exit> { Ok(perfline::Exit::Ok) }
/// fn main() { perfline::cli::main("classify", run) }
/// ```
/// A closed stdout (`tool | head`) is not an error: the tool stops quietly with status 0.
/// A closed stderr only loses the diagnostic; the exit code is kept.
pub fn main(tool: &'static str, run: impl FnOnce() -> Result<Exit>) -> ! {
    let _ = TOOL.set(tool);
    std::process::exit(code(tool, run()))
}

/// The running tool's name, set by [`main`].
static TOOL: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// When a tool is about to read `what` from stdin and stdin is a terminal (a newcomer ran it
/// without a pipe and it seems to hang), says so on stderr with the next step.
pub fn note_terminal_stdin(what: &str) {
    use std::io::IsTerminal;
    if io::stdin().is_terminal() {
        let tool = TOOL.get().copied().unwrap_or("perfline");
        diag(
            tool,
            "note",
            format!(
                "reading {what} from the terminal: pipe them in (e.g. classify LIST | nodecount | launch) or end with Ctrl-D"
            ),
        );
    }
}

/// The exit code of a tool's result (printing the error, if any): a broken pipe is 0.
pub fn code(tool: &str, result: Result<Exit>) -> i32 {
    match result {
        Ok(exit) => exit.code(),
        Err(f) if f.is_broken_pipe() => 0,
        Err(f) => {
            diag(tool, "error", &f.message);
            f.exit.code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_caps_a_value_and_names_its_size() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "abc… (4 bytes)");
        assert_eq!(shorten("ééé", 2), "éé… (6 bytes)");
        let big = "y".repeat(10_000_000);
        assert_eq!(shorten(&big, SHOWN), format!("{}… (10000000 bytes)", "y".repeat(200)));
    }

    #[test]
    fn cap_line_keeps_head_and_reason() {
        assert_eq!(cap_line("a.txt:1: x: bad"), "a.txt:1: x: bad");
        let message = format!("a.txt:1: {}: no such config", "y".repeat(10_000_000));
        let capped = cap_line(&message);
        assert!(capped.len() <= 500, "{}", capped.len());
        assert!(capped.starts_with("a.txt:1: yyy"), "{capped}");
        assert!(capped.contains("… (9999905 bytes) … "), "{capped}");
        assert!(capped.ends_with("yyy: no such config"), "{capped}");
    }

    #[test]
    fn reporter_keeps_first_class() {
        let mut r = Reporter::new("t");
        assert_eq!(r.exit(), Exit::Ok);
        r.error(Exit::DataErr, "a.txt:3: x: bad");
        r.error(Exit::NoInput, "missing");
        assert_eq!(r.exit(), Exit::DataErr);
        assert_eq!(r.errors(), 2);
    }

    #[test]
    fn broken_pipe_is_told_by_kind_not_text() {
        let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
        let f = Failure::io("stdout", &pipe);
        assert!(f.is_broken_pipe());
        assert_eq!(f.exit, Exit::IoErr);
        assert_eq!(code("t", Err(f)), 0);
        assert!(Failure::from(io::Error::from(io::ErrorKind::BrokenPipe)).is_broken_pipe());
        // The words alone do not make one: a data error quoting them still fails.
        let quoted = Failure::new(Exit::IoErr, "input.log:3: Broken pipe (os error 32) in text");
        assert!(!quoted.is_broken_pipe());
        assert_eq!(code("t", Err(quoted)), 74);
        let other = Failure::io("out.csv", &io::Error::other("disk full"));
        assert!(!other.is_broken_pipe());
        assert!(!Failure::data("bad").context("x").is_broken_pipe());
        assert_eq!(code("t", Ok(Exit::Failed)), 1);
    }

    #[test]
    fn clap_errors_keep_their_lists_and_tips() {
        #[derive(clap::Parser, Debug)]
        #[command(name = "t")]
        struct A {
            #[arg(long)]
            store: String,
            #[arg(long)]
            cluster: Option<String>,
            #[arg(long)]
            columns: Option<String>,
        }
        use clap::Parser;
        let msg = |argv: &[&str]| clap_message(&A::try_parse_from(argv).unwrap_err().to_string());
        assert_eq!(
            msg(&["t"]),
            "the following required arguments were not provided: --store <STORE> (see --help)"
        );
        assert_eq!(
            msg(&["t", "--store", "s", "--clustr", "x"]),
            "unexpected argument '--clustr' found; a similar argument exists: '--cluster' (see --help)"
        );
        assert_eq!(
            msg(&["t", "--store", "s", "--columns"]),
            "a value is required for '--columns <COLUMNS>' but none was supplied (see --help)"
        );
        assert_eq!(clap_message(""), "bad command line (see --help)");
    }

    #[test]
    fn a_missing_file_suggests_a_similar_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e2e-slurm.txt"), "").unwrap();
        std::fs::write(dir.path().join("other.yaml"), "").unwrap();
        let missing = dir.path().join("e2e-slurm.tx");
        let err = io::Error::from(io::ErrorKind::NotFound);
        let f = Failure::io(missing.display(), &err);
        assert_eq!(f.exit, Exit::NoInput);
        assert_eq!(
            f.message,
            format!(
                "{}: {err}; did you mean {}?",
                missing.display(),
                dir.path().join("e2e-slurm.txt").display()
            )
        );
        let far = dir.path().join("nothing-like-it.txt");
        assert_eq!(Failure::io(far.display(), &err).message, format!("{}: {err}", far.display()));
        assert_eq!(
            did_you_mean("gb200", ["gb200-pyxis".into(), "local".into()]),
            Vec::<String>::new()
        );
        assert_eq!(did_you_mean("locl", ["gb200-pyxis".into(), "local".into()]), ["local"]);
        assert_eq!(
            did_you_mean("local_agg_tine.yaml", ["local_agg_tiny.yaml".into(), "x.yaml".into()]),
            ["local_agg_tiny.yaml"]
        );
    }

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(one_line("a\nb\r\nc"), "a\\nb\\nc");
        let f = Failure::data("bad").context("f.yaml:3");
        assert_eq!(f.to_string(), "f.yaml:3: bad");
    }
}
