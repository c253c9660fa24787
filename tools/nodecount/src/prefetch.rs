//! Parses config files on worker threads, ahead of the record that needs them: a corpus run
//! is dominated by YAML parsing, and the records that follow in the pipe already name the
//! next configs. Each file is parsed once; results are shared.

use perfline::cli::Failure;
use perfline::yaml::Value;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub type Parsed = Result<Arc<Value>, Failure>;

#[derive(Default)]
struct State {
    queue: VecDeque<PathBuf>,
    /// `None` while a worker parses it.
    results: HashMap<PathBuf, Option<Parsed>>,
    closed: bool,
}

/// The shared queue and results; clone it into each worker.
#[derive(Clone, Default)]
pub struct Prefetch {
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl Prefetch {
    pub fn new() -> Prefetch {
        Prefetch::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked left consistent data (inserts are single steps): go on.
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.shared.1.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `path` for parsing unless it was queued before.
    pub fn submit(&self, path: &Path) {
        let mut state = self.lock();
        if !state.results.contains_key(path) {
            state.results.insert(path.to_path_buf(), None);
            state.queue.push_back(path.to_path_buf());
            self.shared.1.notify_all();
        }
    }

    /// The parse of `path`, parsing it on this thread when no worker has started it.
    pub fn get(&self, path: &Path) -> Parsed {
        self.submit(path);
        let mut state = self.lock();
        loop {
            if let Some(Some(parsed)) = state.results.get(path) {
                return parsed.clone();
            }
            if let Some(i) = state.queue.iter().position(|p| p == path) {
                state.queue.remove(i);
                drop(state);
                return self.parse(path.to_path_buf());
            }
            state = self.wait(state);
        }
    }

    fn parse(&self, path: PathBuf) -> Parsed {
        let parsed = perfline::yaml::load(&path).map(Arc::new);
        let mut state = self.lock();
        state.results.insert(path, Some(parsed.clone()));
        self.shared.1.notify_all();
        parsed
    }

    /// A guard that calls [`Prefetch::close`] when dropped (a panic included), so that the
    /// workers end and a thread scope that runs them can return.
    pub fn closer(&self) -> Closer {
        Closer(self.clone())
    }

    /// A worker: parses queued files until [`Prefetch::close`].
    pub fn work(&self) {
        loop {
            let mut state = self.lock();
            let path = loop {
                if state.closed {
                    return;
                }
                if let Some(path) = state.queue.pop_front() {
                    break path;
                }
                state = self.wait(state);
            };
            drop(state);
            // The result stays in the shared map for the record that needs it.
            let _ = self.parse(path);
        }
    }

    /// Stops the workers (files still queued are left unparsed).
    pub fn close(&self) {
        self.lock().closed = true;
        self.shared.1.notify_all();
    }
}

/// See [`Prefetch::closer`].
pub struct Closer(Prefetch);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_file_once_on_workers_or_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&good, "a: 1\n").unwrap();
        std::fs::write(&bad, "a: [\n").unwrap();
        let missing = dir.path().join("missing.yaml");
        // Without workers, the caller parses.
        let alone = Prefetch::new();
        assert_eq!(alone.get(&good).unwrap()["a"].as_u64(), Some(1));
        let prefetch = Prefetch::new();
        std::thread::scope(|s| {
            let worker = prefetch.clone();
            s.spawn(move || worker.work());
            for p in [&good, &bad, &missing, &good] {
                prefetch.submit(p);
            }
            let first = prefetch.get(&good).unwrap();
            assert!(Arc::ptr_eq(&first, &prefetch.get(&good).unwrap()), "parsed once");
            assert_eq!(prefetch.get(&bad).unwrap_err().exit, perfline::Exit::DataErr);
            assert_eq!(prefetch.get(&missing).unwrap_err().exit, perfline::Exit::NoInput);
            prefetch.close();
        });
    }
}
