//! The one percentile definition of perfline.
//!
//! **Definition** (numpy's default `np.percentile(x, p)`, `method="linear"`; Hyndman & Fan
//! type 7, also R's default): for an ascending sample `x[0] ≤ … ≤ x[n−1]` and `p` in
//! `0..=100`, the rank is `r = p/100 · (n − 1)` and the percentile is
//! `x[⌊r⌋] + (x[⌈r⌉] − x[⌊r⌋]) · (r − ⌊r⌋)`: linear interpolation between the two closest
//! ranks, so `p = 0` is the minimum, `p = 100` the maximum and `p = 50` the median (the mean
//! of the middle two for an even `n`). bench's figures compare one to one with
//! benchmark_serving's, which uses numpy.

/// The `p`-th percentile of `sorted` (ascending, as [`f64::total_cmp`] orders) by the
/// definition above; `p` is clamped to `0..=100`. `None` for an empty sample: callers choose
/// what an empty sample means (bench reports 0 as benchmark_serving does).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    debug_assert!(
        sorted.is_sorted_by(|a, b| a.total_cmp(b).is_le()),
        "percentile: sample not sorted"
    );
    let (&first, &last) = (sorted.first()?, sorted.last()?);
    let rank = p.clamp(0.0, 100.0) / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    let lo_v = sorted.get(lo).copied().unwrap_or(first);
    let hi_v = sorted.get(hi).copied().unwrap_or(last);
    Some(lo_v + (hi_v - lo_v) * (rank - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn matches_numpy_linear() {
        // np.percentile([1,2,3,4], [0, 50, 90, 99, 100]) == [1, 2.5, 3.7, 3.97, 4]
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&x, 0.0), Some(1.0));
        assert_eq!(percentile(&x, 50.0), Some(2.5));
        assert!((percentile(&x, 90.0).unwrap() - 3.7).abs() < 1e-12);
        assert!((percentile(&x, 99.0).unwrap() - 3.97).abs() < 1e-12);
        assert_eq!(percentile(&x, 100.0), Some(4.0));
        // np.percentile([1,2,3,4,5], [95, 5]) == [4.8, 1.2]
        let y = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&y, 95.0), Some(4.8));
        assert_eq!(percentile(&y, 5.0), Some(1.2));
        assert_eq!(percentile(&y, 50.0), Some(3.0));
    }

    #[test]
    fn edges() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 0.0), Some(7.0));
        assert_eq!(percentile(&[7.0], 100.0), Some(7.0));
        // p outside 0..=100 is clamped
        assert_eq!(percentile(&[1.0, 3.0], -5.0), Some(1.0));
        assert_eq!(percentile(&[1.0, 3.0], 250.0), Some(3.0));
    }
}
