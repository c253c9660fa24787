//! Change-point detection for performance series: E-divisive means
//! (Matteson & James 2014, energy statistic with α = 1) to place change points, and a pooled
//! Student t-test between the segments on each side to keep only significant ones, as Apache
//! Otava (hunter) does. perf-check judges with it; report draws the change points it finds.
//!
//! Work on log values: performance noise is multiplicative (a few percent of the level), so in
//! log space it is homoscedastic and a step is the same size at any level — which is also why
//! the t-test pools the two variances.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// One change point: `index` is the first value of the new segment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChangePoint {
    pub index: usize,
    /// Two-sided p-value of the t-test between the segments before and after it.
    pub p_value: f64,
}

/// Detection settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// A change point is kept when its t-test p-value is below this.
    pub alpha: f64,
    /// Fewest values in a segment (2: a single odd value is never a segment of its own).
    pub min_segment: usize,
    /// Smallest difference between the means on either side of a kept change point (hunter's
    /// minimum magnitude): a smaller one is merged away, whatever its p-value.
    pub min_shift: f64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { alpha: 0.001, min_segment: 2, min_shift: 0.0 }
    }
}

/// Change points of `z`, ascending. Recursive bisection: the split maximising the energy
/// statistic is kept when the t-test between its two sides is significant; then (as hunter
/// does) every kept point is re-tested against its neighbouring segments and the weakest
/// insignificant one dropped (else the smallest one under `min_shift`), until all are
/// significant and large enough.
pub fn detect(z: &[f64], s: &Settings) -> Vec<ChangePoint> {
    let min = s.min_segment.max(1);
    let mut found = Vec::new();
    bisect(z, 0, z.len(), min, s.alpha, &mut found);
    found.sort_unstable();
    loop {
        let mut bounds = vec![0];
        bounds.extend(&found);
        bounds.push(z.len());
        let mut tested = Vec::with_capacity(found.len());
        let mut shifts = Vec::with_capacity(found.len());
        for i in 1..bounds.len() - 1 {
            let (left, right) = (&z[bounds[i - 1]..bounds[i]], &z[bounds[i]..bounds[i + 1]]);
            tested.push(ChangePoint { index: bounds[i], p_value: t_test(left, right) });
            shifts.push((mean_var(right).0 - mean_var(left).0).abs());
        }
        match weakest(&tested, &shifts, s) {
            Some(i) => {
                found.remove(i);
            }
            None => return tested,
        }
    }
}

/// The change point to drop next: the least significant one (p ≥ `s.alpha`), else the one with
/// the smallest shift under `s.min_shift`; `None` when every one holds.
fn weakest(tested: &[ChangePoint], shifts: &[f64], s: &Settings) -> Option<usize> {
    tested
        .iter()
        .enumerate()
        .filter(|(_, c)| c.p_value >= s.alpha)
        .max_by(|a, b| a.1.p_value.total_cmp(&b.1.p_value))
        .map(|(i, _)| i)
        .or_else(|| {
            shifts
                .iter()
                .enumerate()
                .filter(|(_, d)| **d < s.min_shift)
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
        })
}

fn bisect(z: &[f64], lo: usize, hi: usize, min: usize, alpha: f64, out: &mut Vec<usize>) {
    if hi - lo < 2 * min {
        return;
    }
    let Some(tau) = best_split(&z[lo..hi], min).map(|t| t + lo) else { return };
    if t_test(&z[lo..tau], &z[tau..hi]) < alpha {
        out.push(tau);
        bisect(z, lo, tau, min, alpha, out);
        bisect(z, tau, hi, min, alpha, out);
    }
}

/// The split `τ` (first index of the right part, `min ≤ τ ≤ len − min`) maximising
/// Q̂ = nm/(n+m) · (2/(nm) Σ|x−y| − Σ_{i<k}|x_i−x_k| / C(n,2) − Σ_{j<k}|y_j−y_k| / C(m,2)).
/// O(len²): the three sums are updated as one value moves from the right part to the left.
pub fn best_split(z: &[f64], min: usize) -> Option<usize> {
    let len = z.len();
    let min = min.max(1);
    if len < 2 * min {
        return None;
    }
    let d = |i: usize, j: usize| (z[i] - z[j]).abs();
    let (mut within_l, mut within_r, mut cross) = (0.0, 0.0, 0.0);
    for i in 0..len {
        for j in i + 1..len {
            match (i < min, j < min) {
                (true, true) => within_l += d(i, j),
                (false, false) => within_r += d(i, j),
                _ => cross += d(i, j),
            }
        }
    }
    let pairs = |n: usize| (n * n.saturating_sub(1) / 2).max(1) as f64;
    let mut best: Option<(usize, f64)> = None;
    for tau in min..=len - min {
        if tau > min {
            // Value tau-1 moves from the right part to the left.
            let p = tau - 1;
            let to_left: f64 = (0..p).map(|i| d(i, p)).sum();
            let to_right: f64 = (p + 1..len).map(|j| d(p, j)).sum();
            within_l += to_left;
            within_r -= to_right;
            cross += to_right - to_left;
        }
        let (n, m) = (tau as f64, (len - tau) as f64);
        let e = 2.0 * cross / (n * m) - within_l / pairs(tau) - within_r / pairs(len - tau);
        let q = n * m / (n + m) * e;
        if best.is_none_or(|(_, b)| q > b) {
            best = Some((tau, q));
        }
    }
    best.map(|(tau, _)| tau)
}

/// Mean and sample variance (0 for one value).
pub fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if x.is_empty() {
        return (f64::NAN, 0.0);
    }
    let mean = x.iter().sum::<f64>() / n;
    let ss: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
    (mean, if x.len() > 1 { ss / (n - 1.0) } else { 0.0 })
}

/// Two-sided p-value of Student's t-test with pooled variance between `a` and `b` (each at
/// least one value, three or more together). With no variance at all: 1 when the means are
/// equal, else 0.
pub fn t_test(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len(), b.len());
    if na == 0 || nb == 0 || na + nb < 3 {
        return 1.0;
    }
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let df = (na + nb - 2) as f64;
    let pooled = ((na - 1) as f64 * va + (nb - 1) as f64 * vb) / df;
    let se = (pooled * (1.0 / na as f64 + 1.0 / nb as f64)).sqrt();
    two_sided(ma - mb, se, df)
}

/// Two-sided p-value that `x` is a new draw from `sample`'s level, with noise `sigma`
/// estimated on `df` degrees of freedom: t = (x − mean) / (σ·√(1 + 1/n)).
pub fn prediction_p(sample: &[f64], x: f64, sigma: f64, df: f64) -> f64 {
    if sample.is_empty() {
        return 1.0;
    }
    let (mean, _) = mean_var(sample);
    let se = sigma * (1.0 + 1.0 / sample.len() as f64).sqrt();
    two_sided(x - mean, se, df.max(1.0))
}

fn two_sided(diff: f64, se: f64, df: f64) -> f64 {
    if se.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !se.is_finite() {
        return if diff.abs() <= f64::EPSILON * 16.0 { 1.0 } else { 0.0 };
    }
    let t = (diff / se).abs();
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => (2.0 * (1.0 - dist.cdf(t))).clamp(0.0, 1.0),
        Err(_) => 1.0,
    }
}

/// Run-to-run noise of `y`, robust to steps and outliers: 1.4826 · median |Δy| / √2 (a step
/// moves one difference, an outlier two).
pub fn noise(y: &[f64]) -> f64 {
    let mut diffs: Vec<f64> = y.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    if diffs.is_empty() {
        return 0.0;
    }
    diffs.sort_unstable_by(f64::total_cmp);
    let mid = diffs.len() / 2;
    let median = if diffs.len().is_multiple_of(2) {
        (diffs[mid - 1] + diffs[mid]) / 2.0
    } else {
        diffs[mid]
    };
    1.4826 * median / std::f64::consts::SQRT_2
}

/// Indices of isolated outliers of `y`: a value that sticks out by more than `k` noise units
/// from the two values beside it (the two after it, for the first) while those two agree.
/// `next` is the value after the last one (the current run), so that a last value shared by
/// the current run is a change, not an outlier. A step is never an outlier: on one side of
/// it the neighbours disagree.
pub fn isolated_outliers(y: &[f64], next: Option<f64>, sigma: f64, k: f64) -> Vec<usize> {
    if sigma <= 0.0 {
        return Vec::new();
    }
    // r = y_i − (a + b)/2 has standard deviation σ·√1.5 under no change; a − b has σ·√2.
    let (limit_r, limit_ab) = (k * sigma * 1.5f64.sqrt(), 3.0 * sigma * 2f64.sqrt());
    let at = |i: usize| {
        if i < y.len() {
            Some(y[i])
        } else if i == y.len() {
            next
        } else {
            None
        }
    };
    (0..y.len())
        .filter(|&i| {
            let pair = if i == 0 { (at(1), at(2)) } else { (at(i - 1), at(i + 1)) };
            let (Some(a), Some(b)) = pair else { return false };
            (y[i] - (a + b) / 2.0).abs() > limit_r && (a - b).abs() <= limit_ab
        })
        .collect()
}

/// The run-to-run noise of a series, from its residuals inside segments (module docs of
/// perf-check's judge and ARCHITECTURE.md "Judging performance").
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Noise {
    /// Robust scale of one value around its segment's level: 1.4826 · MAD of the residuals
    /// from each segment's median (each scaled by √(n/(n−1)) for the median's own error).
    pub sigma: f64,
    /// Lag-1 autocorrelation of the residuals (winsorised at ±3σ), clamped to [0, 0.8].
    pub rho: f64,
    /// Degrees of freedom of `sigma`: residuals minus segments, times (1 − ρ)/(1 + ρ).
    pub df: f64,
}

/// Largest autocorrelation credited: beyond it the effective sample size is 1/9 of n.
pub const MAX_RHO: f64 = 0.8;

impl Noise {
    /// Effective sample size of `n` serially correlated values: n(1 − ρ)/(1 + ρ), in [1, n].
    pub fn n_eff(&self, n: usize) -> f64 {
        let n = n as f64;
        (n * (1.0 - self.rho) / (1.0 + self.rho)).clamp(1.0_f64.min(n), n.max(1.0))
    }

    /// Standard error of the difference between the levels of two segments of `na` and `nb`
    /// values.
    pub fn se_diff(&self, na: usize, nb: usize) -> f64 {
        self.sigma * (1.0 / self.n_eff(na) + 1.0 / self.n_eff(nb)).sqrt()
    }
}

/// Median of `x` (NaN for none).
pub fn median(x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    median_mut(&mut v)
}

fn median_mut(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = n / 2;
    let (_, hi, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let hi = *hi;
    if n % 2 == 1 {
        hi
    } else {
        let lo = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

/// Hodges–Lehmann shift of `b` against `a`: the median of all differences `b_j − a_i`
/// (robust to outliers on either side, 95 % of the t-test's efficiency on normal data). Above
/// 4,096 pairs, the difference of the medians (same estimand for symmetric noise, linear time).
pub fn hodges_lehmann(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    if a.len() * b.len() > 4096 {
        return median(b) - median(a);
    }
    let mut d: Vec<f64> = b.iter().flat_map(|y| a.iter().map(move |x| y - x)).collect();
    median_mut(&mut d)
}

/// Segment bounds of `n` values cut at `cps` (indices ≥ n ignored): `[0, …, n]`.
pub fn bounds(n: usize, cps: &[ChangePoint]) -> Vec<usize> {
    let mut b = vec![0];
    b.extend(cps.iter().map(|c| c.index).filter(|i| *i > 0 && *i < n));
    b.push(n);
    b.dedup();
    b
}

/// The noise of `y` from its residuals inside the segments `cps` cut it into: robust scale,
/// serial correlation, degrees of freedom ([`Noise`]). Neither steps (they are between
/// segments) nor outliers (the MAD ignores them) inflate it; a drift inside a segment does,
/// and shows as correlation — both make the judge more careful, never less.
pub fn robust_noise(y: &[f64], cps: &[ChangePoint]) -> Noise {
    let b = bounds(y.len(), cps);
    let mut resid: Vec<(usize, f64)> = Vec::with_capacity(y.len());
    let mut abs = Vec::with_capacity(y.len());
    let mut segments = 0usize;
    for (s, w) in b.windows(2).enumerate() {
        let seg = &y[w[0]..w[1]];
        if seg.len() < 2 {
            continue;
        }
        segments += 1;
        let med = median(seg);
        let k = (seg.len() as f64 / (seg.len() - 1) as f64).sqrt();
        for v in seg {
            resid.push((s, (v - med) * k));
            abs.push(((v - med) * k).abs());
        }
    }
    let n = resid.len();
    if n == 0 {
        return Noise::default();
    }
    let mut sigma = 1.4826 * median_mut(&mut abs);
    if sigma <= 0.0 {
        // More than half the values sit exactly on their level (quantised data): RMS instead.
        sigma = (resid.iter().map(|(_, r)| r * r).sum::<f64>() / n as f64).sqrt();
    }
    let rho = if sigma > 0.0 {
        let clip = |r: f64| r.clamp(-3.0 * sigma, 3.0 * sigma);
        let (mut num, mut den) = (0.0, 0.0);
        for (i, (s, r)) in resid.iter().enumerate() {
            den += clip(*r).powi(2);
            if i > 0 && resid[i - 1].0 == *s {
                num += clip(*r) * clip(resid[i - 1].1);
            }
        }
        let lag1 = if den > 0.0 { num / den } else { 0.0 };
        lag1.clamp(0.0, MAX_RHO)
    } else {
        0.0
    };
    let df = ((n - segments) as f64 * (1.0 - rho) / (1.0 + rho)).max(1.0);
    Noise { sigma, rho, df }
}

/// Two-sided p-value of a shift `diff` with standard error `se` on `df` degrees of freedom
/// (Student's t; no noise at all: 1 when `diff` is 0, else 0).
pub fn shift_p(diff: f64, se: f64, df: f64) -> f64 {
    two_sided(diff, se, df.max(1.0))
}

/// The `p` quantile of Student's t with `df` degrees of freedom. From 5 degrees of freedom on,
/// the Cornish–Fisher expansion around the normal quantile (terms to ν⁻⁴; error below 0.02 %
/// of the quantile at p = 0.975, far cheaper than inverting the incomplete beta function); the
/// exact inverse below.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let df = df.max(1.0);
    if df >= 5.0 {
        let z = match statrs::distribution::Normal::new(0.0, 1.0) {
            Ok(n) => n.inverse_cdf(p),
            Err(_) => return f64::NAN,
        };
        let (z2, v) = (z * z, df);
        let g1 = (z2 + 1.0) * z / 4.0;
        let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
        let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
        let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
        return z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v);
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => dist.inverse_cdf(p),
        Err(_) => f64::NAN,
    }
}

/// Keeps the change points of `cps` that survive a test with the robust, correlation-aware
/// `noise` (the Hodges–Lehmann shift between neighbouring segments over its standard error
/// with effective sample sizes): like [`detect`]'s pruning, the weakest insignificant point
/// (p ≥ `s.alpha`), else the smallest shift under `s.min_shift`, is dropped until none is left.
/// The p-values returned are the robust ones, times the number of positions the split could
/// have taken between its neighbours (the search for the best split is paid for).
pub fn prune(z: &[f64], cps: &[ChangePoint], s: &Settings, noise: &Noise) -> Vec<ChangePoint> {
    let mut found: Vec<usize> = cps.iter().map(|c| c.index).collect();
    loop {
        let b = bounds(
            z.len(),
            &found.iter().map(|&index| ChangePoint { index, p_value: 0.0 }).collect::<Vec<_>>(),
        );
        let mut tested = Vec::with_capacity(b.len());
        let mut shifts = Vec::with_capacity(b.len());
        for i in 1..b.len() - 1 {
            let (left, right) = (&z[b[i - 1]..b[i]], &z[b[i]..b[i + 1]]);
            let d = hodges_lehmann(left, right);
            // The split was chosen as the best of the positions between its neighbours: the
            // p-value is corrected for that choice (Bonferroni over the positions).
            let positions = (left.len() + right.len()).saturating_sub(3).max(1) as f64;
            let p = shift_p(d, noise.se_diff(left.len(), right.len()), noise.df) * positions;
            let p = p.min(1.0);
            tested.push(ChangePoint { index: b[i], p_value: p });
            shifts.push(d.abs());
        }
        match weakest(&tested, &shifts, s) {
            Some(i) => {
                found.remove(i);
            }
            None => return tested,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_step_and_nothing_in_flat_noise() {
        let noise_: Vec<f64> =
            (0..30).map(|i| [0.01, -0.012, 0.004, -0.003, 0.008, -0.009][i % 6]).collect();
        assert!(detect(&noise_, &Settings::default()).is_empty());
        let mut stepped = noise_.clone();
        for v in &mut stepped[20..] {
            *v -= 0.1;
        }
        let cps = detect(&stepped, &Settings::default());
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert_eq!(cps[0].index, 20);
        assert!(cps[0].p_value < 1e-6, "{cps:?}");
    }

    #[test]
    fn t_test_matches_known_values() {
        // scipy.stats.ttest_ind([1,2,3,4],[3,4,5,6]): t = -2.191, p = 0.07099
        let p = t_test(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]);
        assert!((p - 0.070_99).abs() < 1e-4, "{p}");
        assert_eq!(t_test(&[1.0, 1.0], &[1.0, 1.0]), 1.0);
        assert_eq!(t_test(&[1.0, 1.0], &[2.0, 2.0]), 0.0);
    }

    #[test]
    fn outliers_are_isolated_points_only() {
        let mut y = vec![0.0, 0.01, -0.01, 0.0, 0.01, -0.01, 0.0, 0.01];
        y[3] = 0.2;
        let s = 0.01;
        assert_eq!(isolated_outliers(&y, Some(0.0), s, 4.0), [3]);
        // The last value shared by the next one is a change, not an outlier.
        let mut tail = y.clone();
        tail[3] = 0.0;
        tail[7] = 0.2;
        assert!(isolated_outliers(&tail, Some(0.2), s, 4.0).is_empty());
        assert_eq!(isolated_outliers(&tail, Some(0.0), s, 4.0), [7]);
        let mut first = tail.clone();
        first[7] = 0.0;
        first[0] = -0.2;
        assert_eq!(isolated_outliers(&first, None, s, 4.0), [0]);
        assert!((noise(&[0.0, 1.0, 0.0, 1.0]) - 1.4826 / 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn robust_noise_sees_through_steps_outliers_and_correlation() {
        // Alternating ±1 around two levels 10 apart, one outlier: σ ≈ 1.48 (MAD), no step in it.
        let mut y: Vec<f64> = (0..20).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        for v in &mut y[10..] {
            *v += 10.0;
        }
        y[4] = 50.0;
        let cps = [ChangePoint { index: 10, p_value: 0.0 }];
        let n = robust_noise(&y, &cps);
        assert!((n.sigma - 1.4826 * (10.0f64 / 9.0).sqrt()).abs() < 1e-9, "{n:?}");
        assert_eq!(n.rho, 0.0, "alternating residuals are negatively correlated: clamped");
        // A smooth wander: strongly correlated, credited as far fewer independent values.
        let w: Vec<f64> = (0..40).map(|i| (i as f64 / 6.0).sin()).collect();
        let n = robust_noise(&w, &[]);
        assert!(n.rho > 0.7, "{n:?}");
        assert!(n.n_eff(40) < 6.0, "{n:?}");
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert_eq!(hodges_lehmann(&[0.0, 1.0, 2.0], &[10.0, 11.0, 100.0]), 10.0);
        for (p, df, want) in [
            (0.975, 10.0, 2.228_139),
            (0.975, 3.0, 3.182_446),
            (0.95, 5.0, 2.015_048),
            (0.975, 5.0, 2.570_582),
            (0.999, 30.0, 3.385_185),
        ] {
            let got = t_quantile(p, df);
            assert!((got - want).abs() / want < 2e-4, "t({p}, {df}) = {got}, want {want}");
        }
    }
}
