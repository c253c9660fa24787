//! Change-point detection for performance series (feature `changepoint`): E-divisive means
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
        let weakest = tested
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
            });
        match weakest {
            Some(i) => {
                found.remove(i);
            }
            None => return tested,
        }
    }
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
}
