//! The common shape of every tool's process: `main` → `run` → exit code, with one-line
//! diagnostics on stderr (`TOOL: error: …`) and stdout reserved for data.

use crate::exit::Exit;
use std::fmt;
use std::io;

/// A fatal error: its exit class and a one-line message (no trailing period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure { exit, message: message.into() }
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
    /// An I/O error on `path`, classified by its kind (missing, permission, other).
    pub fn io(path: impl fmt::Display, err: &io::Error) -> Failure {
        Failure::new(Exit::of_io(err), format!("{path}: {err}"))
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
        Failure::new(Exit::of_io(&err), err.to_string())
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
        eprintln!("{}: error: {}", self.tool, one_line(&message.to_string()));
        self.first.get_or_insert(exit);
        self.errors += 1;
    }
    pub fn failure(&mut self, failure: &Failure) {
        self.error(failure.exit, &failure.message);
    }
    /// Prints `TOOL: warning: MESSAGE`.
    pub fn warn(&self, message: impl fmt::Display) {
        eprintln!("{}: warning: {}", self.tool, one_line(&message.to_string()));
    }
    pub fn errors(&self) -> usize {
        self.errors
    }
    /// `Exit::Ok` when nothing was reported, else the first error's class.
    pub fn exit(&self) -> Exit {
        self.first.unwrap_or(Exit::Ok)
    }
}

/// Diagnostics are one line each: newlines in a message would split it.
pub fn one_line(message: &str) -> String {
    if message.contains(['\n', '\r']) {
        message.replace("\r\n", "\\n").replace(['\n', '\r'], "\\n")
    } else {
        message.to_string()
    }
}

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
pub fn parse_args<T: clap::Parser>() -> Result<Option<T>> {
    match T::try_parse() {
        Ok(args) => Ok(Some(args)),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Ok(None)
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad command line");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            Err(Failure::usage(format!("{first} (see --help)")))
        }
    }
}

/// Runs a tool's `run` function and turns its result into the process exit code.
///
/// ```no_run
/// fn run() -> perfline::cli::Result<perfline::Exit> { Ok(perfline::Exit::Ok) }
/// fn main() { perfline::cli::main("classify", run) }
/// ```
/// A closed stdout (`tool | head`) is not an error: the tool stops quietly with status 0.
pub fn main(tool: &'static str, run: impl FnOnce() -> Result<Exit>) -> ! {
    let code = match run() {
        Ok(exit) => exit.code(),
        Err(f) if f.exit == Exit::IoErr && f.message.contains("Broken pipe") => 0,
        Err(f) => {
            eprintln!("{tool}: error: {}", one_line(&f.message));
            f.exit.code()
        }
    };
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn messages_stay_on_one_line() {
        assert_eq!(one_line("a\nb\r\nc"), "a\\nb\\nc");
        let f = Failure::data("bad").context("f.yaml:3");
        assert_eq!(f.to_string(), "f.yaml:3: bad");
    }
}
