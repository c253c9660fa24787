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

/// One run of the history: its key and system info (`gpu`, `driver`, … from [`RUN_FIELDS`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub key: String,
    pub info: BTreeMap<String, String>,
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
        self.runs.push(Run { key: key.to_string(), info: BTreeMap::new() });
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
}
