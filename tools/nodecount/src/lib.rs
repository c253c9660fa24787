//! nodecount's library: locating a test's config, validating the fields the plan uses, the
//! incumbent's allocation formula, `--pack` and `--check`. Split from the binary so the fuzz
//! target and the benchmarks drive the same code.

pub mod check;
pub mod fields;
pub mod locate;
pub mod planner;
pub mod prefetch;

pub use fields::ConfigError;
pub use planner::{plan, Options, Shape};

use perfline::cli::Failure;
use perfline::wire::plan::PlannedTest;
use perfline::wire::test::TestRecord;
use std::path::PathBuf;

/// Plans records one after another; config lookups are cached and parses shared through a
/// [`prefetch::Prefetch`] (whose workers, if any, the caller runs).
pub struct Planner {
    locator: locate::Locator,
    pub prefetch: prefetch::Prefetch,
    options: Options,
}

impl Planner {
    pub fn new(locator: locate::Locator, options: Options) -> Planner {
        Planner { locator, prefetch: prefetch::Prefetch::new(), options }
    }

    /// The config file of `test`, or the error naming the record (`SOURCE: ID: reason`).
    pub fn locate(&mut self, test: &TestRecord) -> Result<PathBuf, Failure> {
        let at = |reason: String| format!("{}: {}: {reason}", test.source, test.id);
        let shape = Shape::of(test).map_err(|r| Failure::data(at(r)))?;
        perfline::shell::check_id(&test.config)
            .map_err(|r| Failure::data(at(format!("config name {:?}: {r}", test.config))))?;
        self.locator
            .find(&test.config, shape.reads_disagg_config())
            .map_err(|(exit, r)| Failure::new(exit, at(r)))
    }

    /// Queues the parse of `test`'s config, so a worker can start on it before it is needed.
    pub fn prefetch(&mut self, test: &TestRecord) {
        if let Ok(path) = self.locate(test) {
            self.prefetch.submit(&path);
        }
    }

    /// The plan of one record; errors name the record (`SOURCE: ID: reason`) or the config
    /// field (`PATH: FIELD: reason`).
    pub fn plan(&mut self, test: TestRecord) -> Result<PlannedTest, Failure> {
        let path = self.locate(&test)?;
        let config = self.prefetch.get(&path)?;
        let shown = locate::display(&path);
        let plan = plan(&test, &config, &shown, self.options)
            .map_err(|e| Failure::data(format!("{shown}: {e}")))?;
        Ok(PlannedTest { test, plan })
    }
}
