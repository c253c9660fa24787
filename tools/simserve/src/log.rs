//! simserve's log on stderr: the one writer of its lines, all through `perfline::cli`.
//!
//! Two kinds of line, byte for byte as trtllm-serve's log shows them, since role's health
//! checks, `launch`'s failure tails and parse-metrics read them: uvicorn's `INFO:     …`
//! lines, and simserve's own `simserve: …` lines (faults, router events). An injected error
//! keyword line is written [`raw`].

use std::fmt::Display;

/// `INFO:     MESSAGE`, as uvicorn logs (`Uvicorn running on …`, `Application startup complete.`).
pub fn info(message: impl Display) {
    perfline::cli::say(format_args!("INFO:     {message}"));
}

/// `simserve: MESSAGE` (`simserve: fatal: …`, `simserve: error: router: …`).
pub fn note(message: impl Display) {
    perfline::cli::say(format_args!("simserve: {message}"));
}

/// A line as given (an injected error keyword line, `--log-error-keyword`).
pub fn raw(line: impl Display) {
    perfline::cli::say(line);
}
