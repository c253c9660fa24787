//! Finding a test's config file under the config roots (incumbent.md §1 and §13 folders).

use perfline::Exit;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why a config was not found: its exit class and the sentence.
pub type Miss = (Exit, String);

/// Aggregated config folders of an upstream checkout, in search order.
pub const AGGR_DIRS: [&str; 3] = [
    "tests/scripts/perf-sanity/aggregated",
    "tests/scripts/perf/aggregated",
    "tests/scripts/perf-sanity",
];

/// Disaggregated config folders of an upstream checkout, in search order.
pub const DISAGG_DIRS: [&str; 5] = [
    "tests/scripts/perf-sanity/disaggregated",
    "tests/scripts/perf/disaggregated",
    "tests/integration/defs/perf/disagg/test_configs/disagg/perf",
    "tests/integration/defs/perf/disagg/test_configs/wideep/perf",
    "tests/integration/defs/perf/disagg/test_configs/disagg/perf-sanity",
];

/// Where configs are searched: for a test, its family's folders under each root, then the
/// flat `--config-dir` folders, then the other family's folders under each root. The first
/// match wins, so a name present in two folders resolves to the earlier one.
#[derive(Debug, Default)]
pub struct Locator {
    roots: Vec<PathBuf>,
    config_dirs: Vec<PathBuf>,
    found: HashMap<(bool, String), Result<PathBuf, Miss>>,
}

impl Locator {
    pub fn new(roots: Vec<PathBuf>, config_dirs: Vec<PathBuf>) -> Locator {
        Locator { roots, config_dirs, found: HashMap::new() }
    }

    /// The folders searched, in order, for a disaggregated (`true`) or aggregated config.
    pub fn search_dirs(&self, disagg: bool) -> Vec<PathBuf> {
        let (own, other): (&[&str], &[&str]) =
            if disagg { (&DISAGG_DIRS, &AGGR_DIRS) } else { (&AGGR_DIRS, &DISAGG_DIRS) };
        let under = |dirs: &[&str]| -> Vec<PathBuf> {
            self.roots.iter().flat_map(|r| dirs.iter().map(move |d| r.join(d))).collect()
        };
        let mut all = under(own);
        all.extend(self.config_dirs.iter().cloned());
        all.extend(under(other));
        all
    }

    /// The file of config `name` (`.yaml` added unless present), or why not: not found
    /// anywhere (`NoInput`, saying where it was looked for), or the first entry of that name
    /// that is not a readable file: a directory (`NoInput`), permission denied (`NoPerm`), a
    /// symlink loop or another error (its class). Lookups are cached: a list names the same
    /// config many times.
    pub fn find(&mut self, name: &str, disagg: bool) -> Result<PathBuf, Miss> {
        let key = (disagg, name.to_string());
        if let Some(hit) = self.found.get(&key) {
            return hit.clone();
        }
        let file = if name.ends_with(".yaml") { name.to_string() } else { format!("{name}.yaml") };
        let dirs = self.search_dirs(disagg);
        let mut result = None;
        for path in dirs.iter().map(|d| d.join(&file)) {
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => result = Some(Ok(path)),
                Ok(_) => {
                    let why = format!("config {}: not a file (a directory?)", display(&path));
                    result = Some(Err((Exit::NoInput, why)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    let why = format!("config {}: {e}", display(&path));
                    let exit = match Exit::of_io(&e) {
                        Exit::IoErr => Exit::NoInput,
                        other => other,
                    };
                    result = Some(Err((exit, why)));
                }
            }
            break;
        }
        let result = result.unwrap_or_else(|| {
            // The first folders in search order, then a count: a full list under a long root
            // ran over 600 bytes (`nodecount --help` gives the search order).
            let mut looked: Vec<String> =
                dirs.iter().take(LOOKED_SHOWN).map(|d| d.display().to_string()).collect();
            if dirs.len() > LOOKED_SHOWN {
                looked.push(format!("{} more", dirs.len() - LOOKED_SHOWN));
            }
            let none = if dirs.iter().any(|d| d.is_dir()) { "" } else { "; none of them exists" };
            let names = dirs
                .iter()
                .filter_map(|d| std::fs::read_dir(d).ok())
                .flatten()
                .filter_map(|e| e.ok()?.file_name().into_string().ok());
            let next = match perfline::cli::did_you_mean(&file, names).first() {
                Some(near) => format!("did you mean {near}? (a typo in the test id)"),
                None => "use --config-dir DIR or --root CHECKOUT".to_string(),
            };
            Err((
                Exit::NoInput,
                format!("config {file} not found (looked in: {}{none}); {next}", looked.join(", ")),
            ))
        });
        self.found.insert(key, result.clone());
        result
    }
}

/// How many searched folders a "not found" message names before it counts the rest.
const LOOKED_SHOWN: usize = 2;

/// Displays `path` relative to the current directory when it is under it.
pub fn display(path: &Path) -> String {
    path.strip_prefix("./").unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_folders_first_then_flat_dirs_then_the_other_family() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [DISAGG_DIRS[2], DISAGG_DIRS[0], AGGR_DIRS[0], "flat"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join(DISAGG_DIRS[2]).join("x.yaml"), "").unwrap();
        std::fs::write(root.join(DISAGG_DIRS[0]).join("x.yaml"), "").unwrap();
        std::fs::write(root.join("flat/x.yaml"), "").unwrap();
        std::fs::write(root.join("flat/y.yaml"), "").unwrap();
        std::fs::write(root.join(DISAGG_DIRS[0]).join("z.yaml"), "").unwrap();
        let mut loc = Locator::new(vec![root.to_path_buf()], vec![root.join("flat")]);
        // Two disagg folders hold x.yaml: the first in the documented order wins.
        assert_eq!(loc.find("x", true).unwrap(), root.join(DISAGG_DIRS[0]).join("x.yaml"));
        assert_eq!(loc.find("x.yaml", false).unwrap(), root.join("flat/x.yaml"));
        // An aggregated lookup falls back to the disagg folders.
        assert_eq!(loc.find("z", false).unwrap(), root.join(DISAGG_DIRS[0]).join("z.yaml"));
        let (exit, err) = loc.find("missing", true).unwrap_err();
        assert_eq!(exit, Exit::NoInput);
        assert!(err.starts_with("config missing.yaml not found (looked in: "), "{err}");
        // The first two folders in search order, then how many more (3 + 1 + 5 in all).
        let first = root.join(DISAGG_DIRS[0]).display().to_string();
        let second = root.join(DISAGG_DIRS[1]).display().to_string();
        assert!(err.contains(&format!("(looked in: {first}, {second}, 7 more)")), "{err}");
    }

    #[test]
    fn a_directory_a_loop_and_no_permission_are_not_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let flat = dir.path().join("flat");
        std::fs::create_dir_all(flat.join("d.yaml")).unwrap();
        std::os::unix::fs::symlink(flat.join("loop.yaml"), flat.join("loop.yaml")).unwrap();
        let mut loc = Locator::new(vec![], vec![flat.clone()]);
        let (exit, why) = loc.find("d", false).unwrap_err();
        assert_eq!(exit, Exit::NoInput);
        assert_eq!(
            why,
            format!("config {}: not a file (a directory?)", flat.join("d.yaml").display())
        );
        let (exit, why) = loc.find("loop", false).unwrap_err();
        assert_eq!(exit, Exit::NoInput);
        assert!(why.contains("symbolic links"), "{why}");
        assert!(!why.contains("not found"), "{why}");
    }
}
