//! Progress on stderr while waiting: plain lines with --progress (for logs), or one line
//! redrawn in place on a terminal.

use perfline_slurm::wait::Progress;
use std::time::{Duration, Instant};

/// How often --progress prints a line.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// How often the terminal line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_secs(1);

pub struct Shown {
    lines: bool,
    terminal: bool,
    last: Instant,
    printed: u64,
}

impl Shown {
    /// `lines`: --progress; `terminal`: redraw a line on stderr (a terminal, not --quiet).
    pub fn new(lines: bool, terminal: bool) -> Shown {
        Shown { lines, terminal, last: Instant::now(), printed: 0 }
    }

    /// Called after each poll that did not end the wait.
    pub fn show(&mut self, p: &Progress) {
        // --progress: plain lines for logs (CI), the first once the watches are in place.
        if self.lines && (self.printed == 0 || self.last.elapsed() >= PROGRESS_EVERY) {
            self.printed += 1;
            self.last = Instant::now();
            perfline::cli::say(format_args!("waitfiles: {}", line(p)));
        }
        if self.terminal && self.last.elapsed() >= REDRAW_EVERY {
            self.last = Instant::now();
            perfline::cli::say_raw(format_args!("\rwaitfiles: {}\x1b[K", line(p)));
        }
    }

    /// Clears the terminal line.
    pub fn finish(&self) {
        if self.terminal {
            perfline::cli::say_raw("\r\x1b[K");
        }
    }
}

/// `12 s: waiting for A; B`.
fn line(p: &Progress) -> String {
    format!("{:.0} s: waiting for {}", p.elapsed.as_secs_f64(), p.pending.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_what_is_pending() {
        let p = Progress {
            elapsed: Duration::from_millis(12_400),
            pending: vec!["file a: missing".into(), "http://h/health: refused".into()],
        };
        assert_eq!(line(&p), "12 s: waiting for file a: missing; http://h/health: refused");
    }
}
