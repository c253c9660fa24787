//! Tidy checks: the repository's invariants (ARCHITECTURE.md, CONTRIBUTING.md) as code, in the
//! style of rust-analyzer's `tidy.rs`. `tests/tests/tidy.rs` runs [`check`] on the workspace;
//! the unit tests below plant one violation of each rule in a fake tree and see it reported.
//!
//! The rules (each names its exceptions in a commented list below; an exception that is no
//! longer needed is itself reported, so the lists only shrink):
//!
//! - `tool-deps`: a tool crate (`tools/<name>/`) never depends on another tool crate.
//! - `layer-deps`: the layer crates (`perfline`, `perfline-*` at the root) point down only:
//!   `perfline` depends on no other workspace crate; every other layer (`perfline-slurm`,
//!   `perfline-stats`, `perfline-store`) depends on `perfline` and no other workspace crate (no
//!   layer beside it, no tool, no xtask, no chain-tests), in any dependency table.
//! - `workspace-deps`: every dependency of every workspace member is `{ workspace = true }`
//!   (features may be added), so versions are chosen once, in the root `Cargo.toml`.
//! - `yaml-crate`: only `perfline/src/yaml.rs` names a YAML crate (saphyr-parser today;
//!   serde_yaml and its forks, yaml-rust… alike), and only perfline's manifest depends on one:
//!   everything else reads, types and writes YAML through `perfline::yaml`'s own types.
//! - `junit-writer`: JUnit XML is written only by `perfline/src/junit.rs` (quick-xml): no code
//!   outside it and outside tests holds a `<testsuite` literal.
//! - `main-lines`: a tool's `src/main.rs` has at most [`MAIN_MAX_LINES`] lines.
//! - `shell-string`: no `format!` builds a shell command string: neither a `format!` whose
//!   literal contains `bash -c` / `sh -c`, nor a `format!` handed to a shell right after `"-c"`.
//!   Shell text is rendered by `perfline::template` / quoted by `perfline::shell`.
//! - `shell-text`: shell scripts are template files rendered by `perfline::template` (e.g.
//!   `tools/launch/templates/job.sh`), never text in Rust. In non-test code of the library
//!   crates (`perfline*/src`) and tools (`tools/*/src`): (a) no string literal holds script
//!   text — at its start or after a newline, a shebang `#!/`, an sbatch header option
//!   `#SBATCH -`, an `srun`/`sbatch` command with an option, quote or `$` after it, or
//!   `set -e`/`-u`/`-o`; (b) `perfline::shell`'s quoting (`quote`, `join`, `quote_array_word`)
//!   is called only by the renderer (`perfline/src/template.rs`) and `perfline/src/shell.rs`.
//! - `clock-assert`: test code never asserts a wall-clock duration: no `assert…!` mentioning
//!   `elapsed`, `as_millis()` and friends or comparing a `Duration::from_…`, and none comparing a
//!   latency metric (TTFT, TPOT, ITL, E2EL, latency) with a number. A bound on a polling loop
//!   (`elapsed() < DEADLINE`, any name containing `DEADLINE`) is a deadline, not a measurement,
//!   and is allowed.
//! - `tool-lists`: every `tools/<name>/` is a package `<name>` with a `src/main.rs`, has a row in
//!   the README's tool table, and every name in an xtask `TOOLS` list is a tool.
//! - `nested-cargo`: test code (tests/ directories, `tests/src/`, `#[cfg(test)]` code) never runs
//!   cargo (`Command::new("cargo")`, `$CARGO`, escargot): tests use the binaries cargo already
//!   built (`CARGO_BIN_EXE_<name>`, `chain_tests::bin`).
//! - `test-sleep`: every `sleep(` in test code sits in a polling loop with a deadline (a loop
//!   that compares `Instant::now()` or `.elapsed()`): a sleep never orders events.
//! - `create-table`: no Rust file but [`SCHEMA_RS`] says `CREATE TABLE` (any case), tests
//!   included: the store schema has one owner (tables are added by a migration there and
//!   described in docs/SCHEMA.md; tests build older stores with `schema::create_at`).
//! - `print-macro`: no `print!`, `println!`, `eprint!`, `eprintln!` or `dbg!` in non-test code
//!   outside `perfline/src/cli.rs`: diagnostics go through `cli::diag` / `cli::say`, stdout data
//!   through a writer (`jsonl::stdout`, a locked stdout) or `cli::out_line`.
//! - `stderr-path`: no `stderr()` handle in non-test code outside `perfline/src/cli.rs`: one
//!   path to stderr, which never panics on a closed stderr and writes each line whole.
//! - `atomic-write`: no `File::create`, `fs::write`, `OpenOptions::new` or `File::options` in
//!   non-test code outside `perfline/src/fsutil.rs` (temp file + rename), unless the function is
//!   on the allow-list [`Allow::atomic_write`] with its reason (appends under `flock`, logs
//!   that stream).
//!
//! `print-macro`, `stderr-path` and `atomic-write` leave out test code (`tests/`, `tests.rs`,
//! `#[cfg(test)]` modules; a `#[cfg(test)]` function does not exempt the code after it) and
//! xtask: xtask is the developer's driver, not a tool; its progress lines go to a developer's
//! terminal or a CI log that no program parses, and its files are scratch and fixtures in its
//! own directories.

use regex::Regex;
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// The one file that creates store tables (`create-table`).
pub const SCHEMA_RS: &str = "perfline-store/src/schema.rs";

/// The longest a tool's `main.rs` may be (CONTRIBUTING.md: `main` → `run` → pure functions).
pub const MAIN_MAX_LINES: usize = 150;

/// What each rule lets pass: workspace-relative paths (with `/`), or `CRATE:DEPENDENCY`.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    pub workspace_deps: &'static [&'static str],
    pub main_lines: &'static [&'static str],
    pub shell_string: &'static [&'static str],
    pub shell_text: &'static [&'static str],
    pub clock_assert: &'static [&'static str],
    pub test_sleep: &'static [&'static str],
    pub create_table: &'static [&'static str],
    /// Functions that write a file in place, each with the reason it cannot be atomic.
    pub atomic_write: &'static [InPlace],
}

/// A function allowed to write a file in place (rule `atomic-write`).
#[derive(Debug, Clone, Copy)]
pub struct InPlace {
    /// Workspace-relative path, with `/`.
    pub path: &'static str,
    /// The function whose body opens the file (the nearest `fn` above the call).
    pub function: &'static str,
    /// Why temp + rename does not fit (must not be empty).
    pub reason: &'static str,
}

/// The exceptions of this repository.
pub const ALLOW: Allow = Allow {
    workspace_deps: &[],
    main_lines: &[],
    shell_string: &[
        // Prefixes `exec` to a command already rendered by perfline::template.
        "tools/role/src/process.rs",
    ],
    shell_text: &[
        // The example records of the wire format (a job record's `script` field), not a script.
        "perfline/src/wire/job.rs",
        // The value renderer of perfline::template::render: each value quoted as one word.
        "tools/role/src/process.rs",
        // The client's arguments quoted and joined for the `{client_args}` placeholder.
        "tools/role/src/benchmark.rs",
        // A `mkdir -p DIR` hint in an error message, DIR quoted for copying.
        "perfline/src/fsutil.rs",
    ],
    clock_assert: &[],
    test_sleep: &[],
    atomic_write: &[
        InPlace {
            path: "tools/launch/src/local.rs",
            function: "spawn",
            reason: "a step's log: its processes' stdout and stderr stream into it, appended, \
                     while waitfiles and the failure tail read it",
        },
        InPlace {
            path: "tools/launch/src/local.rs",
            function: "finalize",
            reason: "the finalize command's log: its output streams into it, appended",
        },
        InPlace {
            path: "tools/role/src/benchmark.rs",
            function: "append_record",
            reason: "metrics.jsonl is shared by the job's roles: one whole record appended \
                     under flock (read, check for a duplicate, append); a rename would drop \
                     records appended by another role meanwhile",
        },
        InPlace {
            path: "tools/role/src/process.rs",
            function: "spawn",
            reason: "a server's or client's log: the process's stdout and stderr stream into \
                     it, appended, while role watches it for error keywords",
        },
        InPlace {
            path: "tools/role/src/telemetry.rs",
            function: "append",
            reason: "GPU telemetry CSV grows while the job runs: one whole row set per write \
                     (O_APPEND), readers skip a broken last line",
        },
    ],
    create_table: &[
        // The Python baseline `bench upload` races against: its own three-table store, not
        // perfline's schema.
        "xtask/src/bench/upload.rs",
    ],
};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Workspace-relative path, with `/`.
    pub path: String,
    /// 1-based; 0 when the violation is about the whole file.
    pub line: usize,
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.path, self.line, self.rule, self.message)
    }
}

/// Checks the workspace at `root` against every rule with this repository's exceptions.
pub fn check(root: &Path) -> Vec<Violation> {
    check_with(root, &ALLOW)
}

/// Checks the workspace at `root` with the given exceptions; violations sorted by path and line.
pub fn check_with(root: &Path, allow: &Allow) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    let tools = tool_names(root);
    let members = member_manifests(root);
    let packages: Vec<String> = members.iter().map(|m| package_name(&read(m))).collect();
    for manifest in &members {
        manifests(root, manifest, &tools, &packages, allow, &mut used, &mut out);
    }
    for file in rust_files(root) {
        sources(root, &file, allow, &mut used, &mut out);
        test_code(root, &file, allow, &mut used, &mut out);
    }
    tool_lists(root, &tools, &mut out);
    for e in allow.atomic_write {
        let key = format!("{}:{}", e.path, e.function);
        let problem = if e.reason.trim().is_empty() {
            Some(format!("exception `{key}` gives no reason: say why it cannot be atomic"))
        } else if !used.contains(&("atomic-write", key.clone())) {
            Some(format!("exception `{key}` is no longer needed: remove it"))
        } else {
            None
        };
        if let Some(message) = problem {
            let (path, rule) = ("tests/src/tidy.rs".into(), "atomic-write");
            out.push(Violation { path, line: 0, rule, message });
        }
    }
    let lists: [(&str, &[&str]); 7] = [
        ("workspace-deps", allow.workspace_deps),
        ("main-lines", allow.main_lines),
        ("shell-string", allow.shell_string),
        ("shell-text", allow.shell_text),
        ("clock-assert", allow.clock_assert),
        ("test-sleep", allow.test_sleep),
        ("create-table", allow.create_table),
    ];
    for (rule, list) in lists {
        for entry in list {
            if !used.contains(&(rule, entry.to_string())) {
                let message = format!("exception `{entry}` is no longer needed: remove it");
                out.push(Violation { path: "tests/src/tidy.rs".into(), line: 0, rule, message });
            }
        }
    }
    out.sort();
    out
}

fn rel(root: &Path, path: &Path) -> String {
    let p = path.strip_prefix(root).unwrap_or(path);
    p.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `tools/*` directory names, sorted.
fn tool_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("tools"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.path().join("Cargo.toml").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The root manifest's `[workspace] members` (a trailing `/*` expanded), as manifest paths.
fn member_manifests(root: &Path) -> Vec<PathBuf> {
    let doc: toml_edit::DocumentMut =
        read(&root.join("Cargo.toml")).parse().expect("root Cargo.toml parses");
    let members = doc["workspace"]["members"].as_array().expect("[workspace] members");
    let mut out = Vec::new();
    for member in members.iter().filter_map(|m| m.as_str()) {
        match member.strip_suffix("/*") {
            Some(parent) => {
                let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(parent))
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.ok())
                    .map(|e| e.path().join("Cargo.toml"))
                    .filter(|p| p.is_file())
                    .collect();
                found.sort();
                out.extend(found);
            }
            None => out.push(root.join(member).join("Cargo.toml")),
        }
    }
    out
}

/// The `[package] name` of a manifest's text ("" when it has none).
fn package_name(text: &str) -> String {
    let doc: toml_edit::DocumentMut = text.parse().unwrap_or_default();
    let name = doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str());
    name.unwrap_or_default().to_string()
}

/// Whether package `name` is a layer crate: `perfline` or `perfline-*`.
fn is_layer(name: &str) -> bool {
    name == "perfline" || name.starts_with("perfline-")
}

/// The `layer-deps` message when layer `package` may not depend on workspace crate `dep`.
fn layer_violation(package: &str, dep: &str) -> Option<String> {
    match package {
        "perfline" => Some(format!(
            "`perfline` depends on `{dep}`: the bottom layer depends on no other workspace crate"
        )),
        _ if dep == "perfline" => None,
        _ => Some(format!(
            "layer `{package}` depends on `{dep}`: a layer crate depends only on `perfline` \
             (and external crates)"
        )),
    }
}

/// The dependency tables of a manifest: `[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]` and their `[target.'cfg'.…]` forms.
fn dependency_tables(doc: &toml_edit::DocumentMut) -> Vec<&dyn toml_edit::TableLike> {
    const KINDS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut out = Vec::new();
    let top = doc.as_table();
    let mut scopes: Vec<&dyn toml_edit::TableLike> = vec![top as &dyn toml_edit::TableLike];
    if let Some(targets) = top.get("target").and_then(|t| t.as_table_like()) {
        scopes.extend(targets.iter().filter_map(|(_, t)| t.as_table_like()));
    }
    for scope in scopes {
        out.extend(KINDS.iter().filter_map(|k| scope.get(k).and_then(|t| t.as_table_like())));
    }
    out
}

/// The 1-based line of `[…]` table entry `name` in a manifest (the first such line).
fn dep_line(text: &str, name: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with(['=', '.']))
        })
        .map_or(0, |i| i + 1)
}

fn manifests(
    root: &Path,
    manifest: &Path,
    tools: &[String],
    packages: &[String],
    allow: &Allow,
    used: &mut BTreeSet<(&'static str, String)>,
    out: &mut Vec<Violation>,
) {
    let text = read(manifest);
    let path = rel(root, manifest);
    let doc: toml_edit::DocumentMut = text.parse().unwrap_or_else(|e| panic!("{path}: {e}"));
    let package = doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str());
    let package = package.unwrap_or_default().to_string();
    let is_tool = path.starts_with("tools/");
    for table in dependency_tables(&doc) {
        for (name, item) in table.iter() {
            let spec = item.as_table_like();
            let real = spec.and_then(|s| s.get("package")).and_then(|p| p.as_str()).unwrap_or(name);
            let line = dep_line(&text, name);
            if path != YAML_MANIFEST && YAML_CRATE.is_match(&real.replace('-', "_")) {
                let message = format!(
                    "`{package}` depends on the YAML crate `{real}`: only perfline does \
                     (perfline::yaml)"
                );
                out.push(Violation { path: path.clone(), line, rule: "yaml-crate", message });
            }
            if is_tool && real != package && tools.iter().any(|t| t == real) {
                let message = format!(
                    "tool `{package}` depends on tool `{real}`: move the shared code to a layer \
                     crate (perfline, perfline-*)"
                );
                out.push(Violation { path: path.clone(), line, rule: "tool-deps", message });
            }
            let in_workspace = real != package && packages.iter().any(|p| p == real);
            if let Some(message) =
                is_layer(&package).then(|| layer_violation(&package, real)).flatten()
            {
                if in_workspace {
                    out.push(Violation { path: path.clone(), line, rule: "layer-deps", message });
                }
            }
            let workspace = spec.and_then(|s| s.get("workspace")).and_then(|w| w.as_bool());
            if workspace != Some(true) {
                let key = format!("{package}:{name}");
                if allow.workspace_deps.contains(&key.as_str()) {
                    used.insert(("workspace-deps", key));
                } else {
                    let message = format!(
                        "`{name}` is not `{{ workspace = true }}`: add it to the root \
                         [workspace.dependencies]"
                    );
                    out.push(Violation {
                        path: path.clone(),
                        line,
                        rule: "workspace-deps",
                        message,
                    });
                }
            }
        }
    }
}

/// Every `.rs` file under perfline/, perfline-*/, tools/, xtask/ and tests/ (no `target/`, no
/// hidden dirs),
/// except this checker, whose patterns and planted violations would match themselves.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.filter_map(|e| e.ok()) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    let mut tops: Vec<String> = ["tools", "xtask", "tests"].map(String::from).to_vec();
    let layers = std::fs::read_dir(root).into_iter().flatten().filter_map(|e| e.ok());
    tops.extend(
        layers.map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| is_layer(n)),
    );
    for top in tops {
        walk(&root.join(top), &mut out);
    }
    out.retain(|p| rel(root, p) != "tests/src/tidy.rs");
    out.sort();
    out
}

/// Rust paths of YAML crates (a dash in the crate name is `_` in Rust).
static YAML_CRATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(serde_yaml|serde_yaml_ng|serde_yml|serde_norway|serde_saphyr|saphyr|saphyr_parser|yaml_rust|yaml_rust2|unsafe_libyaml)\b").unwrap()
});
/// The one file that may name a YAML crate, and the one manifest that may depend on one.
const YAML_MODULE: &str = "perfline/src/yaml.rs";
const YAML_MANIFEST: &str = "perfline/Cargo.toml";
/// The one JUnit writer.
const JUNIT_WRITER: &str = "perfline/src/junit.rs";
static SHELL_FORMAT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"format!\(\s*"[^"]*\b(ba)?sh -c\b"#).unwrap());
static DASH_C_FORMAT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""-c"\s*(\)\s*\.\s*arg\s*\(|,)\s*&?format!\("#).unwrap());
static PRINT_MACRO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(e?print(ln)?|dbg)!\s*[(\[{]").unwrap());
static STDERR_HANDLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|[^.\w])((std::)?io::)?stderr\(\)").unwrap());
static IN_PLACE_WRITE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(File::create(_new)?|fs::write|OpenOptions::new|File::options)\b").unwrap()
});
static FN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)").unwrap()
});
static CREATE_TABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bcreate\s+table\b").unwrap());
static STRING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#""(?:[^"\\]|\\.)*""#).unwrap());
static CLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(elapsed|as_millis|as_micros|as_nanos|as_secs|as_secs_f32|as_secs_f64)\b")
        .unwrap()
});
static DURATION_CMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(<|>)=?\s*&?Duration::from_\w+\(|Duration::from_\w+\([^)]*\)\s*(<|>)").unwrap()
});
static DEADLINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)elapsed\(\)\s*<\s*[\w:]*deadline\w*\s*(,|\)$)").unwrap());
static LATENCY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(^|[^a-z])(ttft|tpot|itl|e2el|latency|latencie)s?([^a-z]|$)").unwrap()
});
/// `(x - 200.0).abs() < 1e-9`: a computed value equal to its expected value, not a timing.
static FLOAT_TOLERANCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\.abs\(\)\s*<\s*\d*(\.\d+)?e-\d+").unwrap());
static NUMBER_CMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(<|>)=?\s*-?\d|\d(\.\d*)?\s*(<|>)|\d(\.\d*)?\s*\.\.=?\s*-?\d").unwrap()
});

/// A string literal: `r#"…"#`, `r"…"`, `"…"` (possibly spanning lines).
static LITERAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r###"(?s)r##"(.*?)"##|r#"(.*?)"#|r"([^"]*)"|"((?:[^"\\]|\\.)*)""###).unwrap()
});
/// Script text in a literal's source text (`\n` is the two characters of an escape).
static SCRIPT_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(^|\n|\\n)[ \t]*(#!/|#SBATCH -|(srun|sbatch) +["$-]|set -[euo]\b)"#).unwrap()
});
/// A call of perfline::shell's quoting.
static SHELL_QUOTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bshell::(quote|join|quote_array_word)\s*[(),]|\buse [\w:]*shell::\{?[^;]*\b(quote|join|quote_array_word)\b").unwrap()
});

/// The `shell-text` rule over one file (see the module docs); `is_test(i)` tells whether 0-based
/// line `i` is test code. Returns the lines (1-based) with their messages.
fn shell_text(path: &str, text: &str, is_test: &dyn Fn(usize) -> bool) -> Vec<(usize, String)> {
    let library = path.starts_with("perfline") || path.starts_with("tools/");
    let renderer = path == "perfline/src/template.rs" || path == "perfline/src/shell.rs";
    if !library || !path.contains("/src/") || renderer {
        return Vec::new();
    }
    // Comment lines blanked (their quotes would pair wrongly); `'"'` is no literal.
    let code: String = text
        .lines()
        .map(|l| if l.trim_start().starts_with("//") { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(r#"'"'"#, "' '")
        .replace(r#"'\"'"#, "'  '");
    let line_of = |at: usize| code[..at].matches('\n').count();
    let mut out = Vec::new();
    for m in LITERAL.captures_iter(&code) {
        let whole = m.get(0).unwrap();
        let body = (1..=4).find_map(|i| m.get(i)).map_or("", |b| b.as_str());
        let line = line_of(whole.start());
        if SCRIPT_TEXT.is_match(body) && !is_test(line) {
            let message = "script text in a Rust string: put it in a template file rendered by \
                           perfline::template"
                .to_string();
            out.push((line + 1, message));
        }
    }
    for (i, l) in code.lines().enumerate() {
        if SHELL_QUOTE.is_match(l) && !is_test(i) {
            let message = "perfline::shell quoting outside the renderer: print the value in a \
                           template (perfline::template quotes it)"
                .to_string();
            out.push((i + 1, message));
        }
    }
    out
}

/// The statement starting at line `i`: lines up to the first one ending with `;` (at most 8).
fn statement(lines: &[&str], i: usize) -> String {
    let mut s = String::new();
    for line in lines.iter().skip(i).take(8) {
        s.push_str(line.trim());
        s.push(' ');
        if line.trim_end().ends_with(';') {
            break;
        }
    }
    s.trim_end().to_string()
}

fn sources(
    root: &Path,
    file: &Path,
    allow: &Allow,
    used: &mut BTreeSet<(&'static str, String)>,
    out: &mut Vec<Violation>,
) {
    let text = read(file);
    let path = rel(root, file);
    let lines: Vec<&str> = text.lines().collect();
    let mut push = |line: usize, rule: &'static str, message: String| {
        out.push(Violation { path: path.clone(), line, rule, message });
    };

    let tool_main = path.starts_with("tools/")
        && path.ends_with("/src/main.rs")
        && path.matches('/').count() == 3;
    if tool_main && lines.len() > MAIN_MAX_LINES {
        if allow.main_lines.contains(&path.as_str()) {
            used.insert(("main-lines", path.clone()));
        } else {
            push(
                0,
                "main-lines",
                format!(
                    "{} lines (at most {MAIN_MAX_LINES}): move logic into modules",
                    lines.len()
                ),
            );
        }
    }

    let in_tests_dir = path.split('/').any(|c| c == "tests") && !path.starts_with("tests/src/");
    let cfg_test = lines.iter().position(|l| l.trim() == "#[cfg(test)]");
    // For the shipped-code rules, only a test module (conventionally last in the file) starts
    // test code: a `#[cfg(test)]` function in an impl does not make the code after it a test.
    let test_mod = (0..lines.len()).find(|&i| {
        lines[i].trim() == "#[cfg(test)]"
            && lines[i + 1..].iter().map(|l| l.trim()).find(|l| !l.starts_with("#[")).is_some_and(
                |l| l.trim_start_matches("pub ").starts_with("mod ") && l.ends_with('{'),
            )
    });
    let test_module = path.ends_with("/tests.rs");
    let is_test = |i: usize| in_tests_dir || test_module || cfg_test.is_some_and(|t| i > t);
    let script = shell_text(&path, &text, &is_test);
    if !script.is_empty() && allow.shell_text.contains(&path.as_str()) {
        used.insert(("shell-text", path.clone()));
    } else {
        for (n, message) in script {
            push(n, "shell-text", message);
        }
    }
    let mut shell_used = false;
    let mut clock_used = false;
    let mut create_used = false;
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        if CREATE_TABLE.is_match(line) && path != SCHEMA_RS {
            if allow.create_table.contains(&path.as_str()) {
                create_used = true;
            } else {
                push(
                    n,
                    "create-table",
                    format!(
                        "a table created outside {SCHEMA_RS}: add a migration there (and to \
                         docs/SCHEMA.md); tests build stores with perfline_store::schema::create_at"
                    ),
                );
            }
        }
        if path != YAML_MODULE {
            if let Some(m) = YAML_CRATE.find(&STRING.replace_all(line, "\"\"")) {
                let message = format!(
                    "YAML crate `{}` named outside {YAML_MODULE}: use perfline::yaml",
                    m.as_str()
                );
                push(n, "yaml-crate", message);
            }
        }
        let is_test = in_tests_dir || cfg_test.is_some_and(|t| i > t);
        let shipped = !in_tests_dir
            && !test_module
            && test_mod.is_none_or(|t| i <= t)
            && !path.starts_with("xtask/")
            && !path.starts_with("tests/");
        if shipped {
            let bare = STRING.replace_all(code, "\"\"");
            let bare = bare.split("//").next().unwrap_or_default();
            if let Some(m) = PRINT_MACRO.captures(bare).filter(|_| path != "perfline/src/cli.rs") {
                push(
                    n,
                    "print-macro",
                    format!(
                        "`{}!` outside perfline::cli: diagnostics through cli::diag or cli::say, \
                         stdout data through a writer or cli::out_line",
                        &m[1]
                    ),
                );
            }
            if STDERR_HANDLE.is_match(bare) && path != "perfline/src/cli.rs" {
                push(
                    n,
                    "stderr-path",
                    "stderr used outside perfline::cli: write through cli::diag, cli::say or \
                     cli::say_raw (one path; a closed stderr never panics)"
                        .into(),
                );
            }
            if let Some(m) = IN_PLACE_WRITE.find(bare).filter(|_| path != "perfline/src/fsutil.rs")
            {
                let function = lines[..i]
                    .iter()
                    .rev()
                    .find_map(|l| FN.captures(l).map(|c| c[6].to_string()))
                    .unwrap_or_default();
                let key = format!("{path}:{function}");
                if allow.atomic_write.iter().any(|e| e.path == path && e.function == function) {
                    used.insert(("atomic-write", key));
                } else {
                    push(
                        n,
                        "atomic-write",
                        format!(
                            "`{}` writes a file in place: use perfline::fsutil::write_atomic \
                             (temp + rename), or allow-list `{key}` with a reason in \
                             tests/src/tidy.rs",
                            m.as_str()
                        ),
                    );
                }
            }
        }
        if !is_test && path != JUNIT_WRITER && line.contains("<testsuite") {
            let message =
                format!("JUnit XML written outside {JUNIT_WRITER}: build perfline::junit cases");
            push(n, "junit-writer", message);
        }
        if !is_test {
            let stmt = statement(&lines, i);
            let dash_c = code.contains("\"-c\"") && DASH_C_FORMAT.is_match(&stmt);
            if SHELL_FORMAT.is_match(code) || dash_c {
                if allow.shell_string.contains(&path.as_str()) {
                    shell_used = true;
                } else {
                    push(
                        n,
                        "shell-string",
                        "shell command built with format!: render it with perfline::template \
                         or quote words with perfline::shell"
                            .into(),
                    );
                }
            }
        } else if code.contains("assert") && code.contains('!') {
            let stmt = STRING.replace_all(&statement(&lines, i), "\"\"").into_owned();
            let clock = (CLOCK.is_match(&stmt) || DURATION_CMP.is_match(&stmt))
                && !DEADLINE.is_match(&stmt);
            let latency = LATENCY.is_match(&stmt)
                && NUMBER_CMP.is_match(&stmt)
                && !FLOAT_TOLERANCE.is_match(&stmt);
            if clock || latency {
                if allow.clock_assert.contains(&path.as_str()) {
                    clock_used = true;
                } else {
                    push(
                        n,
                        "clock-assert",
                        "a test asserts a wall-clock duration: assert outcomes and orderings; \
                         measure time in `cargo xtask bench`"
                            .into(),
                    );
                }
            }
        }
    }
    if shell_used {
        used.insert(("shell-string", path.clone()));
    }
    if create_used {
        used.insert(("create-table", path.clone()));
    }
    if clock_used {
        used.insert(("clock-assert", path));
    }
}

static NESTED_CARGO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"Command::new\(\s*"cargo"|env!\(\s*"CARGO"\s*\)|var(_os)?\(\s*"CARGO"\s*\)|\bescargot\b"#,
    )
    .unwrap()
});
static SLEEP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bsleep\(").unwrap());
static LOOP_HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|[^\w])(loop|while|for)([^\w]|$)").unwrap());
static FN_HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(^|[^\w])fn\s").unwrap());
static CLOCK_BOUND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(Instant::now\(\)|\.elapsed\(\))\s*[<>]|[<>]=?\s*(std::time::)?Instant::now\(\)")
        .unwrap()
});

/// `text` with the contents of comments, string and char literals blanked (newlines kept), so
/// braces and words inside them do not count as code.
fn code_only(text: &str) -> String {
    static LITERAL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r###"(?s)//[^\n]*|r##".*?"##|r#".*?"#|b?"(?:[^"\\]|\\.)*"|'(?:\\.|[^\\'\n])'"###)
            .unwrap()
    });
    LITERAL
        .replace_all(text, |c: &regex::Captures| {
            c[0].chars().map(|ch| if ch == '\n' { '\n' } else { ' ' }).collect::<String>()
        })
        .into_owned()
}

/// The loop around byte `at` of `code` (header start, closing brace), if `at` sits in one
/// inside its function.
fn enclosing_loop(code: &str, at: usize) -> Option<(usize, usize)> {
    let bytes = code.as_bytes();
    let mut depth = 0usize;
    for open in (0..at).rev() {
        match bytes[open] {
            b'}' => depth += 1,
            b'{' if depth > 0 => depth -= 1,
            b'{' => {
                let start = code[..open].rfind([';', '{', '}']).map_or(0, |p| p + 1);
                let header = &code[start..open];
                if FN_HEADER.is_match(header) {
                    return None;
                }
                if LOOP_HEADER.is_match(header) {
                    let mut d = 0usize;
                    let close = (open..code.len()).find(|&i| {
                        match bytes[i] {
                            b'{' => d += 1,
                            b'}' => d -= 1,
                            _ => return false,
                        }
                        d == 0
                    })?;
                    return Some((start, close));
                }
            }
            _ => {}
        }
    }
    None
}

/// The rules on test code: `nested-cargo` and `test-sleep`.
fn test_code(
    root: &Path,
    file: &Path,
    allow: &Allow,
    used: &mut BTreeSet<(&'static str, String)>,
    out: &mut Vec<Violation>,
) {
    let path = rel(root, file);
    let in_tests_dir = path.split('/').any(|c| c == "tests");
    let text = read(file);
    let code = code_only(&text);
    let first_test_line = match text.lines().position(|l| l.trim() == "#[cfg(test)]") {
        _ if in_tests_dir => 0,
        Some(t) => t + 1,
        None => return,
    };
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    for (i, line) in text.lines().enumerate().skip(first_test_line) {
        if !line.trim_start().starts_with("//") && NESTED_CARGO.is_match(line) {
            out.push(Violation {
                path: path.clone(),
                line: i + 1,
                rule: "nested-cargo",
                message: "test code runs cargo: use the binaries cargo built \
                          (CARGO_BIN_EXE_<name>, chain_tests::bin)"
                    .into(),
            });
        }
    }
    for m in SLEEP.find_iter(&code) {
        let line = line_of(m.start());
        if line <= first_test_line {
            continue;
        }
        let bounded = enclosing_loop(&code, m.start())
            .is_some_and(|(start, end)| CLOCK_BOUND.is_match(&code[start..end]));
        if bounded {
            continue;
        }
        if allow.test_sleep.contains(&path.as_str()) {
            used.insert(("test-sleep", path.clone()));
            continue;
        }
        out.push(Violation {
            path: path.clone(),
            line,
            rule: "test-sleep",
            message: "sleep outside a polling loop with a deadline: wait for the event itself \
                      (poll it in a loop bounded by Instant::now()/elapsed())"
                .into(),
        });
    }
}

fn tool_lists(root: &Path, tools: &[String], out: &mut Vec<Violation>) {
    for tool in tools {
        let manifest = root.join("tools").join(tool).join("Cargo.toml");
        let path = rel(root, &manifest);
        let doc: toml_edit::DocumentMut =
            read(&manifest).parse().unwrap_or_else(|e| panic!("{path}: {e}"));
        let name = doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str());
        if name != Some(tool.as_str()) {
            let message = format!("package name {name:?}, directory `{tool}`: they must be equal");
            out.push(Violation { path: path.clone(), line: 0, rule: "tool-lists", message });
        }
        if !root.join("tools").join(tool).join("src/main.rs").is_file() {
            let message = format!("tool `{tool}` has no src/main.rs");
            out.push(Violation { path, line: 0, rule: "tool-lists", message });
        }
    }
    let readme = read(&root.join("README.md"));
    for tool in tools {
        let row = format!("| `{tool}` |");
        if !readme.lines().any(|l| l.starts_with(&row)) {
            let message = format!("tool `{tool}` has no row `{row} …` in the README's tool table");
            out.push(Violation { path: "README.md".into(), line: 0, rule: "tool-lists", message });
        }
    }
    static LIST: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?s)const TOOLS: \[&str; \d+\] =\s*\[([^\]]*)\]").unwrap());
    static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#""([^"]+)""#).unwrap());
    for file in rust_files(root).into_iter().filter(|f| rel(root, f).starts_with("xtask/")) {
        let text = read(&file);
        for list in LIST.captures_iter(&text) {
            let at = list.get(1).unwrap();
            for name in NAME.captures_iter(at.as_str()) {
                let m = name.get(1).unwrap();
                let name = m.as_str();
                if !tools.iter().any(|t| t == name) {
                    let line = text[..at.start() + m.start()].matches('\n').count() + 1;
                    let message = format!("TOOLS lists `{name}`, which is not a tools/ crate");
                    out.push(Violation {
                        path: rel(root, &file),
                        line,
                        rule: "tool-lists",
                        message,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clean fake workspace: two tools, perfline, xtask with a TOOLS list, a README table.
    fn clean_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let files: &[(&str, &str)] = &[
            ("Cargo.toml", "[workspace]\nmembers = [\"perfline\", \"perfline-slurm\", \"xtask\", \"tools/*\"]\n\n[workspace.dependencies]\nserde = \"1\"\n"),
            ("perfline/Cargo.toml", "[package]\nname = \"perfline\"\n\n[dependencies]\nserde.workspace = true\nsaphyr-parser = { workspace = true }\n"),
            ("perfline/src/yaml.rs", "use saphyr_parser::Parser;\npub fn load(t: &str) -> Value { build(saphyr_parser::Parser::new_from_str(t)) }\n"),
            ("perfline-slurm/src/profile.rs", "fn f(v: Value) -> P { perfline::yaml::from_value(&v).unwrap() }\n"),
            ("perfline-slurm/Cargo.toml", "[package]\nname = \"perfline-slurm\"\n\n[dependencies]\nperfline.workspace = true\n"),
            ("tools/alpha/Cargo.toml", "[package]\nname = \"alpha\"\n\n[dependencies]\nperfline.workspace = true\nureq = { workspace = true, features = [\"tls\"] }\n\n[target.'cfg(unix)'.dependencies]\nlibc.workspace = true\n"),
            ("tools/alpha/src/main.rs", "//! reads x\nfn main() {\n    let y = perfline::yaml::to_string(&1.into());\n    let c = format!(\"echo {y}\");\n}\n"),
            ("tools/beta/Cargo.toml", "[package]\nname = \"beta\"\n\n[dev-dependencies]\ntempfile.workspace = true\n"),
            ("tools/beta/src/main.rs", "fn main() {}\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {\n        let start = Instant::now();\n        assert!(start.elapsed() < DEADLINE, \"never ready\");\n        assert_eq!(ttft, e2el, \"same\");\n    }\n}\n"),
            ("tools/beta/tests/cli.rs", "fn wait() {\n    while !ready() {\n        assert!(\n            start.elapsed() < DEADLINE,\n            \"not ready\"\n        );\n    }\n}\n"),
            ("xtask/Cargo.toml", "[package]\nname = \"xtask\"\n\n[dependencies]\nanyhow.workspace = true\n"),
            ("xtask/src/e2e.rs", "const TOOLS: [&str; 2] = [\n    \"alpha\",\n    \"beta\",\n];\n"),
            ("README.md", "| tool | purpose |\n|---|---|\n| `alpha` | a |\n| `beta` | b |\n"),
        ];
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn write(dir: &tempfile::TempDir, path: &str, text: &str) {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn append(dir: &tempfile::TempDir, path: &str, text: &str) {
        let p = dir.path().join(path);
        let old = std::fs::read_to_string(&p).unwrap();
        std::fs::write(p, old + text).unwrap();
    }

    /// The violations as `PATH:LINE: RULE` strings.
    fn found(dir: &tempfile::TempDir, allow: &Allow) -> Vec<String> {
        check_with(dir.path(), allow)
            .into_iter()
            .map(|v| format!("{}:{}: {}", v.path, v.line, v.rule))
            .collect()
    }

    #[test]
    fn a_clean_tree_passes() {
        let dir = clean_tree();
        assert_eq!(check_with(dir.path(), &Allow::default()), vec![]);
    }

    #[test]
    fn a_tool_depending_on_a_tool_fails() {
        let dir = clean_tree();
        append(
            &dir,
            "tools/alpha/Cargo.toml",
            "\n[dev-dependencies]\nbeta = { workspace = true }\n",
        );
        append(
            &dir,
            "tools/beta/Cargo.toml",
            "other = { workspace = true, package = \"alpha\" }\n",
        );
        assert_eq!(
            found(&dir, &Allow::default()),
            vec!["tools/alpha/Cargo.toml:12: tool-deps", "tools/beta/Cargo.toml:6: tool-deps"]
        );
    }

    #[test]
    fn a_layer_depending_on_a_layer_beside_or_above_it_fails() {
        let dir = clean_tree();
        append(&dir, "perfline/Cargo.toml", "perfline-slurm = { workspace = true }\n");
        write(&dir, "perfline-stats/Cargo.toml", "[package]\nname = \"perfline-stats\"\n\n[dependencies]\nperfline.workspace = true\nperfline-slurm.workspace = true\nserde.workspace = true\n\n[dev-dependencies]\nalpha.workspace = true\nxtask.workspace = true\n");
        write(&dir, "Cargo.toml", "[workspace]\nmembers = [\"perfline\", \"perfline-slurm\", \"perfline-stats\", \"xtask\", \"tools/*\"]\n\n[workspace.dependencies]\nserde = \"1\"\n");
        let found: Vec<String> =
            check_with(dir.path(), &Allow::default()).iter().map(|v| v.to_string()).collect();
        assert_eq!(
            found,
            vec![
                "perfline-stats/Cargo.toml:6: layer-deps: layer `perfline-stats` depends on `perfline-slurm`: a layer crate depends only on `perfline` (and external crates)",
                "perfline-stats/Cargo.toml:10: layer-deps: layer `perfline-stats` depends on `alpha`: a layer crate depends only on `perfline` (and external crates)",
                "perfline-stats/Cargo.toml:11: layer-deps: layer `perfline-stats` depends on `xtask`: a layer crate depends only on `perfline` (and external crates)",
                "perfline/Cargo.toml:7: layer-deps: `perfline` depends on `perfline-slurm`: the bottom layer depends on no other workspace crate",
            ]
        );
    }

    #[test]
    fn a_dependency_outside_the_workspace_table_fails() {
        let dir = clean_tree();
        append(&dir, "tools/beta/Cargo.toml", "\n[dependencies]\nmemchr = \"2\"\nfoo = { version = \"1\" }\n\n[build-dependencies.cc]\nversion = \"1\"\n");
        append(&dir, "xtask/Cargo.toml", "bar = { workspace = false }\n");
        // `[build-dependencies.cc]` has no `cc =` line: reported on line 0 (the whole file).
        assert_eq!(
            found(&dir, &Allow::default()),
            vec![
                "tools/beta/Cargo.toml:0: workspace-deps",
                "tools/beta/Cargo.toml:8: workspace-deps",
                "tools/beta/Cargo.toml:9: workspace-deps",
                "xtask/Cargo.toml:6: workspace-deps",
            ]
        );
        let allow = Allow {
            workspace_deps: &["beta:memchr", "beta:foo", "beta:cc", "xtask:bar"],
            ..Allow::default()
        };
        assert_eq!(found(&dir, &allow), Vec::<String>::new());
    }

    #[test]
    fn a_yaml_crate_named_outside_the_loader_fails() {
        let dir = clean_tree();
        write(&dir, "tools/alpha/src/conf.rs", "use serde_yaml::{Value, from_str};\n// serde_yaml in a comment is fine\nfn f(t: &str) {\n    let e = \"serde_yaml in a string is fine\";\n    let s = serde_norway::to_string(&w).unwrap();\n    let p = saphyr_parser::Parser::new_from_str(t);\n}\n");
        write(
            &dir,
            "perfline/src/profile.rs",
            "fn f(v: V) -> P { serde_yaml::from_value(v).unwrap() }\n",
        );
        append(&dir, "tools/beta/Cargo.toml", "serde_yaml = { workspace = true }\nyml = { workspace = true, package = \"serde-saphyr\" }\n");
        let got = check_with(dir.path(), &Allow::default());
        let got: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "perfline/src/profile.rs:1: yaml-crate: YAML crate `serde_yaml` named outside perfline/src/yaml.rs: use perfline::yaml",
                "tools/alpha/src/conf.rs:1: yaml-crate: YAML crate `serde_yaml` named outside perfline/src/yaml.rs: use perfline::yaml",
                "tools/alpha/src/conf.rs:5: yaml-crate: YAML crate `serde_norway` named outside perfline/src/yaml.rs: use perfline::yaml",
                "tools/alpha/src/conf.rs:6: yaml-crate: YAML crate `saphyr_parser` named outside perfline/src/yaml.rs: use perfline::yaml",
                "tools/beta/Cargo.toml:6: yaml-crate: `beta` depends on the YAML crate `serde_yaml`: only perfline does (perfline::yaml)",
                "tools/beta/Cargo.toml:7: yaml-crate: `beta` depends on the YAML crate `serde-saphyr`: only perfline does (perfline::yaml)",
            ]
        );
    }

    #[test]
    fn junit_written_outside_the_writer_fails() {
        let dir = clean_tree();
        write(
            &dir,
            "perfline/src/junit.rs",
            "pub fn write() -> String {\n    \"<testsuite name=\\\"x\\\">\".into()\n}\n",
        );
        write(&dir, "tools/alpha/src/report.rs", "fn report() -> String {\n    let mut x = String::from(\"<?xml?>\\n\");\n    x += \"<testsuite tests=\\\"1\\\">\";\n    x\n}\n#[cfg(test)]\nmod tests {\n    const IN: &str = \"<testsuite name=\\\"pytest\\\">\";\n}\n");
        write(
            &dir,
            "tools/beta/tests/cli.rs",
            "const WANT: &str = \"<testsuite name=\\\"beta\\\">\";\n",
        );
        let got: Vec<String> =
            check_with(dir.path(), &Allow::default()).iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["tools/alpha/src/report.rs:3: junit-writer: JUnit XML written outside perfline/src/junit.rs: build perfline::junit cases"]
        );
    }

    #[test]
    fn a_long_main_fails_unless_listed() {
        let dir = clean_tree();
        let long: String = (0..=MAIN_MAX_LINES).map(|i| format!("// {i}\n")).collect();
        write(&dir, "tools/beta/src/main.rs", &long);
        assert_eq!(found(&dir, &Allow::default()), vec!["tools/beta/src/main.rs:0: main-lines"]);
        let allow = Allow { main_lines: &["tools/beta/src/main.rs"], ..Allow::default() };
        assert_eq!(found(&dir, &allow), Vec::<String>::new());
        // Exactly the limit passes; a module other than main.rs is not counted.
        let at_limit: String = (0..MAIN_MAX_LINES).map(|i| format!("// {i}\n")).collect();
        write(&dir, "tools/beta/src/main.rs", &at_limit);
        write(&dir, "tools/beta/src/logic.rs", &long);
        assert_eq!(found(&dir, &Allow::default()), Vec::<String>::new());
    }

    #[test]
    fn a_stale_exception_fails() {
        let dir = clean_tree();
        let allow = Allow {
            main_lines: &["tools/beta/src/main.rs"],
            clock_assert: &["tools/beta/tests/cli.rs"],
            ..Allow::default()
        };
        assert_eq!(
            found(&dir, &allow),
            vec!["tests/src/tidy.rs:0: clock-assert", "tests/src/tidy.rs:0: main-lines"]
        );
    }

    #[test]
    fn a_shell_string_built_with_format_fails() {
        let dir = clean_tree();
        write(&dir, "tools/alpha/src/run.rs", "fn f(cmd: &str) {\n    let a = format!(\"bash -c '{cmd}'\");\n    let b = format!(\"srun sh -c {cmd}\");\n    Command::new(\"bash\").arg(\"-c\").arg(format!(\"exec {cmd}\"));\n    Command::new(\"sh\").args([\"-c\", &format!(\"{cmd}\")]);\n    Command::new(\"bash\").args([\"-c\", CONST_SCRIPT]);\n    let ok = format!(\"bash: {cmd}\");\n}\n#[cfg(test)]\nmod tests {\n    fn t() { let a = format!(\"bash -c {x}\"); }\n}\n");
        assert_eq!(
            found(&dir, &Allow::default()),
            vec![
                "tools/alpha/src/run.rs:2: shell-string",
                "tools/alpha/src/run.rs:3: shell-string",
                "tools/alpha/src/run.rs:4: shell-string",
                "tools/alpha/src/run.rs:5: shell-string",
            ]
        );
        let allow = Allow { shell_string: &["tools/alpha/src/run.rs"], ..Allow::default() };
        assert_eq!(found(&dir, &allow), Vec::<String>::new());
    }

    #[test]
    fn script_text_and_quoting_outside_the_renderer_fail() {
        let dir = clean_tree();
        let planted = concat!(
            "use perfline::shell::{check_id, quote};\n",
            "const HEAD: &str = \"#!/bin/bash\\nset -u\\n\";\n",
            "const BODY: &str = r#\"x=1\n",
            "srun \"${args[@]}\" role\n",
            "\"#;\n",
            "fn f(v: &str) -> String {\n",
            "    let h = format!(\"#SBATCH --time={v}\");\n",
            "    let w = perfline::shell::join(&[v]).unwrap();\n",
            "    let ok = (\"sbatch failed: {v}\", \"#SBATCH \", '\"', \"srun\");\n",
            "    // \"#!/bin/sh\" in a comment\n",
            "    format!(\"{h}{w}\")\n",
            "}\n",
            "#[cfg(test)]\n",
            "mod tests {\n",
            "    const T: &str = \"#!/bin/bash\\nsrun -N1 x\";\n",
            "    fn t() { let q = shell::quote(\"a\"); }\n",
            "}\n",
        );
        write(&dir, "tools/alpha/src/job.rs", planted);
        write(&dir, "tools/alpha/src/tests.rs", "const T: &str = \"#!/bin/bash\";\n");
        write(&dir, "xtask/src/sh.rs", "const T: &str = \"#!/bin/sh\";\n");
        let all = check_with(dir.path(), &Allow::default());
        let lines: Vec<String> =
            all.iter().map(|v| format!("{}:{}: {}", v.path, v.line, v.rule)).collect();
        assert_eq!(
            lines,
            vec![
                "tools/alpha/src/job.rs:1: shell-text",
                "tools/alpha/src/job.rs:2: shell-text",
                "tools/alpha/src/job.rs:3: shell-text",
                "tools/alpha/src/job.rs:7: shell-text",
                "tools/alpha/src/job.rs:8: shell-text",
            ]
        );
        assert_eq!(
            all[1].message,
            "script text in a Rust string: put it in a template file rendered by perfline::template"
        );
        assert_eq!(
            all[0].message,
            "perfline::shell quoting outside the renderer: print the value in a template \
             (perfline::template quotes it)"
        );
        let allow = Allow { shell_text: &["tools/alpha/src/job.rs"], ..Allow::default() };
        assert_eq!(found(&dir, &allow), Vec::<String>::new());
        // An exception that is no longer needed is reported.
        write(&dir, "tools/alpha/src/job.rs", "fn f() {}\n");
        assert_eq!(found(&dir, &allow), vec!["tests/src/tidy.rs:0: shell-text"]);
    }

    #[test]
    fn a_test_asserting_wall_clock_time_fails() {
        let dir = clean_tree();
        write(&dir, "tools/alpha/tests/timing.rs", "fn t() {\n    assert!(start.elapsed() >= Duration::from_millis(200), \"{:?}\", start.elapsed());\n    assert!(took.as_millis() < 80);\n    assert!(\n        (30.0..80.0).contains(&ttft),\n        \"median TTFT {ttft}\"\n    );\n    assert!(mean_itl_ms > 2.5);\n    assert!(d < Duration::from_secs(5));\n    assert!(start.elapsed() < DEADLINE, \"bounded\");\n    assert_eq!(ttft, e2el);\n    assert!((r.ttft.mean - 200.0).abs() < 1e-9);\n    let ok = start.elapsed() < Duration::from_secs(1);\n}\n");
        append(&dir, "tools/alpha/src/main.rs", "#[cfg(test)]\nmod tests {\n    fn t() {\n        assert!(elapsed >= Duration::from_millis(30));\n    }\n}\n");
        assert_eq!(
            found(&dir, &Allow::default()),
            vec![
                "tools/alpha/src/main.rs:9: clock-assert",
                "tools/alpha/tests/timing.rs:2: clock-assert",
                "tools/alpha/tests/timing.rs:3: clock-assert",
                "tools/alpha/tests/timing.rs:4: clock-assert",
                "tools/alpha/tests/timing.rs:8: clock-assert",
                "tools/alpha/tests/timing.rs:9: clock-assert",
            ]
        );
    }

    #[test]
    fn a_tool_missing_from_the_lists_fails() {
        let dir = clean_tree();
        write(&dir, "tools/gamma/Cargo.toml", "[package]\nname = \"gama\"\n");
        write(&dir, "xtask/src/bench.rs", "const TOOLS: [&str; 2] = [\"alpha\", \"delta\"];\n");
        assert_eq!(
            found(&dir, &Allow::default()),
            vec![
                "README.md:0: tool-lists",
                "tools/gamma/Cargo.toml:0: tool-lists",
                "tools/gamma/Cargo.toml:0: tool-lists",
                "xtask/src/bench.rs:1: tool-lists",
            ]
        );
    }

    /// The violations of `rule`, in full (`PATH:LINE: RULE: MESSAGE`).
    fn messages(dir: &tempfile::TempDir, allow: &Allow, rule: &str) -> Vec<String> {
        check_with(dir.path(), allow)
            .into_iter()
            .filter(|v| v.rule == rule)
            .map(|v| v.to_string())
            .collect()
    }

    #[test]
    fn a_print_macro_outside_cli_fails() {
        let dir = clean_tree();
        write(&dir, "tools/alpha/src/log.rs", "fn f(x: u32) {\n    println!(\"{x}\");\n    eprint!(\"a\");\n    let s = \"eprintln!(no)\"; // println!(in a comment)\n    dbg!(x);\n    writeln!(out, \"{x}\").unwrap();\n}\n#[cfg(test)]\nfn helper() {}\nfn after() {\n    print!(\"x\");\n}\n#[cfg(test)]\nmod tests {\n    fn t() { println!(\"in a test\"); }\n}\n");
        write(&dir, "tools/alpha/examples/ex.rs", "fn main() {\n    eprintln!(\"example\");\n}\n");
        write(&dir, "tools/alpha/tests/cli.rs", "fn t() { println!(\"a test\"); }\n");
        write(&dir, "perfline/src/cli.rs", "pub fn say(l: &str) { eprintln!(\"{l}\"); }\n");
        write(&dir, "perfline-stats/src/lib.rs", "pub fn f(x: u32) -> u32 {\n    dbg!(x)\n}\n");
        write(&dir, "xtask/src/run.rs", "fn f() { println!(\"progress\"); }\n");
        let tail = "outside perfline::cli: diagnostics through cli::diag or cli::say, stdout \
                    data through a writer or cli::out_line";
        assert_eq!(
            messages(&dir, &Allow::default(), "print-macro"),
            vec![
                format!("perfline-stats/src/lib.rs:2: print-macro: `dbg!` {tail}"),
                format!("tools/alpha/examples/ex.rs:2: print-macro: `eprintln!` {tail}"),
                format!("tools/alpha/src/log.rs:2: print-macro: `println!` {tail}"),
                format!("tools/alpha/src/log.rs:3: print-macro: `eprint!` {tail}"),
                format!("tools/alpha/src/log.rs:5: print-macro: `dbg!` {tail}"),
                format!("tools/alpha/src/log.rs:11: print-macro: `print!` {tail}"),
            ]
        );
        assert_eq!(found(&dir, &Allow::default()).len(), 6);
    }

    #[test]
    fn a_stderr_writer_outside_cli_fails() {
        let dir = clean_tree();
        write(&dir, "tools/alpha/src/err.rs", "use std::io::Write;\nfn f(e: clap::Error) {\n    let _ = writeln!(std::io::stderr(), \"x\");\n    let l = io::stderr().lock();\n    let t = stderr();\n    if e.use_stderr() {}\n    cmd.stderr(Stdio::null());\n    let tail = child.stderr.take();\n}\n");
        write(
            &dir,
            "perfline/src/cli.rs",
            "fn to_stderr(t: &str) { let _ = io::stderr().write_all(t.as_bytes()); }\n",
        );
        write(
            &dir,
            "xtask/src/run.rs",
            "fn f() { let _ = writeln!(std::io::stderr(), \"progress\"); }\n",
        );
        let message = "stderr-path: stderr used outside perfline::cli: write through cli::diag, \
                       cli::say or cli::say_raw (one path; a closed stderr never panics)";
        assert_eq!(
            messages(&dir, &Allow::default(), "stderr-path"),
            vec![
                format!("tools/alpha/src/err.rs:3: {message}"),
                format!("tools/alpha/src/err.rs:4: {message}"),
                format!("tools/alpha/src/err.rs:5: {message}"),
            ]
        );
        assert_eq!(found(&dir, &Allow::default()).len(), 3);
    }

    #[test]
    fn a_write_in_place_fails_unless_listed_with_a_reason() {
        let dir = clean_tree();
        write(&dir, "tools/alpha/src/out.rs", "fn save(p: &Path) {\n    std::fs::write(p, \"x\").unwrap();\n}\npub(crate) async fn log(p: &Path) -> File {\n    let f = tokio::fs::File::create(p);\n    OpenOptions::new().append(true).open(p)\n}\nfn ok(p: &Path) {\n    perfline::fsutil::write_atomic(p, b\"x\")\n}\n#[cfg(test)]\nmod tests {\n    fn t() { std::fs::write(\"a\", \"b\").unwrap(); }\n}\n");
        write(&dir, "perfline/src/fsutil.rs", "pub fn write_atomic() {\n    let f = std::fs::OpenOptions::new().create_new(true);\n}\n");
        write(&dir, "xtask/src/run.rs", "fn f() { std::fs::write(\"scratch\", \"\").unwrap(); }\n");
        write(
            &dir,
            "tools/beta/tests/cli.rs",
            "fn t() { std::fs::File::create(\"x\").unwrap(); }\n",
        );
        let message = |line: usize, call: &str, key: &str| {
            format!(
                "tools/alpha/src/out.rs:{line}: atomic-write: `{call}` writes a file in place: use \
                 perfline::fsutil::write_atomic (temp + rename), or allow-list `{key}` with a \
                 reason in tests/src/tidy.rs"
            )
        };
        let save = "tools/alpha/src/out.rs:save";
        let log = "tools/alpha/src/out.rs:log";
        assert_eq!(
            messages(&dir, &Allow::default(), "atomic-write"),
            vec![
                message(2, "fs::write", save),
                message(5, "File::create", log),
                message(6, "OpenOptions::new", log),
            ]
        );
        assert_eq!(found(&dir, &Allow::default()).len(), 3);
        // Listing `log` with a reason lets both of its writes pass; `save` still fails.
        const STREAMS: InPlace =
            InPlace { path: "tools/alpha/src/out.rs", function: "log", reason: "streams" };
        let allow = Allow { atomic_write: &[STREAMS], ..Allow::default() };
        assert_eq!(messages(&dir, &allow, "atomic-write"), vec![message(2, "fs::write", save)]);
        // An entry without a reason, and one no longer needed, are reported.
        const SILENT: InPlace = InPlace { reason: " ", ..STREAMS };
        const GONE: InPlace = InPlace { function: "gone", ..STREAMS };
        let allow = Allow { atomic_write: &[SILENT, GONE], ..Allow::default() };
        assert_eq!(
            messages(&dir, &allow, "atomic-write"),
            vec![
                "tests/src/tidy.rs:0: atomic-write: exception `tools/alpha/src/out.rs:gone` is \
                 no longer needed: remove it"
                    .to_string(),
                "tests/src/tidy.rs:0: atomic-write: exception `tools/alpha/src/out.rs:log` gives \
                 no reason: say why it cannot be atomic"
                    .to_string(),
                message(2, "fs::write", save),
            ]
        );
    }

    #[test]
    fn a_sleep_ordering_events_in_a_test_fails() {
        let dir = clean_tree();
        let order = "fn t() {\n    spawn();\n    std::thread::sleep(Duration::from_millis(200));\n    let s = \"loop { sleep(1) } {\";\n    for _ in 0..3 {\n        std::thread::sleep(Duration::from_millis(10));\n    }\n    let deadline = Instant::now() + DEADLINE;\n    while !ready() {\n        assert!(Instant::now() < deadline, \"not ready }\");\n        if busy() {\n            std::thread::sleep(Duration::from_millis(10));\n        }\n    }\n    let addr = loop {\n        if let Ok(a) = read() {\n            break a;\n        }\n        assert!(start.elapsed() < DEADLINE, \"no address\");\n        std::thread::sleep(Duration::from_millis(20)); // '{'\n    };\n}\n";
        write(&dir, "tools/alpha/tests/order.rs", order);
        write(&dir, "tools/alpha/src/run.rs", "fn f() {\n    std::thread::sleep(TICK);\n}\n#[cfg(test)]\nmod tests {\n    fn t() {\n        std::thread::sleep(D);\n    }\n}\n");
        assert_eq!(
            found(&dir, &Allow::default()),
            vec![
                "tools/alpha/src/run.rs:7: test-sleep",
                "tools/alpha/tests/order.rs:3: test-sleep",
                "tools/alpha/tests/order.rs:6: test-sleep",
            ]
        );
        assert_eq!(
            check_with(dir.path(), &Allow::default())[0].to_string(),
            "tools/alpha/src/run.rs:7: test-sleep: sleep outside a polling loop with a deadline: \
             wait for the event itself (poll it in a loop bounded by Instant::now()/elapsed())"
        );
        let allow = Allow { test_sleep: &["tools/alpha/tests/order.rs"], ..Allow::default() };
        assert_eq!(found(&dir, &allow), vec!["tools/alpha/src/run.rs:7: test-sleep"]);
    }

    #[test]
    fn a_test_running_cargo_fails() {
        let dir = clean_tree();
        write(&dir, "tests/src/lib.rs", "pub fn bin() {\n    let cargo = std::env::var(\"CARGO\").unwrap();\n    Command::new(\"cargo\").arg(\"build\");\n    // Command::new(\"cargo\") in a comment\n    let p = env!(\"CARGO_BIN_EXE_alpha\");\n}\n");
        write(
            &dir,
            "tools/alpha/tests/cli.rs",
            "fn t() {\n    let c = std::env::var_os(\"CARGO\");\n}\n",
        );
        write(
            &dir,
            "xtask/src/ci.rs",
            "fn ci() {\n    Command::new(\"cargo\").arg(\"test\");\n}\n",
        );
        assert_eq!(
            found(&dir, &Allow::default()),
            vec![
                "tests/src/lib.rs:2: nested-cargo",
                "tests/src/lib.rs:3: nested-cargo",
                "tools/alpha/tests/cli.rs:2: nested-cargo",
            ]
        );
        assert_eq!(
            check_with(dir.path(), &Allow::default())[0].to_string(),
            "tests/src/lib.rs:2: nested-cargo: test code runs cargo: use the binaries cargo built \
             (CARGO_BIN_EXE_<name>, chain_tests::bin)"
        );
    }

    #[test]
    fn a_table_created_outside_the_schema_fails() {
        let dir = clean_tree();
        write(&dir, SCHEMA_RS, "const DDL: &str = \"CREATE TABLE IF NOT EXISTS runs (id)\";\n");
        write(&dir, "tools/alpha/src/store.rs", "fn f(c: &Connection) {\n    // CREATE TABLE in a comment is prose\n    c.execute(\"CREATE TABLE perf_accept (id)\", []);\n}\n");
        write(&dir, "tools/beta/tests/db.rs", "fn t() {\n    db.execute_batch(\"create  table runs (id);\");\n    db.execute_batch(\"CREATE TABLES_NOT (a)\");\n}\n");
        let v = check_with(dir.path(), &Allow::default());
        let lines: Vec<String> = v.iter().map(ToString::to_string).collect();
        let message = "create-table: a table created outside perfline-store/src/schema.rs: add a \
                       migration there (and to docs/SCHEMA.md); tests build stores with \
                       perfline_store::schema::create_at";
        assert_eq!(
            lines,
            [
                format!("tools/alpha/src/store.rs:3: {message}"),
                format!("tools/beta/tests/db.rs:2: {message}"),
            ]
        );
        let allow = Allow {
            create_table: &["tools/alpha/src/store.rs", "tools/beta/tests/db.rs"],
            ..Allow::default()
        };
        assert_eq!(found(&dir, &allow), Vec::<String>::new());
        // An exception that no longer matches is itself reported.
        write(&dir, "tools/beta/tests/db.rs", "fn t() {}\n");
        assert_eq!(found(&dir, &allow), ["tests/src/tidy.rs:0: create-table"]);
    }
}
