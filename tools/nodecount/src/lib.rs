//! nodecount's library: locating a test's config, validating the fields the plan uses, the
//! incumbent's allocation formula, `--pack` and `--check`. Split from the binary so the fuzz
//! target and the benchmarks drive the same code.

pub mod check;
pub mod fields;
pub mod locate;
pub mod planner;

pub use fields::ConfigError;
pub use planner::{plan, Options, Shape};

use perfline::cli::Failure;
use perfline::wire::plan::PlannedTest;
use perfline::wire::test::TestRecord;
use perfline::yaml::Value;
use std::collections::HashMap;
use std::path::PathBuf;

/// Plans records one after another; config lookups and parses are cached (a list names the
/// same config many times), errors included.
pub struct Planner {
    locator: locate::Locator,
    configs: HashMap<PathBuf, Result<Value, Failure>>,
    options: Options,
}

impl Planner {
    pub fn new(locator: locate::Locator, options: Options) -> Planner {
        Planner { locator, configs: HashMap::new(), options }
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

    /// The plan of one record; errors name the record (`SOURCE: ID: reason`) or the config
    /// field (`PATH: FIELD: reason`).
    pub fn plan(&mut self, test: TestRecord) -> Result<PlannedTest, Failure> {
        let path = self.locate(&test)?;
        let shown = locate::display(&path);
        let config = self.configs.entry(path).or_insert_with_key(|p| perfline::yaml::load(p));
        let config = config.as_ref().map_err(Failure::clone)?;
        let plan = plan(&test, config, &shown, self.options)
            .map_err(|e| Failure::data(format!("{shown}: {e}")))?;
        Ok(PlannedTest { test, plan })
    }
}
