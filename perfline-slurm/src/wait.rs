//! Bounded waiting on coordination files and endpoints while watching peers, shared by
//! `waitfiles` and the role runner.
//!
//! The coordination directory lives on a shared filesystem, so everything polls (inotify does
//! not see other nodes' writes). One poll ([`Waiter::poll`]) checks the conditions first (a
//! wait whose conditions hold is ready, as the incumbent checks the status file first), then the
//! watches (a dead pid, an error keyword in a log, a failure marker a peer wrote). [`wait`]
//! repeats polls until the deadline; every step, including the HTTP check, is bounded by it.

use perfline::cli::{Failure, Result};
use perfline::exit::Exit;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The incumbent's `ERROR_KEYWORDS` (incumbent.md §4, error_utils, newest).
pub const DEFAULT_ERROR_KEYWORDS: [&str; 10] = [
    "RuntimeError",
    "out of memory",
    "ValueError",
    "FileNotFoundError",
    "ConnectionRefusedError",
    "ClientConnectorError",
    "CancelledError",
    "TimeoutError",
    "PMI2_Init failed to initialize",
    "OSError",
];

/// Default poll interval: the incumbent's `wait_for_reported_addr` polls every 0.5 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

/// Lines of a log shown with a failure.
pub const LOG_TAIL_LINES: usize = 30;

/// The longest an HTTP check may take, so a hung server cannot stall the poll loop.
const HTTP_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Something that must become true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// At least `count` paths match the glob `pattern`.
    GlobCount { pattern: String, count: usize },
    /// The file exists and is not empty.
    FileHasContent(PathBuf),
    /// `GET url` answers HTTP 200.
    Http200(String),
}

/// A peer whose failure ends the wait at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watch {
    /// The process must stay alive (and not be a zombie).
    Pid(i32),
    /// No line of the log written after `from` may contain any of the keywords.
    LogKeywords { path: PathBuf, keywords: Vec<String>, from: LogStart },
    /// The file must not exist: a peer writes it when it fails.
    FailureMarker(PathBuf),
}

/// Where a log watch starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStart {
    /// Only lines written after the watch started (the log's end then): what a peer writes
    /// now, never what an earlier run left behind.
    End,
    /// From this byte offset (0: the whole log, e.g. a log this process created).
    Offset(u64),
}

/// What to wait for, what to watch, and for how long.
#[derive(Debug, Clone)]
pub struct WaitSpec {
    pub conditions: Vec<Condition>,
    pub watches: Vec<Watch>,
    pub timeout: Duration,
    pub interval: Duration,
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every condition holds; `values` lists what matched (paths, URLs), in condition order.
    Ready { elapsed: Duration, values: Vec<String> },
    /// The deadline passed; `pending` describes each condition that did not hold.
    TimedOut { elapsed: Duration, pending: Vec<String> },
    /// A watched peer died or logged an error; `log_tail` holds the last lines of its log.
    PeerFailed { elapsed: Duration, reason: String, log_tail: Vec<String> },
}

impl Outcome {
    /// `Ok` (ready), `TempFail` (75, timed out) or `PeerFailed` (76).
    pub fn exit(&self) -> Exit {
        match self {
            Outcome::Ready { .. } => Exit::Ok,
            Outcome::TimedOut { .. } => Exit::TempFail,
            Outcome::PeerFailed { .. } => Exit::PeerFailed,
        }
    }
    pub fn elapsed(&self) -> Duration {
        match self {
            Outcome::Ready { elapsed, .. }
            | Outcome::TimedOut { elapsed, .. }
            | Outcome::PeerFailed { elapsed, .. } => *elapsed,
        }
    }
}

/// The state of a wait after one poll, for progress reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub elapsed: Duration,
    pub pending: Vec<String>,
}

/// Waits until every condition holds, a watch fails, or `spec.timeout` passes.
/// `progress` is called after each poll that did not end the wait.
pub fn wait(spec: &WaitSpec, progress: &mut dyn FnMut(&Progress)) -> Outcome {
    let mut waiter = Waiter::new(spec);
    // An absurd timeout must not overflow the clock: it is as good as forever.
    let deadline = waiter.start.checked_add(spec.timeout).unwrap_or(waiter.start + FOREVER);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match waiter.poll(remaining) {
            Poll::Done(outcome) => return outcome,
            Poll::Pending(pending) => {
                let now = Instant::now();
                if now >= deadline {
                    return Outcome::TimedOut { elapsed: now - waiter.start, pending };
                }
                progress(&Progress { elapsed: now - waiter.start, pending });
                std::thread::sleep(spec.interval.min(deadline - now));
            }
        }
    }
}

/// A deadline nobody reaches (ten years), for timeouts too large for the clock.
const FOREVER: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The result of one poll.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    Done(Outcome),
    Pending(Vec<String>),
}

/// A wait in progress, for callers that drive the polling themselves (the role runner
/// interleaves it with supervising its own child).
#[derive(Debug)]
pub struct Waiter {
    conditions: Vec<Condition>,
    logs: Vec<LogScan>,
    pids: Vec<i32>,
    markers: Vec<PathBuf>,
    start: Instant,
}

impl Waiter {
    pub fn new(spec: &WaitSpec) -> Waiter {
        let mut waiter = Waiter {
            conditions: spec.conditions.clone(),
            logs: Vec::new(),
            pids: Vec::new(),
            markers: Vec::new(),
            start: Instant::now(),
        };
        for watch in &spec.watches {
            match watch {
                Watch::Pid(pid) => waiter.pids.push(*pid),
                Watch::LogKeywords { path, keywords, from } => {
                    waiter.logs.push(LogScan::new(path.clone(), keywords.clone(), *from))
                }
                Watch::FailureMarker(path) => waiter.markers.push(path.clone()),
            }
        }
        waiter
    }

    /// Checks every condition, then every watch; `budget` bounds the HTTP checks.
    pub fn poll(&mut self, budget: Duration) -> Poll {
        let mut values = Vec::new();
        let mut pending = Vec::new();
        for condition in &self.conditions {
            match check(condition, budget) {
                Ok(mut matched) => values.append(&mut matched),
                Err(why) => pending.push(why),
            }
        }
        let elapsed = self.start.elapsed();
        if pending.is_empty() {
            return Poll::Done(Outcome::Ready { elapsed, values });
        }
        if let Some((reason, log_tail)) = self.failed_peer() {
            return Poll::Done(Outcome::PeerFailed { elapsed, reason, log_tail });
        }
        Poll::Pending(pending)
    }

    /// The first failed watch: its reason and a log tail.
    fn failed_peer(&mut self) -> Option<(String, Vec<String>)> {
        for log in &mut self.logs {
            if let Some(hit) = log.scan() {
                return Some((hit, tail_lines(&log.path, LOG_TAIL_LINES)));
            }
        }
        for marker in &self.markers {
            if marker.exists() {
                let content = tail_lines(marker, LOG_TAIL_LINES);
                let why = content.iter().find(|l| !l.trim().is_empty()).cloned();
                let reason = match why {
                    Some(line) => format!("failure marker {}: {line}", marker.display()),
                    None => format!("failure marker {} appeared", marker.display()),
                };
                let tail = if content.len() > 1 { content } else { self.watched_log_tail() };
                return Some((reason, tail));
            }
        }
        for &pid in &self.pids {
            if let Some(why) = pid_gone(pid) {
                return Some((format!("watched pid {pid} {why}"), self.watched_log_tail()));
            }
        }
        None
    }

    /// The tails of all watched logs, each headed by its path: what a dead pid leaves behind.
    fn watched_log_tail(&self) -> Vec<String> {
        let mut out = Vec::new();
        for log in &self.logs {
            let tail = tail_lines(&log.path, LOG_TAIL_LINES);
            if !tail.is_empty() {
                out.push(format!("==> {} <==", log.path.display()));
                out.extend(tail);
            }
        }
        out
    }
}

/// The least time a glob scan is given, however close the deadline.
const GLOB_SCAN_FLOOR: Duration = Duration::from_secs(1);

/// Checks one condition: what matched, or why it is still pending.
fn check(condition: &Condition, budget: Duration) -> std::result::Result<Vec<String>, String> {
    match condition {
        Condition::GlobCount { pattern, count } => {
            // Hidden files (atomic writers' `.name.tmp`) never count.
            let options =
                glob::MatchOptions { require_literal_leading_dot: true, ..Default::default() };
            let paths = glob::glob_with(pattern, options)
                .map_err(|e| format!("glob {pattern}: invalid: {e}"))?;
            // A broad pattern (`/**/x`) can walk a whole filesystem: the scan runs beside the
            // wait and is given up at the deadline (at least 1 s), never waited for without end.
            let (send, receive) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut matched: Vec<String> =
                    paths.filter_map(|p| p.ok()).map(|p| p.display().to_string()).collect();
                matched.sort();
                let _ = send.send(matched);
            });
            let Ok(matched) = receive.recv_timeout(budget.max(GLOB_SCAN_FLOOR)) else {
                return Err(format!("glob {pattern}: still scanning at the deadline (narrow it)"));
            };
            if matched.len() >= *count {
                Ok(matched)
            } else {
                Err(format!("glob {pattern}: {} of {count}", matched.len()))
            }
        }
        Condition::FileHasContent(path) => match std::fs::metadata(path) {
            Ok(m) if m.len() > 0 => Ok(vec![path.display().to_string()]),
            Ok(_) => Err(format!("file {}: empty", path.display())),
            Err(_) => Err(format!("file {}: missing", path.display())),
        },
        Condition::Http200(url) => match http_status(url, budget) {
            Ok(200) => Ok(vec![url.clone()]),
            Ok(status) => Err(format!("http {url}: status {status}")),
            Err(why) => Err(format!("http {url}: {why}")),
        },
    }
}

/// The status of `GET url`, within `min(budget, 1 s)`.
fn http_status(url: &str, budget: Duration) -> std::result::Result<u16, String> {
    let limit = budget.min(HTTP_CHECK_TIMEOUT).max(Duration::from_millis(10));
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(limit)
        .timeout(limit)
        .redirects(0)
        .user_agent("perfline-wait")
        .build();
    match agent.get(url).call() {
        Ok(response) => Ok(response.status()),
        Err(ureq::Error::Status(status, _)) => Ok(status),
        Err(ureq::Error::Transport(t)) => {
            Err(t.message().map_or_else(|| t.kind().to_string(), str::to_string))
        }
    }
}

/// One answer (or none) of an HTTP health check, classified for liveness rules: a server
/// that answers slowly is busy, one that refuses connections or answers an error status is not
/// serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// An HTTP status, with the start of the body on one line (at most 200 characters).
    Status(u16, String),
    /// Nothing listens (connection refused or the host unreachable).
    Refused(String),
    /// No answer within the limit: busy, or hung.
    TimedOut,
    /// Any other transport failure (connection reset, a malformed answer).
    Failed(String),
}

/// An HTTP client for repeated probes of one server (keeps its connection alive).
pub fn probe_agent(limit: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(limit)
        .timeout(limit)
        .redirects(0)
        .user_agent("perfline-liveness")
        .build()
}

/// `GET url` with `agent`, classified.
pub fn http_probe(agent: &ureq::Agent, url: &str) -> Probe {
    let snippet = |r: ureq::Response| {
        use std::io::Read;
        let mut body = String::new();
        let _ = r.into_reader().take(4096).read_to_string(&mut body);
        body.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect::<String>()
    };
    match agent.get(url).call() {
        Ok(response) => Probe::Status(response.status(), snippet(response)),
        Err(ureq::Error::Status(status, response)) => Probe::Status(status, snippet(response)),
        Err(ureq::Error::Transport(t)) => {
            let message = t.message().map_or_else(|| t.kind().to_string(), str::to_string);
            let mut source = std::error::Error::source(&t);
            while let Some(e) = source {
                if let Some(io) = e.downcast_ref::<std::io::Error>() {
                    use std::io::ErrorKind as K;
                    match io.kind() {
                        K::TimedOut | K::WouldBlock => return Probe::TimedOut,
                        K::ConnectionRefused => return Probe::Refused(io.to_string()),
                        _ => {}
                    }
                }
                source = e.source();
            }
            match t.kind() {
                ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns => Probe::Refused(message),
                _ => Probe::Failed(message),
            }
        }
    }
}

/// Why `pid` no longer runs, or `None` while it does.
pub fn pid_gone(pid: i32) -> Option<&'static str> {
    if pid <= 0 {
        // kill(0 or negative) would address process groups, never one peer.
        return Some("is not a valid pid");
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return Some("exited");
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the last ')' (the command name may contain parentheses).
        Ok(stat) => {
            match stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()) {
                Some('Z') | Some('X') => Some("exited (zombie)"),
                _ => None,
            }
        }
        Err(_) => None,
    }
}

/// Incremental keyword scan of a growing log: only bytes appended since the last poll are read.
#[derive(Debug)]
struct LogScan {
    path: PathBuf,
    keywords: Vec<String>,
    offset: u64,
    line_no: usize,
    /// An unterminated last line, completed by a later poll.
    partial: Vec<u8>,
}

/// The most bytes read from one log per poll, so a huge log cannot stall the wait.
const SCAN_CHUNK: u64 = 4 << 20;

impl LogScan {
    fn new(path: PathBuf, keywords: Vec<String>, from: LogStart) -> LogScan {
        let mut scan = LogScan { path, keywords, offset: 0, line_no: 0, partial: Vec::new() };
        let start = match from {
            LogStart::Offset(n) => n,
            LogStart::End => regular_file_len(&scan.path).unwrap_or(0),
        };
        if start > 0 {
            // Line numbers stay those of the whole file: count the lines before the start.
            scan.line_no = count_lines(&scan.path, start);
            scan.offset = start;
        }
        scan
    }

    /// The first new line holding a keyword, as `PATH:LINE: keyword "K": TEXT`.
    fn scan(&mut self) -> Option<String> {
        // Not there yet, or not a regular file (a FIFO would block the open): nothing to scan.
        let len = regular_file_len(&self.path)?;
        let mut file = File::open(&self.path).ok()?;
        if len < self.offset {
            // Truncated or replaced since the watch started: everything in it is new.
            let keywords = std::mem::take(&mut self.keywords);
            *self = LogScan::new(self.path.clone(), keywords, LogStart::Offset(0));
        }
        file.seek(SeekFrom::Start(self.offset)).ok()?;
        let mut fresh = Vec::new();
        file.take(SCAN_CHUNK).read_to_end(&mut fresh).ok()?;
        self.offset += fresh.len() as u64;
        self.partial.extend_from_slice(&fresh);
        let complete = match self.partial.iter().rposition(|&b| b == b'\n') {
            Some(end) => self.partial.drain(..=end).collect::<Vec<u8>>(),
            None => return None,
        };
        for line in String::from_utf8_lossy(&complete).lines() {
            self.line_no += 1;
            if let Some(k) = self.keywords.iter().find(|k| !k.is_empty() && line.contains(*k)) {
                return Some(format!(
                    "{}:{}: error keyword {k:?}: {}",
                    self.path.display(),
                    self.line_no,
                    line.trim_end()
                ));
            }
        }
        None
    }
}

/// The length of `path` when it is a regular file (after symlinks); `None` otherwise.
pub fn regular_file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len())
}

/// Newlines in the first `limit` bytes of a file (0 when it cannot be read).
fn count_lines(path: &Path, limit: u64) -> usize {
    let Ok(file) = File::open(path) else { return 0 };
    let mut reader = std::io::BufReader::new(file.take(limit));
    let mut lines = 0;
    loop {
        let buf = match std::io::BufRead::fill_buf(&mut reader) {
            Ok([]) | Err(_) => return lines,
            Ok(buf) => buf,
        };
        lines += buf.iter().filter(|&&b| b == b'\n').count();
        let n = buf.len();
        std::io::BufRead::consume(&mut reader, n);
    }
}

/// The last `n` lines of a file (lossy UTF-8); empty when it cannot be read.
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    const TAIL_BYTES: u64 = 64 << 10;
    let Some(len) = regular_file_len(path) else { return Vec::new() };
    let Ok(mut file) = File::open(path) else { return Vec::new() };
    let start = len.saturating_sub(TAIL_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // a partial first line
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| l.to_string()).collect()
}

/// Reads a reported address (`host:port`, as trtllm-serve's `--report_addr` writes it),
/// splitting on the last `:`.
pub fn read_addr(path: &Path) -> Result<(String, u16)> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::io(path.display(), &e))?;
    parse_addr(text.trim()).map_err(|why| Failure::data(format!("{}: {why}", path.display())))
}

/// Splits `host:port` on the last `:`.
pub fn parse_addr(text: &str) -> std::result::Result<(String, u16), String> {
    let (host, port) = text.rsplit_once(':').ok_or_else(|| format!("{text:?} is not host:port"))?;
    if host.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    let port = port.parse::<u16>().map_err(|_| format!("{text:?} has no valid port"))?;
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn spec(conditions: Vec<Condition>, watches: Vec<Watch>, timeout_ms: u64) -> WaitSpec {
        WaitSpec {
            conditions,
            watches,
            timeout: Duration::from_millis(timeout_ms),
            interval: Duration::from_millis(10),
        }
    }

    #[test]
    fn glob_count_is_ready_once_enough_files_exist() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = format!("{}/*.txt", dir.path().display());
        let cond = vec![Condition::GlobCount { pattern: pattern.clone(), count: 2 }];
        std::fs::write(dir.path().join("CTX_0.txt"), "h:1").unwrap();
        std::fs::write(dir.path().join(".GEN_0.txt"), "h:2").unwrap();
        let mut w = Waiter::new(&spec(cond.clone(), vec![], 0));
        assert_eq!(w.poll(Duration::ZERO), Poll::Pending(vec![format!("glob {pattern}: 1 of 2")]));
        std::fs::write(dir.path().join("GEN_0.txt"), "h:2").unwrap();
        match wait(&spec(cond, vec![], 1000), &mut |_| {}) {
            Outcome::Ready { values, .. } => assert_eq!(
                values,
                vec![
                    dir.path().join("CTX_0.txt").display().to_string(),
                    dir.path().join("GEN_0.txt").display().to_string()
                ]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_file_is_pending_and_timeout_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("addr");
        std::fs::write(&p, "").unwrap();
        let outcome =
            wait(&spec(vec![Condition::FileHasContent(p.clone())], vec![], 30), &mut |_| {});
        assert_eq!(outcome.exit(), Exit::TempFail);
        match outcome {
            Outcome::TimedOut { pending, .. } => {
                assert_eq!(pending, vec![format!("file {}: empty", p.display())]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keyword_scan_reads_only_new_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("server.log");
        let mut f = File::create(&p).unwrap();
        writeln!(f, "starting").unwrap();
        let mut scan = LogScan::new(p.clone(), vec!["RuntimeError".into()], LogStart::Offset(0));
        assert_eq!(scan.scan(), None);
        write!(f, "Runtime").unwrap();
        assert_eq!(scan.scan(), None);
        writeln!(f, "Error: boom").unwrap();
        assert_eq!(
            scan.scan(),
            Some(format!("{}:2: error keyword \"RuntimeError\": RuntimeError: boom", p.display()))
        );
        assert_eq!(scan.scan(), None, "a line is reported once");
    }

    #[test]
    fn keyword_in_log_fails_the_wait_with_a_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ctx.log");
        std::fs::write(&log, "loading\nCUDA out of memory\n").unwrap();
        let keywords = DEFAULT_ERROR_KEYWORDS.iter().map(|k| k.to_string()).collect();
        let watches =
            vec![Watch::LogKeywords { path: log.clone(), keywords, from: LogStart::Offset(0) }];
        let cond = vec![Condition::FileHasContent(dir.path().join("never"))];
        let outcome = wait(&spec(cond, watches, 5000), &mut |_| {});
        assert_eq!(outcome.exit(), Exit::PeerFailed);
        match outcome {
            Outcome::PeerFailed { reason, log_tail, .. } => {
                assert_eq!(
                    reason,
                    format!(
                        "{}:2: error keyword \"out of memory\": CUDA out of memory",
                        log.display()
                    )
                );
                assert_eq!(log_tail, vec!["loading", "CUDA out of memory"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_watch_from_the_end_ignores_what_an_earlier_run_left() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("server.log");
        std::fs::write(&p, "old run\nRuntimeError: left over\n").unwrap();
        let mut scan = LogScan::new(p.clone(), vec!["RuntimeError".into()], LogStart::End);
        assert_eq!(scan.scan(), None, "an old line is not news");
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        writeln!(f, "new run").unwrap();
        assert_eq!(scan.scan(), None);
        writeln!(f, "RuntimeError: fresh").unwrap();
        assert_eq!(
            scan.scan(),
            Some(format!("{}:4: error keyword \"RuntimeError\": RuntimeError: fresh", p.display())),
            "line numbers count the whole file"
        );
    }

    #[test]
    fn a_watch_on_a_missing_log_sees_its_first_line_and_a_fifo_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("later.log");
        let mut scan = LogScan::new(p.clone(), vec!["Traceback".into()], LogStart::End);
        assert_eq!(scan.scan(), None);
        std::fs::write(&p, "Traceback (most recent call last):\n").unwrap();
        assert!(scan.scan().is_some(), "a log created after the watch started is all new");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut scan = LogScan::new(fifo.clone(), vec!["x".into()], LogStart::End);
        assert_eq!(scan.scan(), None, "a FIFO is never opened (the open would block)");
        assert!(tail_lines(&fifo, 5).is_empty());
    }

    #[test]
    fn dead_and_zombie_pids_are_gone() {
        assert_eq!(pid_gone(std::process::id() as i32), None);
        assert_eq!(pid_gone(0), Some("is not a valid pid"));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Not reaped yet: a zombie once it exits.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_gone(pid).is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(pid_gone(pid), Some("exited (zombie)"));
        child.wait().unwrap();
        assert_eq!(pid_gone(pid), Some("exited"));
    }

    #[test]
    fn marker_fails_the_wait_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("FAILED.CTX_0");
        std::fs::write(&marker, "CTX_0 exited with status 1\n").unwrap();
        let cond = vec![Condition::FileHasContent(dir.path().join("never"))];
        let outcome =
            wait(&spec(cond, vec![Watch::FailureMarker(marker.clone())], 5000), &mut |_| {});
        match outcome {
            Outcome::PeerFailed { reason, .. } => assert_eq!(
                reason,
                format!("failure marker {}: CTX_0 exited with status 1", marker.display())
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ready_wins_over_a_failed_watch() {
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("benchmark_status.0.txt");
        std::fs::write(&done, "Done").unwrap();
        let outcome = wait(
            &spec(vec![Condition::FileHasContent(done)], vec![Watch::Pid(0)], 1000),
            &mut |_| {},
        );
        assert_eq!(outcome.exit(), Exit::Ok);
    }

    #[test]
    fn http_check_is_bounded_by_its_own_timeout() {
        // A server that accepts but never answers: the check gives up within the budget.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(http_status(&url, Duration::from_millis(200))));
        // Without its own timeout the check would never return: the test's deadline catches it.
        let status = rx.recv_timeout(Duration::from_secs(30)).expect("the check returns");
        assert!(status.is_err(), "{status:?}");
    }

    #[test]
    fn probes_are_classified() {
        let agent = probe_agent(Duration::from_millis(200));
        // Accepts but never answers: timed out (busy or hung), not refused.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/health", silent.local_addr().unwrap());
        assert_eq!(http_probe(&agent, &url), Probe::TimedOut);
        // Nothing listens any more.
        let port = silent.local_addr().unwrap().port();
        drop(silent);
        let refused = http_probe(&agent, &format!("http://127.0.0.1:{port}/health"));
        assert!(matches!(refused, Probe::Refused(_)), "{refused:?}");
        // An answer: status and the body's first line.
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/health", server.local_addr().unwrap());
        let answer = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = server.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot\nready").unwrap();
        });
        assert_eq!(http_probe(&agent, &url), Probe::Status(503, "not ready".into()));
        answer.join().unwrap();
    }

    #[test]
    fn tail_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let text: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, text).unwrap();
        let tail = tail_lines(&p, 3);
        assert_eq!(tail, vec!["line 48", "line 49", "line 50"]);
        assert!(tail_lines(&dir.path().join("missing"), 3).is_empty());
    }

    #[test]
    fn addresses_split_on_the_last_colon() {
        assert_eq!(parse_addr("node-1:8000"), Ok(("node-1".to_string(), 8000)));
        assert_eq!(parse_addr("[::1]:80"), Ok(("[::1]".to_string(), 80)));
        assert!(parse_addr("node").is_err());
        assert!(parse_addr(":80").is_err());
        assert!(parse_addr("h:99999").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.addr");
        std::fs::write(&p, "h:1\n").unwrap();
        assert_eq!(read_addr(&p).unwrap(), ("h".to_string(), 1));
        assert_eq!(read_addr(&dir.path().join("none")).unwrap_err().exit, Exit::NoInput);
    }
}
