//! Evaluation of the change-point rule on synthetic histories with known truth: log-normal
//! noise of 1–4 %, rare outliers of ±15–20 %, slow drifts inside the noise, steps of 3–20 %
//! (both directions) at known runs, on a higher-is-better and a lower-is-better metric.
//!
//! Asserted: steps of at least 3× the run-to-run noise that the current run shares with at
//! least one earlier run are found with the right direction ≥ 90 % of the time; unchanged
//! series are called regression or improvement ≤ 3 % of the time. The figures are printed
//! (`cargo test -p perf-check --test eval -- --nocapture`).

use perf_check::judge::{change_point, ChangePointRule};
use perfline::metric::Better;
use perfline::wire::verdict::Verdict;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// One synthetic series: `runs` earlier values and the current one.
pub struct Spec {
    pub runs: usize,
    /// Run-to-run noise (σ of the log value).
    pub sigma: f64,
    /// First run at the new level (`runs` = the current run alone) and the factor.
    pub step: Option<(usize, f64)>,
    /// Total drift over the series, in log units.
    pub drift: f64,
    /// Chance that a value is an outlier (±15–20 %).
    pub outliers: f64,
}

pub fn generate(rng: &mut StdRng, spec: &Spec) -> (Vec<f64>, f64) {
    let level = 100.0 * rng.gen_range(0.5..20.0);
    let noise = Normal::new(0.0, spec.sigma).unwrap();
    let mut values: Vec<f64> = (0..=spec.runs)
        .map(|i| {
            let mut v = level * (spec.drift * i as f64 / spec.runs as f64).exp();
            v *= noise.sample(rng).exp();
            if let Some((at, factor)) = spec.step {
                if i >= at {
                    v *= factor;
                }
            }
            if rng.gen_bool(spec.outliers) {
                let size = rng.gen_range(0.15..0.20);
                v *= if rng.gen_bool(0.5) { 1.0 + size } else { 1.0 - size };
            }
            v
        })
        .collect();
    let current = values.pop().unwrap();
    (values, current)
}

fn expected(better: Better, factor: f64) -> Verdict {
    match (better, factor > 1.0) {
        (Better::Higher, true) | (Better::Lower, false) => Verdict::Improvement,
        _ => Verdict::Regression,
    }
}

#[test]
fn recall_and_false_alarms_on_synthetic_histories() {
    let mut rng = StdRng::seed_from_u64(20261129);
    let rule = ChangePointRule::default();
    let metrics = [Better::Higher, Better::Lower];
    let (mut steps, mut found, mut wrong_way) = (0, 0, 0);
    let (mut flat, mut alarms) = (0, 0);
    let (mut lone, mut lone_suspect) = (0, 0);
    for i in 0..6000 {
        let better = metrics[i % 2];
        let runs = rng.gen_range(12..=30);
        let sigma = rng.gen_range(0.01..0.04);
        let drift = rng.gen_range(-sigma..sigma);
        match i % 3 {
            0 => {
                let size: f64 = rng.gen_range(0.03..0.20);
                if size.ln_1p() < 3.0 * sigma {
                    continue;
                }
                let factor = if rng.gen_bool(0.5) { 1.0 + size } else { 1.0 / (1.0 + size) };
                let at = rng.gen_range(5..runs);
                let spec = Spec { runs, sigma, step: Some((at, factor)), drift, outliers: 0.02 };
                let (h, c) = generate(&mut rng, &spec);
                let v = change_point(&h, c, better, &rule).verdict;
                steps += 1;
                if v == expected(better, factor) {
                    found += 1;
                } else if matches!(v, Verdict::Regression | Verdict::Improvement) {
                    wrong_way += 1;
                }
            }
            1 => {
                let spec = Spec { runs, sigma, step: None, drift, outliers: 0.02 };
                let (h, c) = generate(&mut rng, &spec);
                flat += 1;
                let v = change_point(&h, c, better, &rule).verdict;
                if matches!(v, Verdict::Regression | Verdict::Improvement) {
                    alarms += 1;
                }
            }
            _ => {
                // The current run alone moved by 5σ or more: rerun it.
                let factor = (rng.gen_range(5.0..8.0) * sigma).exp();
                let spec = Spec { runs, sigma, step: Some((runs, factor)), drift, outliers: 0.0 };
                let (h, c) = generate(&mut rng, &spec);
                lone += 1;
                if change_point(&h, c, better, &rule).verdict == Verdict::Suspect {
                    lone_suspect += 1;
                }
            }
        }
    }
    let recall = found as f64 / steps as f64;
    let false_alarms = alarms as f64 / flat as f64;
    println!(
        "perf-check eval: steps >= 3x noise found with the right direction: {:.1} % ({found}/{steps}, \
         {wrong_way} the wrong way); unchanged series called regression/improvement: {:.2} % \
         ({alarms}/{flat}); current run alone off by 5-8x noise called suspect: {:.1} % \
         ({lone_suspect}/{lone})",
        recall * 100.0,
        false_alarms * 100.0,
        lone_suspect as f64 / lone as f64 * 100.0
    );
    assert!(recall >= 0.90, "recall {recall}");
    assert!(false_alarms <= 0.03, "false alarms {false_alarms}");
    // A later move the other way inside the new level (noise) can be called: rare.
    assert!(wrong_way as f64 <= 0.01 * steps as f64, "{wrong_way} the wrong way");
}
