//! `--explain TEST[/CLIENT[/METRIC]]`: how a series was judged, as text on stderr (stdout
//! stays JSON Lines): the values, the segmentation, the noise estimate, the test statistics
//! and why the verdict follows.

use crate::check::{case_name, short, Current, Earlier};
use crate::judge::Outcome;
use perfline::wire::verdict::VerdictRecord;
use perfline_store::read::SeriesKey;

/// Whether `key` is named by `spec` (`TEST`, `TEST/CLIENT`, `TEST/CLIENT/METRIC`; the
/// client part matches the client or `SERVER-CLIENT`).
pub fn matches(spec: &str, key: &SeriesKey) -> bool {
    let mut parts = spec.splitn(3, '/');
    let test = parts.next().unwrap_or_default();
    let client = parts.next();
    let metric = parts.next();
    test == key.test_id
        && client.is_none_or(|c| c == key.client || c == case_name(&key.server, &key.client))
        && metric.is_none_or(|m| m == key.metric)
}

fn pct(log: f64) -> f64 {
    log.exp_m1() * 100.0
}

/// The explanation of one judged series, line by line.
pub fn lines(
    c: &Current,
    earlier: &[Earlier],
    pending: &[f64],
    v: &VerdictRecord,
    o: &Outcome,
) -> Vec<String> {
    let k = &c.key;
    let mut out = vec![format!(
        "explain {} {} {} ({} is better), method {}",
        k.test_id,
        case_name(&k.server, &k.client),
        k.metric,
        c.better.as_str(),
        v.method
    )];
    let outliers = o.stats.as_ref().map(|s| s.outliers.clone()).unwrap_or_default();
    let mark = |i: usize, x: f64| {
        let star = if outliers.contains(&i) { "*" } else { "" };
        format!("{}{star}", short(x))
    };
    let stored: Vec<String> = earlier
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{}={}", e.run_key.as_deref().unwrap_or("?"), mark(i, e.value)))
        .collect();
    out.push(format!(
        "  history ({} runs, oldest first; * outlier left out): {}",
        earlier.len(),
        stored.join(" ")
    ));
    if !pending.is_empty() {
        let p: Vec<String> =
            pending.iter().enumerate().map(|(j, x)| mark(earlier.len() + j, *x)).collect();
        out.push(format!("  pending runs of this invocation: {}", p.join(" ")));
    }
    out.push(format!("  current: {}", short(c.value)));
    if let Some(s) = &o.stats {
        let cps: Vec<String> = s
            .change_points
            .iter()
            .map(|cp| format!("before value {} (p {:.2e})", cp.index, cp.p_value))
            .collect();
        out.push(format!(
            "  segmentation (values left after outliers): {}",
            if cps.is_empty() { "one level, no change point".into() } else { cps.join(", ") }
        ));
        out.push(format!(
            "  noise: ±{:.2} % a run (1.4826·MAD of within-segment residuals), lag-1 correlation \
             ρ {:.2}: baseline {} runs count as {:.1}, current level {} as {:.1}; df {:.1}",
            pct(s.noise.sigma),
            s.noise.rho,
            s.n_base,
            s.noise.n_eff(s.n_base),
            s.n_new,
            s.noise.n_eff(s.n_new),
            s.df
        ));
        out.push(format!(
            "  move: {:+.2} % (Hodges–Lehmann, current level vs baseline {}), standard error \
             {:.2} %, {:.1} standard errors; p {:.3e}{}, q {:.3e}",
            s.effect_pct(),
            v.baseline.map_or("-".into(), short),
            pct(s.se),
            s.z(),
            o.score.unwrap_or(1.0),
            if s.searched { " (search-corrected)" } else { "" },
            o.q_value.unwrap_or(1.0)
        ));
    }
    let extra = match (v.runs_needed, v.min_detectable_pct) {
        (Some(n), Some(m)) => format!("; runs needed {n}, min detectable {m:.2} %"),
        (None, Some(m)) => format!("; min detectable {m:.2} %"),
        _ => String::new(),
    };
    out.push(format!(
        "  verdict: {} — {}{extra}",
        v.verdict.as_str(),
        v.reason.as_deref().unwrap_or("no reason recorded")
    ));
    out
}
