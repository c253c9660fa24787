//! The report's input, whatever it came from (metric record files or the store): an ordered
//! list of runs and, per case, its result in each run.

use std::collections::BTreeMap;

/// Run fields shown in the summary, in display order (the store's `runs` columns; metric
/// records may carry them in their `context`).
pub const RUN_FIELDS: [&str; 12] = [
    "gpu",
    "driver",
    "cuda",
    "trtllm",
    "tensorrt",
    "commit",
    "os",
    "hostname",
    "job_id",
    "start_time",
    "end_time",
    "notes",
];

/// One run of the history: its key and system info (`gpu`, `driver`, … from [`RUN_FIELDS`];
/// `attempt` too when metric records carry one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub key: String,
    pub info: BTreeMap<String, String>,
    /// A confirmation re-run (1-based): `context.confirmation` of its records, or a store
    /// run whose notes say `confirmation N`.
    pub confirmation: Option<u32>,
}

/// `YYYY-MM-DD HH:MM` (or `YYYY-MM-DD`) from an ISO 8601 time (`2026-11-29T12:00:00Z`,
/// `2026-11-29 12:00`) or a launch attempt (`20261129T120000.000Z`); `None` otherwise.
pub fn short_date(s: &str) -> Option<String> {
    let b = s.trim().as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone()).filter(|d| d.iter().all(u8::is_ascii_digit)).map(|_| &s.trim()[r])
    };
    let iso = b.len() >= 10 && b[4] == b'-' && b[7] == b'-';
    let (date, time) = if iso {
        let date = format!("{}-{}-{}", digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let time = (b.len() >= 16 && matches!(b[10], b'T' | b' ') && b[13] == b':')
            .then(|| Some(format!("{}:{}", digits(11..13)?, digits(14..16)?)))
            .flatten();
        (date, time)
    } else if b.len() >= 13 && b[8] == b'T' {
        let date = format!("{}-{}-{}", digits(0..4)?, digits(4..6)?, digits(6..8)?);
        (date, Some(format!("{}:{}", digits(9..11)?, digits(11..13)?)))
    } else {
        return None;
    };
    Some(match time {
        Some(t) => format!("{date} {t}"),
        None => date,
    })
}

impl Run {
    /// When the run started: `start_time`, else the launch attempt.
    pub fn date(&self) -> Option<String> {
        ["start_time", "attempt"].iter().find_map(|f| short_date(self.info.get(*f)?))
    }

    /// When upload stored the run (the store's `uploaded_at`).
    pub fn uploaded(&self) -> Option<String> {
        short_date(self.info.get("uploaded_at")?)
    }

    /// The commit under test, at most 10 characters.
    pub fn commit(&self) -> Option<String> {
        let c = self.info.get("commit")?.trim();
        (!c.is_empty()).then(|| c.chars().take(10).collect())
    }

    /// The run's readable name: `2026-11-29 12:00 · abc1234`, either part alone, else its key
    /// (the key is shown on hover). Without a start time or attempt, the store's upload time
    /// says when: `uploaded 2026-11-29 12:01`.
    pub fn label(&self) -> String {
        let date = self.date().or_else(|| self.uploaded().map(|u| format!("uploaded {u}")));
        match (date, self.commit()) {
            (Some(d), Some(c)) => format!("{d} · {c}"),
            (Some(d), None) => d,
            (None, Some(c)) => format!("commit {c}"),
            (None, None) => crate::chart::shorten(&self.key, 16),
        }
    }

    /// A chart axis label: `11-29 12:00`, else the commit, else the key's first 8 characters.
    pub fn short_label(&self) -> String {
        match (self.date().or_else(|| self.uploaded()), self.commit()) {
            (Some(d), _) if d.len() == 16 => d[5..].to_string(),
            (Some(d), None) => d,
            (_, Some(c)) => crate::chart::shorten(&c, 8),
            (None, None) => crate::chart::shorten(&self.key, 8),
        }
    }
}

/// `confirmation N` anywhere in a run's notes (how a confirmation re-run is recognised in the
/// store, which keeps no record context).
pub fn confirmation_in_notes(notes: &str) -> Option<u32> {
    let lower = notes.to_ascii_lowercase();
    let rest = &lower[lower.find("confirmation")? + "confirmation".len()..];
    let digits: String = rest
        .trim_start_matches([' ', ':', '=', '#'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|k| *k > 0)
}

/// A measured case: the series identity less the metric (`''` when a record had no server or
/// client, as in the store's `series` table).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseKey {
    pub test_id: String,
    pub server: String,
    pub client: String,
}

impl CaseKey {
    pub fn new(test_id: &str, server: Option<&str>, client: Option<&str>) -> CaseKey {
        CaseKey {
            test_id: test_id.to_string(),
            server: server.unwrap_or_default().to_string(),
            client: client.unwrap_or_default().to_string(),
        }
    }

    /// `server-client`, `client` or `server` (the legacy `command` column), `-` for neither.
    pub fn label(&self) -> String {
        match (self.server.is_empty(), self.client.is_empty()) {
            (false, false) => format!("{}-{}", self.server, self.client),
            (true, false) => self.client.clone(),
            (false, true) => self.server.clone(),
            (true, true) => "-".to_string(),
        }
    }
}

/// One case's result in one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Index into [`History::runs`].
    pub run: usize,
    pub ok: bool,
    /// Metric → value; empty for a failed case.
    pub metrics: BTreeMap<String, f64>,
    pub units: BTreeMap<String, String>,
    pub reasons: Vec<String>,
    pub log_tail: Vec<String>,
    pub concurrency: Option<u64>,
    /// GPUs the case ran on (`context.total_gpus` or `context.gpus`), when known.
    pub gpus: Option<u64>,
}

/// Runs in history order (oldest first) and every case's samples, ordered by run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub runs: Vec<Run>,
    pub cases: BTreeMap<CaseKey, Vec<Sample>>,
}

impl History {
    /// The index of the run `key`, added at the end when new.
    pub fn run_index(&mut self, key: &str) -> usize {
        if let Some(i) = self.runs.iter().position(|r| r.key == key) {
            return i;
        }
        self.runs.push(Run { key: key.to_string(), ..Run::default() });
        self.runs.len() - 1
    }

    /// Adds a sample; a second sample of the same case in the same run replaces the first.
    pub fn add(&mut self, case: CaseKey, sample: Sample) {
        let samples = self.cases.entry(case).or_default();
        match samples.binary_search_by_key(&sample.run, |s| s.run) {
            Ok(i) => samples[i] = sample,
            Err(i) => samples.insert(i, sample),
        }
    }

    /// Sets run info fields that are still empty.
    pub fn fill_info(&mut self, run: usize, info: impl IntoIterator<Item = (String, String)>) {
        let slot = &mut self.runs[run].info;
        for (k, v) in info {
            slot.entry(k).or_insert(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_ordered_and_replace() {
        let mut h = History::default();
        let (a, b) = (h.run_index("a"), h.run_index("b"));
        assert_eq!((a, b, h.run_index("a")), (0, 1, 0));
        let key = CaseKey::new("t", Some("s"), None);
        h.add(key.clone(), Sample { run: b, ..Sample::default() });
        h.add(key.clone(), Sample { run: a, concurrency: Some(1), ..Sample::default() });
        h.add(key.clone(), Sample { run: a, concurrency: Some(2), ..Sample::default() });
        let runs: Vec<_> = h.cases[&key].iter().map(|s| (s.run, s.concurrency)).collect();
        assert_eq!(runs, [(0, Some(2)), (1, None)]);
        assert_eq!(key.label(), "s");
        assert_eq!(CaseKey::new("t", None, None).label(), "-");
    }

    #[test]
    fn runs_are_named_by_date_and_commit() {
        assert_eq!(short_date("2026-11-29T12:05:09Z").as_deref(), Some("2026-11-29 12:05"));
        assert_eq!(short_date("20261129T120000.000Z").as_deref(), Some("2026-11-29 12:00"));
        assert_eq!(short_date("2026-11-29").as_deref(), Some("2026-11-29"));
        assert_eq!(short_date("edd50757abcdef"), None);
        assert_eq!(short_date("2026-1x-29"), None);
        assert_eq!(short_date("ü026-11-29T1"), None);
        let mut run = Run { key: "edd50757a1b2c3d4e5f6".into(), ..Run::default() };
        assert_eq!(
            (run.label(), run.short_label()),
            ("edd50757a1b2c3d4…".into(), "edd50757…".into())
        );
        run.info.insert("commit".into(), "0123456789abcdef".into());
        assert_eq!(
            (run.label(), run.short_label()),
            ("commit 0123456789".into(), "01234567…".into())
        );
        run.info.insert("uploaded_at".into(), "2026-11-29 12:01:07".into());
        assert_eq!(
            (run.label(), run.short_label()),
            ("uploaded 2026-11-29 12:01 · 0123456789".into(), "11-29 12:01".into())
        );
        run.info.insert("attempt".into(), "20261129T120000.000Z".into());
        assert_eq!(run.label(), "2026-11-29 12:00 · 0123456789");
        run.info.insert("start_time".into(), "2026-12-01T08:30:00Z".into());
        assert_eq!(
            (run.label(), run.short_label()),
            ("2026-12-01 08:30 · 0123456789".into(), "12-01 08:30".into())
        );
        assert_eq!(confirmation_in_notes("perf-check Confirmation 2 of 3"), Some(2));
        assert_eq!(confirmation_in_notes("confirmation: 1"), Some(1));
        assert_eq!(confirmation_in_notes("confirmation 0"), None);
        assert_eq!(confirmation_in_notes("nightly"), None);
    }
}
