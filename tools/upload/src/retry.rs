//! Bounded retries with exponential backoff and a total deadline.

use perfline::cli::Failure;
use std::time::{Duration, Instant};

/// How a store operation failed: worth another try, a duplicate run key (someone else
/// stored the run first), or final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    Transient(Failure),
    Duplicate,
    Fatal(Failure),
}

/// A failure outside a store operation's retry classes (schema checks) is final.
impl From<Failure> for StoreError {
    fn from(f: Failure) -> StoreError {
        StoreError::Fatal(f)
    }
}

impl StoreError {
    pub fn transient(message: impl Into<String>) -> StoreError {
        StoreError::Transient(Failure::new(perfline::Exit::Unavailable, message))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Total attempts, the first included (at least 1).
    pub attempts: u32,
    /// Pause before the second attempt; doubled each time.
    pub base: Duration,
    /// No attempt starts after this much time since the first.
    pub deadline: Duration,
}

/// The longest single pause, whatever the attempt number.
const MAX_PAUSE: Duration = Duration::from_secs(10);

impl Policy {
    /// The pause after failed attempt `n` (1-based).
    pub fn pause(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(MAX_PAUSE)
    }

    /// Runs `op` until it succeeds, fails for good, or attempts or the deadline run out.
    /// `note` hears about each transient failure that will be retried.
    pub fn run<T>(
        &self,
        mut op: impl FnMut(u32) -> Result<T, StoreError>,
        mut note: impl FnMut(u32, &Failure, Duration),
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let mut n = 1;
        loop {
            match op(n) {
                Err(StoreError::Transient(f)) if n < self.attempts.max(1) => {
                    let left = self.deadline.saturating_sub(start.elapsed());
                    let pause = self.pause(n);
                    if pause >= left {
                        return Err(StoreError::Transient(f));
                    }
                    note(n, &f, pause);
                    std::thread::sleep(pause);
                    n += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: u32) -> Policy {
        Policy { attempts, base: Duration::from_millis(1), deadline: Duration::from_secs(5) }
    }

    #[test]
    fn pauses_double_and_are_capped() {
        let p = Policy { attempts: 9, base: Duration::from_millis(200), deadline: Duration::ZERO };
        let pauses: Vec<u128> = (1..=4).map(|n| p.pause(n).as_millis()).collect();
        assert_eq!(pauses, [200, 400, 800, 1600]);
        assert_eq!(p.pause(40), MAX_PAUSE);
    }

    #[test]
    fn retries_transient_only() {
        let mut calls = 0;
        let r: Result<u32, _> = policy(5).run(
            |n| {
                calls += 1;
                if n < 3 {
                    Err(StoreError::transient("down"))
                } else {
                    Ok(n)
                }
            },
            |_, _, _| {},
        );
        assert_eq!((r, calls), (Ok(3), 3));
        let mut calls = 0;
        let r: Result<(), _> = policy(5).run(
            |_| {
                calls += 1;
                Err(StoreError::Fatal(Failure::config("bad")))
            },
            |_, _, _| {},
        );
        assert_eq!((r.is_err(), calls), (true, 1));
        let mut calls = 0;
        let r: Result<(), _> = policy(3).run(
            |_| {
                calls += 1;
                Err(StoreError::transient("down"))
            },
            |_, _, _| {},
        );
        assert!(matches!(r, Err(StoreError::Transient(_))));
        assert_eq!(calls, 3);
    }

    #[test]
    fn deadline_stops_before_a_long_pause() {
        let p = Policy {
            attempts: 10,
            base: Duration::from_secs(60),
            deadline: Duration::from_secs(1),
        };
        let mut calls = 0;
        let r: Result<(), _> = p.run(
            |_| {
                calls += 1;
                Err(StoreError::transient("down"))
            },
            |_, _, _| {},
        );
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
