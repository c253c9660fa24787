//! `cargo xtask bench plan`: `classify LIST | nodecount --root CORPUS` over every test form of
//! the corpus (testlists/corpus/plan_forms.txt, ~320 cases) against a minimal Python + PyYAML
//! planner, run two ways: the competent baseline (libyaml's `yaml.CSafeLoader`, each distinct
//! config parsed once and cached: only ~100 of the cases have distinct configs) and, labelled
//! apart, the incumbent's way (pure-Python `yaml.safe_load` of the config per test). One
//! untimed warm-up run per side (it also checks that all sides agree on every count), then N
//! timed runs per side, interleaved; medians, ratios as baseline time / perfline time.

use crate::util::{project_root, Section};
use anyhow::{ensure, Context};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Plan {
    /// Timed runs per side, at least 5 (the median is reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// The config corpus (an upstream checkout layout).
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Use the classify and nodecount binaries in this folder instead of building them (e.g.
    /// to compare two versions with the same settings).
    #[arg(long, value_name = "DIR")]
    bin: Option<PathBuf>,
}

const LIST: &str = "testlists/corpus/plan_forms.txt";

/// The baseline: what the incumbent does per test (incumbent.md §1 parse_test_string, §7.1).
const PLAN_PY: &str = r#"
import functools, json, math, os, re, sys
import yaml

if sys.argv[3] == "competent":
    # libyaml's parser, each config file parsed once (AttributeError: PyYAML without libyaml).
    LOADER = yaml.CSafeLoader
    @functools.lru_cache(maxsize=None)
    def load(path):
        with open(path) as f:
            return yaml.load(f, Loader=LOADER)
else:
    # The incumbent's way: pure-Python safe_load of the config for every test.
    def load(path):
        return yaml.safe_load(open(path))

AGGR = ("tests/scripts/perf-sanity/aggregated",)
DISAGG = ("tests/scripts/perf-sanity/disaggregated",
          "tests/integration/defs/perf/disagg/test_configs/disagg/perf",
          "tests/integration/defs/perf/disagg/test_configs/wideep/perf")

def find(root, dirs, name):
    for d in dirs:
        p = os.path.join(root, d, name + ".yaml")
        if os.path.exists(p):
            return p
    raise FileNotFoundError(name)

if sys.argv[3] == "competent":
    find = functools.lru_cache(maxsize=None)(find)

def gpus(s):
    return s.get("gpus") or s.get("world_size") or (
        s.get("tensor_parallel_size", 1) * s.get("pipeline_parallel_size", 1)
        * s.get("context_parallel_size", 1))

def plan(test_id, root):
    labels = test_id.split("-")
    prefix = labels[0]
    if "disagg" in prefix:
        mode, cfg = labels[1], "-".join(labels[2:])
        c = load(find(root, DISAGG + AGGR, cfg))
        hw, w = c["hardware"], c["worker_config"]
        gpn = hw["gpus_per_node"]
        n_ctx = hw["num_ctx_servers"]
        if mode == "gen_only" and "gen_only_no_context" in c["benchmark"].get("mode", ""):
            n_ctx = 0
        nodes = n_ctx * math.ceil(gpus(w["ctx"]) / gpn) + hw["num_gen_servers"] * math.ceil(gpus(w["gen"]) / gpn)
        kind = "disagg"
    elif len(labels) > 2 and labels[1] == "ctx_only":
        c = load(find(root, DISAGG + AGGR, "-".join(labels[2:])))
        gpn = c["hardware"]["gpus_per_node"]
        nodes = math.ceil(gpus(c["worker_config"]["ctx"]) / gpn)
        kind = "single-agg" if nodes == 1 else "multi-agg"
    else:
        c = load(find(root, AGGR + DISAGG, labels[1]))
        gpn = c["hardware"]["gpus_per_node"]
        select = "-".join(labels[2:]).split(",") if len(labels) > 2 else None
        nodes = max(math.ceil(gpus(s) / gpn) for s in c["server_configs"]
                    if select is None or s["name"] in select)
        kind = "single-agg" if nodes == 1 else "multi-agg"
    return {"id": test_id, "mode": kind, "total_nodes": nodes, "total_gpus": nodes * gpn}

def main(list_path, root):
    for line in open(list_path):
        m = re.search(r"\[(.*)\]", line)
        if m:
            print(json.dumps(plan(m.group(1), root)))

main(sys.argv[1], sys.argv[2])
"#;

/// The two ways of the Python baseline (the script's third argument).
const PY_SIDES: [(&str, &str); 2] =
    [("competent", "python CSafeLoader+cache"), ("incumbent", "python safe_load/test (incumbent)")];

impl Plan {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        ensure!(self.runs >= 5, "--runs must be at least 5 (medians of 5 or more runs per side)");
        let root = project_root();
        let corpus = self.corpus.unwrap_or_else(|| root.join("../shared/corpus/trtllm"));
        let list = root.join(LIST);
        ensure!(list.is_file(), "{LIST} is missing (cargo test -p chain-tests regenerates it)");
        if self.bin.is_none() {
            let _s = Section::new("cargo build --release -p classify -p nodecount");
            xshell::cmd!(sh, "cargo build --release --quiet -p classify -p nodecount").run()?;
        }
        let out_dir = root.join("target/bench-plan");
        std::fs::create_dir_all(&out_dir)?;
        let script = out_dir.join("plan.py");
        std::fs::write(&script, PLAN_PY)?;
        let bin = self.bin.unwrap_or_else(|| root.join("target/release"));
        let cases = std::fs::read_to_string(&list)?.lines().filter(|l| l.contains('[')).count();

        // Warm-up: one untimed run per side, which also checks that every side agrees on every
        // count before their times mean anything.
        let counts = |text: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    Some(format!("{} {} {}", v["id"], v["total_nodes"], v["total_gpus"]))
                })
                .collect()
        };
        let rust_counts = counts(&rust_chain(&bin, &list, &corpus, Stdio::piped())?);
        ensure!(rust_counts.len() == cases, "nodecount planned {} of {cases}", rust_counts.len());
        for (way, _) in PY_SIDES {
            let py_counts = counts(&python(&script, way, &list, &corpus, Stdio::piped())?);
            ensure!(
                rust_counts == py_counts,
                "nodecount and plan.py ({way}) disagree on node counts"
            );
        }

        let _s = Section::new(format!("{} timed runs per side over {cases} cases", self.runs));
        let mut rust_times = Vec::new();
        let mut py_times = vec![Vec::new(); PY_SIDES.len()];
        for _ in 0..self.runs {
            rust_times.push(timed(|| rust_chain(&bin, &list, &corpus, Stdio::null()).map(drop))?);
            for ((way, _), times) in PY_SIDES.iter().zip(&mut py_times) {
                times
                    .push(timed(|| python(&script, way, &list, &corpus, Stdio::null()).map(drop))?);
            }
        }
        let rust = median(&mut rust_times);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let per_case = |d: Duration| d.as_secs_f64() * 1e6 / cases as f64;
        println!(
            "bench plan: {cases} cases, median of {} timed runs per side after 1 warm-up run each",
            self.runs
        );
        println!(
            "{:<36} {:>14} {:>14} {:>24}",
            "side", "corpus (ms)", "per test (µs)", "ratio baseline/perfline"
        );
        println!(
            "{:<36} {:>14.2} {:>14.1} {:>24}",
            "perfline (classify | nodecount)",
            ms(rust),
            per_case(rust),
            ""
        );
        let mut ratios = Vec::new();
        for ((_, label), times) in PY_SIDES.iter().zip(&mut py_times) {
            let py = median(times);
            let ratio = ms(py) / ms(rust);
            ratios.push(ratio);
            println!("{label:<36} {:>14.2} {:>14.1} {:>23.1}x", ms(py), per_case(py), ratio);
        }
        println!(
            "targets: ratio ≥ 100x vs the competent baseline {}, whole corpus < 20 ms {}",
            if ratios[0] >= 100.0 { "met" } else { "MISSED" },
            if ms(rust) < 20.0 { "met" } else { "MISSED" }
        );
        Ok(())
    }
}

/// `classify LIST | nodecount --root CORPUS`, as two processes joined by a pipe.
fn rust_chain(bin: &Path, list: &Path, corpus: &Path, out: Stdio) -> anyhow::Result<String> {
    let mut classify =
        Command::new(bin.join("classify")).arg(list).stdout(Stdio::piped()).spawn()?;
    let stdin = classify.stdout.take().context("classify stdout")?;
    let nodecount = Command::new(bin.join("nodecount"))
        .arg("--root")
        .arg(corpus)
        .env_remove("PERFLINE_CONFIG_ROOTS")
        .stdin(stdin)
        .stdout(out)
        .output()?;
    ensure!(classify.wait()?.success(), "classify failed");
    ensure!(
        nodecount.status.success(),
        "nodecount failed: {}",
        String::from_utf8_lossy(&nodecount.stderr)
    );
    Ok(String::from_utf8(nodecount.stdout)?)
}

/// plan.py run the `way` of [`PY_SIDES`].
fn python(
    script: &Path,
    way: &str,
    list: &Path,
    corpus: &Path,
    out: Stdio,
) -> anyhow::Result<String> {
    let run =
        Command::new("python3").arg(script).arg(list).arg(corpus).arg(way).stdout(out).output()?;
    ensure!(run.status.success(), "plan.py failed: {}", String::from_utf8_lossy(&run.stderr));
    Ok(String::from_utf8(run.stdout)?)
}

fn timed(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}
