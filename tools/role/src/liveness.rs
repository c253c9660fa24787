//! Liveness after ready: while the benchmark runs, a server role (and the router) polls its
//! server's `/health` once a second from a background thread, so the supervise loop never
//! blocks on HTTP. A server whose process lives on while its engine is dead answers 503 (or
//! stops listening); the role then fails the job with the reason and the log tail.
//!
//! What counts (the rule is [`Liveness::observe`]):
//! - **200** resets everything.
//! - **A definite bad answer**: any other status, a refused connection (nothing listens), or
//!   another transport failure (reset, malformed answer). After one, the next poll comes after
//!   [`CONFIRM_INTERVAL`] instead of [`INTERVAL`]; `fail_after` of them since the last 200 fail
//!   the role (servers: 3, so bad for 1 s; with the poll's phase and the job's teardown the job
//!   is gone within 3 s of the fault).
//! - **No answer within [`PROBE_TIMEOUT`]** is a busy server, not a failure: a server under
//!   full load may answer `/health` late. It neither counts as bad nor resets the count. Only
//!   [`SILENT_POLLS`] such polls in a row, without any answer in between (a hung server, about
//!   a minute), fail the role.

use perfline::wait::Probe;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// How often `/health` is polled.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How soon a bad answer is polled again, to confirm it.
pub const CONFIRM_INTERVAL: Duration = Duration::from_millis(500);
/// How long one poll waits for an answer; later is "busy", which never fails the job alone.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bad answers since the last 200 that fail a server role (bad for 1 s).
pub const SERVER_FAIL_AFTER: u32 = 3;
/// The router's `/health` is 503 whenever a worker's is: it waits for 4 more bad answers (2 s
/// longer, more than a poll's phase), so a failing worker reports itself (the cause) first.
pub const ROUTER_FAIL_AFTER: u32 = SERVER_FAIL_AFTER + 4;
/// Polls in a row without any answer that fail the role (a hung server).
pub const SILENT_POLLS: u32 = 30;

/// The counting rule: feed it every probe, in order; it says when the server is to be
/// considered dead.
#[derive(Debug, Clone)]
pub struct Liveness {
    fail_after: u32,
    bad: u32,
    silent: u32,
    last_bad: String,
    first_bad: Option<Instant>,
}

impl Liveness {
    pub fn new(fail_after: u32) -> Liveness {
        Liveness {
            fail_after: fail_after.max(1),
            bad: 0,
            silent: 0,
            last_bad: String::new(),
            first_bad: None,
        }
    }

    /// Counts one probe, answered `at`; `Some(reason)` once the server is to be considered dead.
    pub fn observe(&mut self, probe: &Probe, at: Instant) -> Option<String> {
        let bad = match probe {
            Probe::Status(200, _) => {
                self.bad = 0;
                self.silent = 0;
                self.first_bad = None;
                return None;
            }
            Probe::TimedOut => {
                self.silent += 1;
                return (self.silent >= SILENT_POLLS).then(|| {
                    format!(
                        "/health did not answer within {} s for {} polls in a row (server hung)",
                        PROBE_TIMEOUT.as_secs(),
                        self.silent
                    )
                });
            }
            Probe::Status(status, body) if body.is_empty() => status.to_string(),
            Probe::Status(status, body) => format!("{status} ({body})"),
            Probe::Refused(why) => format!("connection refused ({why})"),
            Probe::Failed(why) => format!("failed ({why})"),
        };
        self.silent = 0;
        self.bad += 1;
        self.last_bad = bad;
        let first = *self.first_bad.get_or_insert(at);
        (self.bad >= self.fail_after).then(|| {
            format!(
                "/health {} for {:.1} s ({} bad answers since the last 200; the process lives)",
                self.last_bad,
                at.saturating_duration_since(first).as_secs_f64(),
                self.bad
            )
        })
    }
}

/// The background poller: probes `url` every [`INTERVAL`] (after a bad answer, after
/// [`CONFIRM_INTERVAL`]) until the receiver is dropped.
pub struct Poller {
    rx: Receiver<(Probe, Instant)>,
    rule: Liveness,
}

impl Poller {
    pub fn start(url: &str, fail_after: u32) -> Poller {
        let (tx, rx) = std::sync::mpsc::channel();
        let url = url.to_string();
        std::thread::spawn(move || {
            let agent = perfline::wait::probe_agent(PROBE_TIMEOUT);
            loop {
                let started = Instant::now();
                let probe = perfline::wait::http_probe(&agent, &url);
                let next = match probe {
                    Probe::Status(200, _) | Probe::TimedOut => INTERVAL,
                    _ => CONFIRM_INTERVAL,
                };
                if tx.send((probe, Instant::now())).is_err() {
                    return; // the role is done with this server
                }
                std::thread::sleep(next.saturating_sub(started.elapsed()));
            }
        });
        Poller { rx, rule: Liveness::new(fail_after) }
    }

    /// Counts the probes that arrived since the last call (never blocks); `Some(reason)` when
    /// the server is to be considered dead.
    pub fn check(&mut self) -> Option<String> {
        loop {
            match self.rx.try_recv() {
                Ok((probe, at)) => {
                    if let Some(why) = self.rule.observe(&probe, at) {
                        return Some(why);
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Probe {
        Probe::Status(200, String::new())
    }
    fn s503() -> Probe {
        Probe::Status(503, String::new())
    }

    /// Feeds the probes half a second apart.
    fn feed(rule: &mut Liveness, probes: &[Probe]) -> Vec<Option<String>> {
        let t0 = Instant::now();
        probes
            .iter()
            .enumerate()
            .map(|(i, p)| rule.observe(p, t0 + CONFIRM_INTERVAL * i as u32))
            .collect()
    }

    #[test]
    fn three_bad_answers_fail_a_server() {
        let mut rule = Liveness::new(SERVER_FAIL_AFTER);
        let seen = feed(&mut rule, &[ok(), s503(), s503(), s503()]);
        assert_eq!(&seen[..3], &[None, None, None]);
        assert_eq!(
            seen[3].as_deref(),
            Some("/health 503 for 1.0 s (3 bad answers since the last 200; the process lives)")
        );
    }

    #[test]
    fn a_200_resets_the_count() {
        let mut rule = Liveness::new(SERVER_FAIL_AFTER);
        let seen = feed(&mut rule, &[s503(), s503(), ok(), s503(), s503()]);
        assert!(seen.iter().all(Option::is_none), "{seen:?}");
        assert!(rule.observe(&s503(), Instant::now()).is_some());
    }

    #[test]
    fn refused_and_other_statuses_count_and_are_named() {
        let mut rule = Liveness::new(SERVER_FAIL_AFTER);
        let seen = feed(
            &mut rule,
            &[
                Probe::Status(500, "{\"unhealthy\":[\"h:1\"]}".into()),
                Probe::Failed("reset".into()),
                Probe::Refused("Connection refused (os error 111)".into()),
            ],
        );
        assert_eq!(
            seen[2].as_deref(),
            Some(
                "/health connection refused (Connection refused (os error 111)) for 1.0 s \
                 (3 bad answers since the last 200; the process lives)"
            )
        );
        let mut rule = Liveness::new(1);
        assert_eq!(
            rule.observe(&Probe::Status(503, "{\"unhealthy\":[\"h:1\"]}".into()), Instant::now())
                .as_deref(),
            Some(
                "/health 503 ({\"unhealthy\":[\"h:1\"]}) for 0.0 s (1 bad answers since the \
                 last 200; the process lives)"
            )
        );
    }

    #[test]
    fn a_busy_server_is_not_failed_eagerly() {
        let mut rule = Liveness::new(SERVER_FAIL_AFTER);
        // Slow answers between bad ones neither count nor reset.
        let seen = feed(&mut rule, &[s503(), Probe::TimedOut, s503(), Probe::TimedOut]);
        assert!(seen.iter().all(Option::is_none), "{seen:?}");
        assert!(rule.observe(&s503(), Instant::now()).is_some());
        // A busy server that answers now and then is never failed.
        let mut rule = Liveness::new(SERVER_FAIL_AFTER);
        for _ in 0..10 {
            let mut probes = vec![Probe::TimedOut; (SILENT_POLLS - 1) as usize];
            probes.push(ok());
            assert!(feed(&mut rule, &probes).iter().all(Option::is_none));
        }
    }

    #[test]
    fn a_hung_server_fails_after_the_silent_limit() {
        let mut rule = Liveness::new(SERVER_FAIL_AFTER);
        let probes = vec![Probe::TimedOut; SILENT_POLLS as usize];
        let seen = feed(&mut rule, &probes);
        assert!(seen[..seen.len() - 1].iter().all(Option::is_none));
        assert_eq!(
            seen.last().unwrap().as_deref(),
            Some("/health did not answer within 2 s for 30 polls in a row (server hung)")
        );
        // A bad answer in between restarts the silent count.
        let mut rule = Liveness::new(SERVER_FAIL_AFTER);
        let mut probes = vec![Probe::TimedOut; (SILENT_POLLS - 1) as usize];
        probes.push(s503());
        probes.extend(vec![Probe::TimedOut; (SILENT_POLLS - 1) as usize]);
        assert!(feed(&mut rule, &probes).iter().all(Option::is_none));
    }

    #[test]
    fn the_router_waits_longer_than_its_workers() {
        let mut rule = Liveness::new(ROUTER_FAIL_AFTER);
        let seen = feed(&mut rule, &vec![s503(); 7]);
        assert_eq!(seen.iter().filter(|s| s.is_some()).count(), 1);
        assert!(seen[6].as_deref().unwrap().starts_with("/health 503 for 3.0 s (7 bad answers"));
    }

    #[test]
    fn the_poller_reports_a_dead_listener() {
        // Nothing listens on this port: every probe is refused. Bounded by its own deadline.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut poller = Poller::start(&format!("http://127.0.0.1:{port}/health"), 2);
        let until = Instant::now() + Duration::from_secs(30);
        let why = loop {
            if let Some(why) = poller.check() {
                break why;
            }
            assert!(Instant::now() < until, "the poller never reported");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(why.starts_with("/health connection refused"), "{why}");
        assert!(why.contains("(2 bad answers since the last 200"), "{why}");
    }
}
