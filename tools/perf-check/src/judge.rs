//! The two verdict rules, as pure functions of one series' history and current value.
//!
//! - [`change_point`] (default): change points over history + current on log values
//!   ([`perfline::changepoint`]); see ARCHITECTURE.md "Judging performance".
//! - [`incumbent`]: the incumbent's threshold rule (reference/incumbent.md §9).

use perfline::changepoint::{self, mean_var, Settings};
use perfline::metric::Better;
use perfline::wire::verdict::Verdict;

/// What a rule concluded about one series.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The level the current value is judged against.
    pub baseline: Option<f64>,
    /// The rule's score: a p-value (change-point) or the threshold (incumbent).
    pub score: Option<f64>,
    /// Index into the history of the first run at the new level; `history.len()` is the
    /// current run.
    pub change_at: Option<usize>,
}

/// Settings of the change-point rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChangePointRule {
    /// Significance of a change point (t-test p-value) and of a current value that leaves its
    /// level (prediction p-value).
    pub alpha: f64,
    /// Fewest earlier runs needed to judge at all.
    pub min_history: usize,
    /// Smallest level change reported, as a fraction (0.01 = 1 %).
    pub min_change: f64,
    /// Smallest level change reported, in units of the series' run-to-run noise: a change
    /// within the noise (a slow drift, the pick of the best split) is not called.
    pub min_effect: f64,
}

/// Fewest earlier runs the change-point rule judges with: below this, `insufficient-data`.
pub const MIN_HISTORY: usize = 5;

impl Default for ChangePointRule {
    fn default() -> ChangePointRule {
        ChangePointRule {
            alpha: 0.001,
            min_history: MIN_HISTORY,
            min_change: 0.02,
            min_effect: 2.0,
        }
    }
}

/// An isolated value this many noise units off its neighbours is an outlier and left out.
const OUTLIER_K: f64 = 4.0;
/// One-sided significance with which the earlier runs of a new level must share its change.
const SHARE_ALPHA: f64 = 0.05;

fn geo_mean(logs: &[f64]) -> Option<f64> {
    (!logs.is_empty()).then(|| mean_var(logs).0.exp())
}

/// Judges `current` against `history` (oldest first, failed runs already excluded):
///
/// 1. fewer than `min_history` earlier values → `insufficient-data`;
/// 2. log values; isolated outliers of the history are left out;
/// 3. change points over history + current (E-divisive, t-test, segments ≥ 2 values);
/// 4. a last change point whose new level the current run shares with the earlier runs after
///    it (their own shift significant one-sided at 5 %, same sign; the current value within
///    that level) is a `regression` or `improvement` by the metric's direction, judged
///    against the segment before it — unless smaller than `min_change` (`no-change`);
/// 5. a current value off its level (prediction p < alpha, beyond `min_change`) that no
///    earlier run shares → `suspect`; else `no-change`.
pub fn change_point(
    history: &[f64],
    current: f64,
    better: Better,
    rule: &ChangePointRule,
) -> Outcome {
    // Logs of the usable earlier values, with their history index.
    let usable: Vec<(usize, f64)> = history
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite() && **v > 0.0)
        .map(|(i, v)| (i, v.ln()))
        .collect();
    let logs: Vec<f64> = usable.iter().map(|(_, y)| *y).collect();
    if usable.len() < rule.min_history.max(2) {
        return Outcome {
            verdict: Verdict::InsufficientData,
            baseline: geo_mean(&logs),
            score: None,
            change_at: None,
        };
    }
    if !(current.is_finite() && current > 0.0) {
        // A zero or negative throughput or latency is no level: rerun before believing it.
        return Outcome {
            verdict: Verdict::Suspect,
            baseline: geo_mean(&logs),
            score: None,
            change_at: Some(history.len()),
        };
    }
    let c = current.ln();
    let sigma = changepoint::noise(&logs);
    let outliers = changepoint::isolated_outliers(&logs, Some(c), sigma, OUTLIER_K);
    let kept: Vec<(usize, f64)> =
        usable.iter().enumerate().filter(|(j, _)| !outliers.contains(j)).map(|(_, p)| *p).collect();
    let mut z: Vec<f64> = kept.iter().map(|(_, y)| *y).collect();
    let m = z.len();
    // Noise of what is left: robust (for the size of a change) and the residual spread around
    // the segments (the larger one, for whether the current value fits a level).
    let robust = changepoint::noise(&z);
    z.push(c);
    let min_shift = (1.0 + rule.min_change).ln().max(rule.min_effect * robust);
    let settings = Settings { alpha: rule.alpha, min_segment: 2, min_shift };
    let cps = changepoint::detect(&z, &settings);
    let sigma = robust.max(residual_sd(&z[..m], &cps));
    let df = m.saturating_sub(1) as f64;
    let direction = |shift: f64| match (shift < 0.0, better) {
        (true, Better::Higher) | (false, Better::Lower) => Verdict::Regression,
        _ => Verdict::Improvement,
    };
    if let Some(last) = cps.last() {
        let k = last.index;
        let prev = if cps.len() >= 2 { cps[cps.len() - 2].index } else { 0 };
        let before = &z[prev..k];
        let earlier_new = &z[k..m];
        let (mb, _) = mean_var(before);
        let (mn, _) = mean_var(earlier_new);
        let shared = (mn - mb).signum() == (c - mb).signum()
            && changepoint::t_test(before, earlier_new) / 2.0 < SHARE_ALPHA;
        let current_fits = changepoint::prediction_p(earlier_new, c, sigma, df) >= rule.alpha;
        if shared && current_fits {
            let (level, _) = mean_var(&z[k..]);
            let shift = level - mb;
            let verdict =
                if shift.abs() < min_shift { Verdict::NoChange } else { direction(shift) };
            return Outcome {
                verdict,
                baseline: Some(mb.exp()),
                score: Some(last.p_value),
                change_at: Some(kept[k].0),
            };
        }
        // The current value left the level the earlier runs settled on.
        return Outcome {
            verdict: Verdict::Suspect,
            baseline: Some(mn.exp()),
            score: Some(changepoint::prediction_p(earlier_new, c, sigma, df)),
            change_at: Some(history.len()),
        };
    }
    let (level, _) = mean_var(&z[..m]);
    let p = changepoint::prediction_p(&z[..m], c, sigma, df);
    let off = p < rule.alpha && (c - level).abs() >= min_shift;
    Outcome {
        verdict: if off { Verdict::Suspect } else { Verdict::NoChange },
        baseline: Some(level.exp()),
        score: Some(p),
        change_at: off.then_some(history.len()),
    }
}

/// Standard deviation of `y` around the means of the segments the change points cut it into.
fn residual_sd(y: &[f64], cps: &[changepoint::ChangePoint]) -> f64 {
    let mut bounds = vec![0];
    bounds.extend(cps.iter().map(|c| c.index).filter(|i| *i < y.len()));
    bounds.push(y.len());
    let mut ss = 0.0;
    for w in bounds.windows(2) {
        let seg = &y[w[0]..w[1]];
        let (mean, _) = mean_var(seg);
        ss += seg.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
    }
    let df = y.len().saturating_sub(bounds.len() - 1);
    if df == 0 {
        0.0
    } else {
        (ss / df as f64).sqrt()
    }
}

/// The day a run counts in for the incumbent's daily means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Day {
    /// `YYYY-MM-DD` of the run's start time.
    Date(String),
    /// A run without a start time is a day of its own (its position in the history).
    Run(usize),
}

impl Day {
    /// The day of a run from its start time (`YYYY-MM-DD…`), else its own day.
    pub fn of(start_time: Option<&str>, position: usize) -> Day {
        match start_time.and_then(|t| t.get(..10)) {
            Some(d)
                if d.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                }) =>
            {
                Day::Date(d.to_string())
            }
            _ => Day::Run(position),
        }
    }
}

/// The incumbent's rule: daily means of the history (in order), a trailing rolling mean of 3
/// days (fewer for the first two days), then the 95th percentile (higher is better) or the
/// 5th (lower is better) with linear interpolation is the baseline. Regression when the
/// current value is worse than the baseline by more than `threshold` (a fraction);
/// improvement when better by as much (reported only, as the incumbent never gates on it).
pub fn incumbent(history: &[(f64, Day)], current: f64, better: Better, threshold: f64) -> Outcome {
    let mut days: Vec<(&Day, f64, usize)> = Vec::new();
    for (value, day) in history.iter().filter(|(v, _)| v.is_finite()) {
        match days.iter_mut().find(|(d, _, _)| *d == day) {
            Some(slot) => {
                slot.1 += value;
                slot.2 += 1;
            }
            None => days.push((day, *value, 1)),
        }
    }
    if days.is_empty() {
        return Outcome {
            verdict: Verdict::InsufficientData,
            baseline: None,
            score: None,
            change_at: None,
        };
    }
    let daily: Vec<f64> = days.iter().map(|(_, sum, n)| sum / *n as f64).collect();
    let rolling: Vec<f64> = (0..daily.len())
        .map(|i| {
            let w = &daily[i.saturating_sub(2)..=i];
            w.iter().sum::<f64>() / w.len() as f64
        })
        .collect();
    let q = if better == Better::Higher { 95.0 } else { 5.0 };
    let baseline = percentile(&rolling, q);
    let worse = match better {
        Better::Higher => current < baseline * (1.0 - threshold),
        Better::Lower => current > baseline * (1.0 + threshold),
    };
    let improved = match better {
        Better::Higher => current > baseline * (1.0 + threshold),
        Better::Lower => current < baseline * (1.0 - threshold),
    };
    let verdict = if worse {
        Verdict::Regression
    } else if improved {
        Verdict::Improvement
    } else {
        Verdict::NoChange
    };
    Outcome {
        verdict,
        baseline: Some(baseline),
        score: Some(threshold),
        change_at: (worse || improved).then_some(history.len()),
    }
}

/// The `q`th percentile of `values` with linear interpolation between closest ranks (numpy's
/// default): rank `q/100 · (n − 1)`.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = q / 100.0 * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOISE: [f64; 8] = [0.01, -0.012, 0.004, -0.003, 0.008, -0.009, 0.002, -0.006];

    fn series(n: usize, level: f64) -> Vec<f64> {
        (0..n).map(|i| level * NOISE[i % NOISE.len()].exp()).collect()
    }

    fn judge(h: &[f64], c: f64, b: Better) -> Outcome {
        change_point(h, c, b, &ChangePointRule::default())
    }

    #[test]
    fn shared_step_is_a_regression_by_direction() {
        let mut h = series(20, 100.0);
        for v in &mut h[16..] {
            *v *= 0.9;
        }
        let o = judge(&h, 90.3, Better::Higher);
        assert_eq!(o.verdict, Verdict::Regression, "{o:?}");
        assert_eq!(o.change_at, Some(16));
        assert!((o.baseline.unwrap() - 100.0).abs() < 0.5, "{o:?}");
        assert_eq!(judge(&h, 90.3, Better::Lower).verdict, Verdict::Improvement);
    }

    #[test]
    fn current_alone_is_suspect_and_flat_is_no_change() {
        let h = series(20, 100.0);
        let o = judge(&h, 80.0, Better::Higher);
        assert_eq!((o.verdict, o.change_at), (Verdict::Suspect, Some(20)), "{o:?}");
        let o = judge(&h, 100.5, Better::Higher);
        assert_eq!((o.verdict, o.change_at), (Verdict::NoChange, None), "{o:?}");
        // A single outlier in the history changes nothing.
        let mut h = series(20, 100.0);
        h[7] = 120.0;
        h[0] = 83.0;
        assert_eq!(judge(&h, 100.2, Better::Higher).verdict, Verdict::NoChange);
        // The last run an outlier, the current one normal: no change either.
        let mut h = series(20, 100.0);
        h[19] = 118.0;
        assert_eq!(judge(&h, 100.2, Better::Higher).verdict, Verdict::NoChange);
    }

    #[test]
    fn too_little_history() {
        let o = judge(&[100.0, 101.0, 99.0, 100.0], 50.0, Better::Higher);
        assert_eq!(o.verdict, Verdict::InsufficientData);
        assert!((o.baseline.unwrap() - 99.997).abs() < 0.01);
        assert_eq!(judge(&[], 1.0, Better::Lower).baseline, None);
    }

    #[test]
    fn incumbent_rule() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 95.0), 4.8);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 5.0), 1.2);
        let d = |s: &str| Day::Date(s.into());
        // Daily means 100, 110, 90 (two runs on day 3: 80 and 100), 100.
        let h = [
            (100.0, d("2026-05-01")),
            (110.0, d("2026-05-02")),
            (80.0, d("2026-05-03")),
            (100.0, d("2026-05-03")),
            (100.0, d("2026-05-04")),
        ];
        // Rolling: 100, 105, 100, 100 → P95 = 104.25, P5 = 100.
        let o = incumbent(&h, 99.0, Better::Higher, 0.05);
        assert_eq!((o.verdict, o.baseline), (Verdict::Regression, Some(104.25)));
        assert_eq!(incumbent(&h, 99.1, Better::Higher, 0.05).verdict, Verdict::NoChange);
        assert_eq!(incumbent(&h, 105.1, Better::Lower, 0.05).verdict, Verdict::Regression);
        assert_eq!(incumbent(&h, 94.9, Better::Lower, 0.05).verdict, Verdict::Improvement);
        assert_eq!(incumbent(&[], 1.0, Better::Lower, 0.05).verdict, Verdict::InsufficientData);
        assert_eq!(Day::of(Some("2026-05-01T12:00:00Z"), 3), d("2026-05-01"));
        assert_eq!(Day::of(None, 3), Day::Run(3));
        assert_eq!(Day::of(Some("yesterday"), 4), Day::Run(4));
    }
}
