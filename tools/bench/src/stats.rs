//! Summary statistics computed as numpy computes them (benchmark_serving uses numpy), so
//! figures compare one to one: `np.percentile` (linear interpolation), `np.median`, `np.std`
//! (population), and 0 for an empty sample (benchmark_serving's `np.mean(x or 0)`). The
//! percentile is perfline's one definition, [`perfline_stats::percentile`] (numpy's linear).

/// Mean, median, std, min, max and the requested percentiles of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub median: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// (p, value) in the order requested.
    pub percentiles: Vec<(f64, f64)>,
}

impl Summary {
    pub fn of(values: &[f64], percentiles: &[f64]) -> Summary {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let mean = mean(&sorted);
        let var = if sorted.is_empty() {
            0.0
        } else {
            sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / sorted.len() as f64
        };
        Summary {
            mean,
            median: percentile_sorted(&sorted, 50.0),
            std: var.sqrt(),
            min: sorted.first().copied().unwrap_or(0.0),
            max: sorted.last().copied().unwrap_or(0.0),
            percentiles: percentiles.iter().map(|&p| (p, percentile_sorted(&sorted, p))).collect(),
        }
    }
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// [`perfline_stats::percentile`] of an ascending sample; 0 when empty (benchmark_serving's).
fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    perfline_stats::percentile(sorted, p).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy() {
        // np.percentile([1,2,3,4], [50, 99, 90]) == [2.5, 3.97, 3.7]; np.std == 1.118033988749895
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0], &[99.0, 90.0]);
        assert_eq!(s.median, 2.5);
        assert!((s.percentiles[0].1 - 3.97).abs() < 1e-12);
        assert!((s.percentiles[1].1 - 3.7).abs() < 1e-12);
        assert!((s.std - 1.118033988749895).abs() < 1e-12);
        assert_eq!((s.mean, s.min, s.max), (2.5, 1.0, 4.0));
    }

    #[test]
    fn empty_sample_is_zero() {
        let s = Summary::of(&[], &[99.0]);
        assert_eq!((s.mean, s.median, s.std, s.percentiles[0].1), (0.0, 0.0, 0.0, 0.0));
    }
}
