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
use perfline::Exit;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Plans records one after another, caching config lookups and parses across tests.
pub struct Planner {
    locator: locate::Locator,
    parsed: HashMap<PathBuf, Result<Rc<Value>, Failure>>,
    options: Options,
}

impl Planner {
    pub fn new(locator: locate::Locator, options: Options) -> Planner {
        Planner { locator, parsed: HashMap::new(), options }
    }

    fn load(&mut self, path: &Path) -> Result<Rc<Value>, Failure> {
        if let Some(hit) = self.parsed.get(path) {
            return hit.clone();
        }
        let loaded = perfline::yaml::load(path).map(Rc::new);
        self.parsed.insert(path.to_path_buf(), loaded.clone());
        loaded
    }

    /// The plan of one record; errors name the record (`SOURCE: ID: reason`) or the config
    /// field (`PATH: FIELD: reason`).
    pub fn plan(&mut self, test: TestRecord) -> Result<PlannedTest, Failure> {
        let at = |reason: String| format!("{}: {}: {reason}", test.source, test.id);
        let shape = Shape::of(&test).map_err(|r| Failure::data(at(r)))?;
        perfline::shell::check_id(&test.config)
            .map_err(|r| Failure::data(at(format!("config name {:?}: {r}", test.config))))?;
        let path = self
            .locator
            .find(&test.config, shape.reads_disagg_config())
            .map_err(|r| Failure::new(Exit::NoInput, at(r)))?;
        let config = self.load(&path)?;
        let shown = locate::display(&path);
        let plan = plan(&test, &config, &shown, self.options)
            .map_err(|e| Failure::data(format!("{shown}: {e}")))?;
        Ok(PlannedTest { test, plan })
    }
}
