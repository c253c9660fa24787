//! Liveness after ready: while the benchmark runs, a server role (and the router) polls its
//! server's `/health` from a background thread, so the supervise loop never blocks on HTTP. A
//! server whose process lives on while its engine is dead answers 503 (or stops listening), or
//! stops answering at all (frozen: SIGSTOP, a deadlocked engine; the kernel still accepts the
//! connection); the role then fails the job with the reason and the log tail.
//!
//! What counts (the rule is [`Liveness`]: [`Liveness::observe`] for each answer,
//! [`Liveness::silence`] on every tick of the role):
//! - **200** resets the bad count.
//! - **A definite bad answer**: any other status, a refused connection (nothing listens), or
//!   another transport failure (reset, malformed answer). After one, the next poll comes after
//!   [`CONFIRM_INTERVAL`] instead of [`INTERVAL`]; `fail_after` of them since the last 200 fail
//!   the role (servers: 3, so bad for 1 s; with the poll's phase and the job's teardown the job
//!   is gone within 3 s of the fault).
//! - **A slow answer is busy, never a failure alone.** A probe waits up to `hung_after` for an
//!   answer; an answer later than [`PROBE_TIMEOUT`] is slow (a server under full load may
//!   answer `/health` late) but it is an answer: it ends the silence.
//! - **Hung**: no answer of any kind (not even a refusal or a reset) for `hung_after` since the
//!   last one (the profile's `hung_after`, default 10 s: `perfline_slurm::DEFAULT_HUNG_AFTER`)
//!   **and** no progress: the server's log has not grown for `hung_after` either (a frozen
//!   process writes nothing; an engine that still logs its iterations is busy). A server that
//!   stays silent while its log keeps growing is failed only after [`STILL_LOGGING_FACTOR`] ×
//!   `hung_after` (a live logger whose HTTP side is dead).
//! - **The router** speaks for its workers: its `/health` is bad whenever a worker's is bad or
//!   silent. It fails after 7 bad answers that also span `hung_after` + [`ROUTER_EXTRA`], and
//!   is hung after that much silence, so a failing or frozen worker reports itself (the cause)
//!   first.
//!
//! A frozen server is therefore called hung about `hung_after` after the freeze (its last
//! answer came before it; its last log growth is seen within a tick), and the role kills it
//! without a grace period (it cannot act on SIGTERM while stopped).

use perfline_slurm::wait::Probe;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// How often `/health` is polled.
pub const INTERVAL: Duration = Duration::from_millis(1000);
/// How soon a bad answer is polled again, to confirm it.
pub const CONFIRM_INTERVAL: Duration = Duration::from_millis(500);
/// An answer later than this is slow: the server is busy (still an answer, never a failure).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A silent server whose log still grows is failed after this many times `hung_after`.
pub const STILL_LOGGING_FACTOR: u32 = 6;
/// The router waits this much longer than its workers before it is called hung.
pub const ROUTER_EXTRA: Duration = Duration::from_secs(4);
/// Bad answers since the last 200 that fail a server role (bad for 1 s).
pub const SERVER_FAIL_AFTER: u32 = 3;
/// The router's `/health` is 503 whenever a worker's is: it waits for 4 more bad answers (2 s
/// longer, more than a poll's phase), so a failing worker reports itself (the cause) first.
pub const ROUTER_FAIL_AFTER: u32 = SERVER_FAIL_AFTER + 4;

/// The limits of one server's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bad answers since the last 200 that fail the role.
    pub fail_after: u32,
    /// Silence (no answer, no log growth) that makes the server hung.
    pub hung_after: Duration,
    /// How long the bad answers must last too (the router's: its `/health` speaks for its
    /// workers).
    pub bad_for: Duration,
}

impl Limits {
    /// A server role's limits for the profile's `hung_after`.
    pub fn server(hung_after: Duration) -> Limits {
        Limits { fail_after: SERVER_FAIL_AFTER, hung_after, bad_for: Duration::ZERO }
    }

    /// The router's: later than its workers', so a failing worker is named first. Its
    /// `/health` is bad whenever a worker's is bad or silent (it asks them with a short
    /// limit), so its bad answers must also last as long as a worker may take to be called
    /// hung, plus [`ROUTER_EXTRA`].
    pub fn router(hung_after: Duration) -> Limits {
        let later = hung_after + ROUTER_EXTRA;
        Limits { fail_after: ROUTER_FAIL_AFTER, hung_after: later, bad_for: later }
    }
}

/// The counting rule: feed it every answer in order ([`Liveness::observe`]) and the time and
/// the server log's length on every tick ([`Liveness::silence`]); each says when the server is
/// to be considered dead.
#[derive(Debug, Clone)]
pub struct Liveness {
    limits: Limits,
    bad: u32,
    last_bad: String,
    first_bad: Option<Instant>,
    /// The last answer of any kind (or when watching began).
    last_answer: Instant,
    /// The server log's length when last seen, and since when it has been that long.
    log: Option<u64>,
    log_moved: Instant,
}

impl Liveness {
    /// A rule that starts watching `at` (the server just answered 200: it is ready).
    pub fn new(limits: Limits, at: Instant) -> Liveness {
        Liveness {
            limits: Limits { fail_after: limits.fail_after.max(1), ..limits },
            bad: 0,
            last_bad: String::new(),
            first_bad: None,
            last_answer: at,
            log: None,
            log_moved: at,
        }
    }

    /// Counts one probe, answered `at`; `Some(reason)` once the server is to be considered dead.
    pub fn observe(&mut self, probe: &Probe, at: Instant) -> Option<String> {
        if *probe != Probe::TimedOut {
            self.last_answer = self.last_answer.max(at);
        }
        let bad = match probe {
            Probe::Status(200, _) => {
                self.bad = 0;
                self.first_bad = None;
                return None;
            }
            // No answer: only the silence counts (Liveness::silence).
            Probe::TimedOut => return None,
            Probe::Status(status, body) if body.is_empty() => status.to_string(),
            Probe::Status(status, body) => format!("{status} ({body})"),
            Probe::Refused(why) => format!("connection refused ({why})"),
            Probe::Failed(why) => format!("failed ({why})"),
        };
        self.bad += 1;
        self.last_bad = bad;
        let first = *self.first_bad.get_or_insert(at);
        let lasted = at.saturating_duration_since(first) >= self.limits.bad_for;
        (self.bad >= self.limits.fail_after && lasted).then(|| {
            format!(
                "/health {} for {:.1} s ({} bad answers since the last 200; the process lives)",
                self.last_bad,
                at.saturating_duration_since(first).as_secs_f64(),
                self.bad
            )
        })
    }

    /// Checks the silence `now`, given the server log's length (`None`: no log to read);
    /// `Some(reason)` once the server is hung.
    pub fn silence(&mut self, now: Instant, log_len: Option<u64>) -> Option<String> {
        if log_len != self.log {
            if self.log.is_some() {
                self.log_moved = self.log_moved.max(now);
            }
            self.log = log_len;
        }
        let hung = self.limits.hung_after;
        let silent = now.saturating_duration_since(self.last_answer);
        let stalled = now.saturating_duration_since(self.log_moved);
        if silent >= hung && stalled >= hung {
            let log = match self.log {
                Some(_) => format!(", its log has not grown for {:.1} s", stalled.as_secs_f64()),
                None => String::new(),
            };
            return Some(format!(
                "server hung: /health gave no answer for {:.1} s{log} (limit hung_after {}; the \
                 process lives)",
                silent.as_secs_f64(),
                seconds(hung)
            ));
        }
        (silent >= hung * STILL_LOGGING_FACTOR).then(|| {
            format!(
                "server hung: /health gave no answer for {:.1} s while its log still grows \
                 (limit {} × hung_after {}; the process lives)",
                silent.as_secs_f64(),
                STILL_LOGGING_FACTOR,
                seconds(hung)
            )
        })
    }
}

/// `10 s`, `2.5 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Why a server is to be considered dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dead {
    /// Bad answers ([`Liveness::observe`]).
    Unhealthy(String),
    /// No answer and no progress ([`Liveness::silence`]): the process cannot be asked to stop.
    Hung(String),
}

impl Dead {
    pub fn reason(&self) -> &str {
        match self {
            Dead::Unhealthy(why) | Dead::Hung(why) => why,
        }
    }
}

/// The background poller: probes `url` every [`INTERVAL`] (after a bad answer, after
/// [`CONFIRM_INTERVAL`]; after a slow one, at once) until it is dropped. One probe waits up to
/// `hung_after` for its answer.
pub struct Poller {
    rx: Receiver<(Probe, Instant)>,
    rule: Liveness,
}

impl Poller {
    pub fn start(url: &str, limits: Limits) -> Poller {
        let (tx, rx) = std::sync::mpsc::channel();
        let url = url.to_string();
        let wait = limits.hung_after.max(PROBE_TIMEOUT);
        std::thread::spawn(move || {
            let agent = perfline_slurm::wait::probe_agent(wait);
            loop {
                let started = Instant::now();
                let probe = perfline_slurm::wait::http_probe(&agent, &url);
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
        Poller { rx, rule: Liveness::new(limits, Instant::now()) }
    }

    /// Counts the answers that arrived since the last call and the silence (never blocks);
    /// `log_len` is the server log's length now. `Some(reason)` when the server is to be
    /// considered dead.
    pub fn check(&mut self, log_len: Option<u64>) -> Option<Dead> {
        // Empty or disconnected: nothing more to count now.
        while let Ok((probe, at)) = self.rx.try_recv() {
            if let Some(why) = self.rule.observe(&probe, at) {
                return Some(Dead::Unhealthy(why));
            }
        }
        self.rule.silence(Instant::now(), log_len).map(Dead::Hung)
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
    const HUNG: Duration = Duration::from_secs(10);

    fn server(t0: Instant) -> Liveness {
        Liveness::new(Limits::server(HUNG), t0)
    }

    /// Feeds the probes half a second apart.
    fn feed(rule: &mut Liveness, t0: Instant, probes: &[Probe]) -> Vec<Option<String>> {
        probes
            .iter()
            .enumerate()
            .map(|(i, p)| rule.observe(p, t0 + CONFIRM_INTERVAL * i as u32))
            .collect()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn three_bad_answers_fail_a_server() {
        let t0 = Instant::now();
        let mut rule = server(t0);
        let seen = feed(&mut rule, t0, &[ok(), s503(), s503(), s503()]);
        assert_eq!(&seen[..3], &[None, None, None]);
        assert_eq!(
            seen[3].as_deref(),
            Some("/health 503 for 1.0 s (3 bad answers since the last 200; the process lives)")
        );
    }

    #[test]
    fn a_200_resets_the_count() {
        let t0 = Instant::now();
        let mut rule = server(t0);
        let seen = feed(&mut rule, t0, &[s503(), s503(), ok(), s503(), s503()]);
        assert!(seen.iter().all(Option::is_none), "{seen:?}");
        assert!(rule.observe(&s503(), t0 + ms(3000)).is_some());
    }

    #[test]
    fn refused_and_other_statuses_count_and_are_named() {
        let t0 = Instant::now();
        let mut rule = server(t0);
        let seen = feed(
            &mut rule,
            t0,
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
        let limits = Limits { fail_after: 1, ..Limits::server(HUNG) };
        let mut rule = Liveness::new(limits, t0);
        assert_eq!(
            rule.observe(&Probe::Status(503, "{\"unhealthy\":[\"h:1\"]}".into()), t0).as_deref(),
            Some(
                "/health 503 ({\"unhealthy\":[\"h:1\"]}) for 0.0 s (1 bad answers since the \
                 last 200; the process lives)"
            )
        );
    }

    #[test]
    fn timeouts_neither_count_nor_reset_bad_answers() {
        let t0 = Instant::now();
        let mut rule = server(t0);
        let seen = feed(&mut rule, t0, &[s503(), Probe::TimedOut, s503(), Probe::TimedOut]);
        assert!(seen.iter().all(Option::is_none), "{seen:?}");
        assert!(rule.observe(&s503(), t0 + ms(2500)).is_some());
    }

    #[test]
    fn a_frozen_server_is_hung_after_hung_after() {
        // 200 at t0, then nothing; the log stops growing at t0 + 0.5 s.
        let t0 = Instant::now();
        let mut rule = server(t0);
        assert_eq!(rule.observe(&ok(), t0), None);
        assert_eq!(rule.silence(t0, Some(100)), None);
        assert_eq!(rule.silence(t0 + ms(500), Some(180)), None);
        for s in 1..10 {
            assert_eq!(rule.silence(t0 + ms(1000 * s), Some(180)), None, "at {s} s");
        }
        // 10 s without an answer, but the log moved 9.5 s ago: not yet.
        assert_eq!(rule.silence(t0 + ms(10_000), Some(180)), None);
        assert_eq!(
            rule.silence(t0 + ms(10_500), Some(180)).as_deref(),
            Some(
                "server hung: /health gave no answer for 10.5 s, its log has not grown for \
                 10.0 s (limit hung_after 10 s; the process lives)"
            )
        );
        // Without a log to read, the silence alone decides.
        let mut rule = server(t0);
        assert_eq!(rule.silence(t0 + ms(9_900), None), None);
        assert_eq!(
            rule.silence(t0 + ms(10_000), None).as_deref(),
            Some("server hung: /health gave no answer for 10.0 s (limit hung_after 10 s; the process lives)")
        );
    }

    #[test]
    fn a_slow_but_answering_server_stays_busy() {
        // Every answer takes 5 s (later than PROBE_TIMEOUT) and the log stands still: busy.
        let t0 = Instant::now();
        let mut rule = server(t0);
        for i in 1..=60u64 {
            let at = t0 + ms(5000 * i);
            assert_eq!(rule.observe(&ok(), at), None);
            assert_eq!(rule.silence(at + ms(4900), Some(7)), None, "answer {i}");
        }
        // Slow bad answers are answers too: a 503 now and then is no silence.
        let mut rule = server(t0);
        for i in 1..=20u64 {
            let at = t0 + ms(8000 * i);
            assert_eq!(rule.observe(&s503(), at), None);
            assert_eq!(rule.observe(&ok(), at + ms(100)), None);
            assert_eq!(rule.silence(at + ms(7900), Some(7)), None, "answer {i}");
        }
    }

    #[test]
    fn a_silent_server_that_still_logs_is_busy_for_longer() {
        let t0 = Instant::now();
        let mut rule = server(t0);
        let mut len = 0;
        for s in 1..60u64 {
            len += 10;
            assert_eq!(rule.silence(t0 + ms(1000 * s), Some(len)), None, "at {s} s");
        }
        assert_eq!(
            rule.silence(t0 + ms(60_000), Some(len + 10)).as_deref(),
            Some(
                "server hung: /health gave no answer for 60.0 s while its log still grows \
                 (limit 6 × hung_after 10 s; the process lives)"
            )
        );
        // It stops logging at 20 s: hung 10 s later.
        let mut rule = server(t0);
        for s in 1..=20u64 {
            assert_eq!(rule.silence(t0 + ms(1000 * s), Some(s)), None);
        }
        assert_eq!(rule.silence(t0 + ms(29_900), Some(20)), None);
        assert!(rule.silence(t0 + ms(30_000), Some(20)).unwrap().contains("not grown for 10.0 s"));
    }

    #[test]
    fn the_profile_limit_and_the_router_margin_apply() {
        let t0 = Instant::now();
        let mut rule = Liveness::new(Limits::server(Duration::from_millis(2500)), t0);
        assert_eq!(rule.silence(t0 + ms(2400), Some(1)), None);
        assert_eq!(
            rule.silence(t0 + ms(2500), Some(1)).as_deref(),
            Some(
                "server hung: /health gave no answer for 2.5 s, its log has not grown for 2.5 s \
                 (limit hung_after 2.5 s; the process lives)"
            )
        );
        let mut router = Liveness::new(Limits::router(HUNG), t0);
        assert_eq!(router.silence(t0 + ms(13_900), None), None);
        assert!(router.silence(t0 + ms(14_000), None).unwrap().contains("hung_after 14 s"));
    }

    #[test]
    fn the_router_waits_longer_than_its_workers() {
        // A frozen worker makes the router's /health 503 at once (it asks with a 1 s limit);
        // the worker is called hung within HUNG, the router only after HUNG + ROUTER_EXTRA.
        let t0 = Instant::now();
        let mut rule = Liveness::new(Limits::router(HUNG), t0);
        let seen = feed(&mut rule, t0, &vec![s503(); 28]);
        assert!(seen.iter().all(Option::is_none), "{seen:?}");
        assert_eq!(
            rule.observe(&s503(), t0 + ms(14_000)).as_deref(),
            Some("/health 503 for 14.0 s (29 bad answers since the last 200; the process lives)")
        );
        // Enough time but too few answers: not yet.
        let mut rule = Liveness::new(Limits::router(HUNG), t0);
        for i in 0..6u64 {
            assert_eq!(rule.observe(&s503(), t0 + ms(3000 * i)), None);
        }
        assert!(rule.observe(&s503(), t0 + ms(18_000)).is_some());
    }

    /// Polls the poller (bounded by its own deadline) until it reports.
    fn until_reported(poller: &mut Poller) -> Dead {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(why) = poller.check(None) {
                return why;
            }
            assert!(Instant::now() < until, "the poller never reported");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn the_poller_reports_a_dead_listener() {
        // Nothing listens on this port: every probe is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let limits = Limits { fail_after: 2, ..Limits::server(HUNG) };
        let mut poller = Poller::start(&format!("http://127.0.0.1:{port}/health"), limits);
        let Dead::Unhealthy(why) = until_reported(&mut poller) else { panic!("not unhealthy") };
        assert!(why.starts_with("/health connection refused"), "{why}");
        assert!(why.contains("(2 bad answers since the last 200"), "{why}");
    }

    #[test]
    fn the_poller_reports_a_listener_that_never_answers() {
        // The kernel accepts connections to this socket, nobody reads them: a frozen server.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let limits = Limits { fail_after: 2, ..Limits::server(ms(1500)) };
        let mut poller = Poller::start(&format!("http://127.0.0.1:{port}/health"), limits);
        let Dead::Hung(why) = until_reported(&mut poller) else { panic!("not hung") };
        assert!(why.starts_with("server hung: /health gave no answer for "), "{why}");
        assert!(why.ends_with(" (limit hung_after 1.5 s; the process lives)"), "{why}");
        drop(listener);
    }
}
