//! `cargo xtask bench report`: 500 series × 100 runs (10 tests × 5 concurrencies × 10 key
//! metrics, 100 runs of history, 500 verdicts) rendered by the release `report` into one HTML
//! file, side by side with a Python baseline that writes the same charts (trend per series with
//! band, baseline, change point and current marker; Pareto per test; verdict table) as SVG with
//! plain string formatting and `html.escape`. Median wall time of N runs per side after one
//! warm-up run each; targets: < 2 s and < 5 MB.

use crate::util::which;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Report {
    /// Runs per side (the median is reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Tests (each a sweep of 5 concurrencies, 10 key metrics: 50 series per test).
    #[arg(long, default_value_t = 10)]
    tests: usize,
    /// Runs of history.
    #[arg(long, default_value_t = 100)]
    history: usize,
}

const METRICS: [(&str, &str); 10] = [
    ("seq_throughput", "req/s"),
    ("token_throughput", "tok/s"),
    ("mean_ttft", "ms"),
    ("p99_ttft", "ms"),
    ("mean_tpot", "ms"),
    ("p99_tpot", "ms"),
    ("mean_itl", "ms"),
    ("p99_itl", "ms"),
    ("mean_e2el", "ms"),
    ("p99_e2el", "ms"),
];
const CONCURRENCIES: [u64; 5] = [1, 4, 16, 64, 256];

/// The baseline: the same page content with Python's string formatting, no plotting library.
const REPORT_PY: &str = r##"
import html, json, sys
from collections import OrderedDict, defaultdict
metrics_path, verdicts_path, out_path = sys.argv[1:4]
KEY = ["seq_throughput", "token_throughput", "mean_ttft", "p99_ttft", "mean_tpot", "p99_tpot",
       "mean_itl", "p99_itl", "mean_e2el", "p99_e2el"]
esc = html.escape
runs = OrderedDict(); cases = defaultdict(dict); info = {}
for line in open(metrics_path):
    r = json.loads(line)
    key = r["context"]["run_key"]
    runs.setdefault(key, len(runs))
    info[key] = r["context"]
    cases[(r["test_id"], r.get("server") or "", r.get("client") or "")][key] = r
verdicts = [json.loads(l) for l in open(verdicts_path)]
vmap = {(v["test_id"], v.get("server") or "", v.get("client") or "", v["metric"]): v for v in verdicts}
keys = list(runs)
rank = {"regression": 0, "suspect": 1, "improvement": 2, "no-change": 3, "insufficient-data": 4}
color = {"regression": "#d62728", "suspect": "#e37b0b", "improvement": "#2ca02c"}

def fmt(v):
    return "%.3g" % v

def chart(points, n, v, title, w=360, h=190):
    l, r, t, b = 52, w - 12, 22, h - 20
    ys = [p[1] for p in points]
    if v and v.get("baseline") is not None:
        ys.append(v["baseline"])
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1
    lo, hi = lo - pad, hi + pad
    X = lambda i: l + (i + 0.5) * (r - l) / n
    Y = lambda y: b - (y - lo) * (b - t) / (hi - lo)
    s = ['<svg width="%d" height="%d" viewBox="0 0 %d %d" xmlns="http://www.w3.org/2000/svg">' % (w, h, w, h),
         '<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>' % (w, h),
         '<text x="%d" y="14" font-family="sans-serif" font-size="13" text-anchor="middle">%s</text>' % (w // 2, esc(title))]
    for k in range(5):
        y = lo + (hi - lo) * k / 4
        s.append('<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#e6e6e6"/>' % (l, Y(y), r, Y(y)))
        s.append('<text x="%d" y="%.0f" font-family="sans-serif" font-size="10" text-anchor="end">%s</text>' % (l - 4, Y(y) + 3, fmt(y)))
    for k in range(0, n, max(1, n // 4)):
        s.append('<text x="%.0f" y="%d" font-family="sans-serif" font-size="10" text-anchor="middle">%s</text>' % (X(k), h - 6, esc(keys[-n:][k][:8])))
    s.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (l, t, l, b, l, b, r, b))
    cur = n - 1
    if v:
        base = sorted(p[1] for p in points if p[0] < cur)
        if len(base) >= 2:
            q = lambda f: base[int(f * (len(base) - 1))]
            s.append('<rect x="%d" y="%.0f" width="%d" height="%.0f" fill="#888" opacity="0.18"/>' % (l, Y(q(0.9)), r - l, max(1, Y(q(0.1)) - Y(q(0.9)))))
        if v.get("baseline") is not None:
            s.append('<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#888" stroke-dasharray="5,4"/>' % (l, Y(v["baseline"]), r, Y(v["baseline"])))
        if v.get("change_run") in keys[-n:]:
            x = X(keys[-n:].index(v["change_run"]) - 0.5)
            s.append('<line x1="%.0f" y1="%d" x2="%.0f" y2="%d" stroke="%s" stroke-dasharray="4,3"/>' % (x, t, x, b, color.get(v["verdict"], "#1f77b4")))
            s.append('<text x="%.0f" y="%d" font-family="sans-serif" font-size="10">%s</text>' % (x + 4, t + 10, esc(v["change_run"][:8])))
    s.append('<polyline fill="none" stroke="#1f77b4" points="%s"/>' % " ".join("%.0f,%.0f" % (X(i), Y(y)) for i, y in points))
    last = [p for p in points if p[0] == cur]
    if last:
        c = color.get(v["verdict"], "#1f77b4") if v else "#1f77b4"
        s.append('<circle cx="%.0f" cy="%.0f" r="5" fill="%s" stroke="#000"/>' % (X(cur), Y(last[0][1]), c))
    s.append("</svg>")
    return "".join(s)

def pareto(test, now, base, w=520, h=320):
    pts = now + base
    mx, my = max(p[0] for p in pts) * 1.08, max(p[1] for p in pts) * 1.08
    l, r, t, b = 56, w - 16, 24, h - 34
    X = lambda x: l + x * (r - l) / mx
    Y = lambda y: b - y * (b - t) / my
    s = ['<svg width="%d" height="%d" viewBox="0 0 %d %d" xmlns="http://www.w3.org/2000/svg"><rect width="%d" height="%d" fill="#fff"/>' % (w, h, w, h, w, h),
         '<text x="%d" y="16" font-family="sans-serif" font-size="13" text-anchor="middle">%s</text>' % (w // 2, esc(test[:40]))]
    for k in range(6):
        s.append('<text x="%.0f" y="%d" font-family="sans-serif" font-size="10">%s</text>' % (X(mx * k / 5), b + 14, fmt(mx * k / 5)))
        s.append('<text x="%d" y="%.0f" font-family="sans-serif" font-size="10" text-anchor="end">%s</text>' % (l - 4, Y(my * k / 5), fmt(my * k / 5)))
    for series, c in ((base, "#888"), (now, "#1f77b4")):
        series = sorted(series)
        s.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (c, " ".join("%.0f,%.0f" % (X(x), Y(y)) for x, y, _ in series)))
        s += ['<circle cx="%.0f" cy="%.0f" r="4" fill="%s"/>' % (X(x), Y(y), c) for x, y, _ in series]
    s += ['<text x="%.0f" y="%.0f" font-family="sans-serif" font-size="10">%s</text>' % (X(x), Y(y), esc(lab)) for x, y, lab in now]
    s.append("</svg>")
    return "".join(s)

cur_key = keys[-1]
out = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>report %s</title></head><body>' % esc(cur_key)]
ctx = info[cur_key]
out.append("<p>%s</p>" % " · ".join("%s %s" % (esc(k), esc(str(ctx[k]))) for k in ("gpu", "driver", "cuda", "trtllm", "commit") if k in ctx))
moved = sorted((v for v in verdicts if rank[v["verdict"]] < 3), key=lambda v: rank[v["verdict"]])
for v in moved:
    c = (v["test_id"], v.get("server") or "", v.get("client") or "")
    pts = [(i, cases[c][k]["metrics"][v["metric"]]) for i, k in enumerate(keys) if k in cases[c] and cases[c][k]["status"] == "ok"]
    out.append('<div><b>%s</b> %s %s %+.1f %%%s</div>' % (esc(v["verdict"]), esc(v["test_id"]), esc(v["metric"]), v["delta_pct"] or 0, chart(pts, len(keys), v, v["metric"])))
out.append("<table><tr><th>verdict</th><th>test</th><th>client</th><th>metric</th><th>baseline</th><th>current</th><th>delta</th></tr>")
for v in sorted(verdicts, key=lambda v: rank[v["verdict"]]):
    out.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % tuple(esc(str(v.get(k))) for k in ("verdict", "test_id", "client", "metric", "baseline", "current", "delta_pct")))
out.append("</table>")
tests = OrderedDict()
for c in sorted(cases):
    tests.setdefault(c[0], []).append(c)
for test, cs in tests.items():
    out.append("<details open><summary>%s</summary>" % esc(test))
    def sweep(k):
        pts = []
        for c in cs:
            r = cases[c].get(k)
            if r and r["status"] == "ok":
                m = r["metrics"]
                pts.append((m.get("user_throughput") or 1000 / m["mean_tpot"], m["token_throughput"] / r["context"].get("total_gpus", 1), "c%d" % r["concurrency"]))
        return pts
    out.append(pareto(test, sweep(cur_key), sweep(keys[-2])))
    for c in cs:
        out.append("<h4>%s</h4>" % esc(c[1] + "-" + c[2]))
        for m in KEY:
            pts = [(i, cases[c][k]["metrics"][m]) for i, k in enumerate(keys) if k in cases[c] and cases[c][k]["status"] == "ok" and m in cases[c][k]["metrics"]]
            out.append(chart(pts, len(keys), vmap.get(c + (m,)), m))
    out.append("</details>")
out.append("</body></html>")
open(out_path, "w").write("".join(out))
print(len(out))
"##;

impl Report {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        let (bin, dir) = super::release_bin_and_dir(sh, "report", "report")?;
        let (metrics, verdicts) = (dir.join("history.jsonl"), dir.join("verdicts.jsonl"));
        let (m, v) = input(self.tests, self.history);
        sh.write_file(&metrics, m)?;
        sh.write_file(&verdicts, v)?;
        let series = self.tests * CONCURRENCIES.len() * METRICS.len();
        eprintln!("input: {series} series × {} runs, {} verdicts", self.history, series);

        let out = dir.join("report.html");
        let ours = median(self.runs, || {
            let mut c = Command::new(&bin);
            c.arg("--metrics").arg(&metrics).arg("--verdicts").arg(&verdicts);
            c.arg("--window").arg(self.history.to_string()).arg("-o").arg(&out);
            c
        })?;
        let size = std::fs::metadata(&out)?.len();
        let py = if which("python3") {
            let py_out = dir.join("python.html");
            let t = median(self.runs, || {
                let mut c = Command::new("python3");
                c.arg("-c").arg(REPORT_PY).arg(&metrics).arg(&verdicts).arg(&py_out);
                c
            })?;
            Some((t, std::fs::metadata(&py_out)?.len()))
        } else {
            eprintln!("python3 missing: no baseline");
            None
        };

        let mb = |b: u64| b as f64 / 1e6;
        println!(
            "{:<44} {:>12} {:>12} {:>8}",
            "figure (median of runs)", "perfline", "baseline", "base÷ours"
        );
        let label = format!("render {series} series × {} runs, s", self.history);
        match py {
            Some((t, bytes)) => {
                println!("{label:<44} {ours:>12.3} {:>12.3} {:>8.2}", t, t / ours);
                println!(
                    "{:<44} {:>12.2} {:>12.2} {:>8.2}",
                    "HTML size, MB",
                    mb(size),
                    mb(bytes),
                    mb(bytes) / mb(size)
                );
            }
            None => {
                println!("{label:<44} {ours:>12.3} {:>12} {:>8}", "-", "-");
                println!("{:<44} {:>12.2} {:>12} {:>8}", "HTML size, MB", mb(size), "-", "-");
            }
        }
        println!("baseline: Python 3, string-formatted SVG + html.escape (no plotting library); targets < 2 s, < 5 MB");
        println!(
            "targets: time {}, size {}",
            if ours < 2.0 { "met" } else { "MISSED" },
            if size < 5_000_000 { "met" } else { "MISSED" }
        );
        Ok(())
    }
}

/// Median wall time of `runs` runs after one warm-up run; each run must succeed.
fn median(runs: usize, command: impl Fn() -> Command) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for i in 0..=runs.max(1) {
        let start = Instant::now();
        let out = command().output()?;
        let secs = start.elapsed().as_secs_f64();
        anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        if i > 0 {
            times.push(secs);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Metric records of `history` runs (`context.run_key` r001…, 8 GPUs) and a verdict per series
/// for the last run: every 25th series a regression from run `history - 3` on (its values
/// moved), every 40th an improvement, every 60th suspect.
fn input(tests: usize, history: usize) -> (String, String) {
    let (mut m, mut v) = (String::new(), String::new());
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % 2001) as f64 / 1000.0 - 1.0
    };
    let kind = |i: usize| match i {
        _ if i % 25 == 7 => "regression",
        _ if i % 40 == 3 => "improvement",
        _ if i % 60 == 11 => "suspect",
        _ => "no-change",
    };
    for run in 1..=history {
        for t in 0..tests {
            for (ci, c) in CONCURRENCIES.iter().enumerate() {
                let mut values = Vec::new();
                let mut units = Vec::new();
                for (mi, (metric, unit)) in METRICS.iter().enumerate() {
                    let series = (t * CONCURRENCIES.len() + ci) * METRICS.len() + mi;
                    let higher = metric.contains("throughput");
                    let base = (100.0 + 37.0 * mi as f64)
                        * if higher { *c as f64 } else { 1.0 + *c as f64 / 64.0 };
                    let shift = match kind(series) {
                        "regression" if run + 3 > history => {
                            if higher {
                                0.85
                            } else {
                                1.15
                            }
                        }
                        "improvement" if run + 3 > history => {
                            if higher {
                                1.12
                            } else {
                                0.88
                            }
                        }
                        "suspect" if run == history => 1.2,
                        _ => 1.0,
                    };
                    let value = base * shift * (1.0 + 0.01 * noise());
                    values.push(format!("\"{metric}\":{value:.3}"));
                    units.push(format!("\"{metric}\":\"{unit}\""));
                    if run == history {
                        let k = kind(series);
                        let change = if k == "regression" || k == "improvement" {
                            format!("\"r{:03}\"", history - 2)
                        } else {
                            "null".into()
                        };
                        let _ = writeln!(
                            v,
                            "{{\"test_id\":\"bench-test-{t}\",\"server\":\"srv\",\"client\":\"con{c}\",\"metric\":\"{metric}\",\"verdict\":\"{k}\",\"current\":{value:.3},\"baseline\":{base:.3},\"delta_pct\":{:.2},\"p_value\":0.001,\"change_run\":{change},\"method\":\"change-point\",\"window\":30,\"better\":\"{}\",\"run_key\":\"r{run:03}\"}}",
                            (value - base) / base * 100.0,
                            if higher { "higher" } else { "lower" }
                        );
                    }
                }
                let _ = writeln!(
                    m,
                    "{{\"test_id\":\"bench-test-{t}\",\"server\":\"srv\",\"client\":\"con{c}\",\"concurrency\":{c},\"status\":\"ok\",\"metrics\":{{{}}},\"units\":{{{}}},\"context\":{{\"run_key\":\"r{run:03}\",\"gpu\":\"H100\",\"driver\":\"575.57.08\",\"total_gpus\":8}}}}",
                    values.join(","),
                    units.join(",")
                );
            }
        }
    }
    (m, v)
}
