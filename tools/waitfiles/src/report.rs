//! The one JSON result waitfiles prints.

use perfline_slurm::wait::Outcome;
use serde::Serialize;
use std::time::Duration;

/// The JSON result on stdout.
#[derive(Serialize, Debug, PartialEq)]
pub struct Report {
    pub status: &'static str,
    pub elapsed_s: f64,
    pub reason: Option<String>,
    pub matched: Vec<String>,
    pub pending: Vec<String>,
}

/// The result of a finished wait; a timeout names what it waited for.
pub fn report(outcome: &Outcome, timeout: Duration) -> Report {
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
