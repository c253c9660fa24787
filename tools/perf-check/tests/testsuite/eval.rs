//! Evaluation of the change-point rule on synthetic histories with known truth: log-normal
//! noise of 1–4 %, rare outliers of ±15–20 %, slow drifts inside the noise, steps of 3–20 %
//! (both directions) at known runs, on a higher-is-better and a lower-is-better metric.
//!
//! Asserted: steps of at least 3× the run-to-run noise that the current run shares with at
//! least one earlier run are found with the right direction ≥ 72 % of the time (the rest are
//! mostly `undecided`: a move of 3–4σ shared by one or two runs is not proof); unchanged
//! series are called regression or improvement ≤ 3 % of the time. Flat AR(1) histories
//! (φ 0.4–0.6, 8 % noise) are called regression/improvement ≤ 1 % of the time; a −16 % move in ±10 %
//! noise after 2 runs is `undecided` with `runs_needed`; 30 % moves shared by 2 runs are
//! found. The figures are printed (`cargo test -p perf-check --test testsuite eval:: -- --nocapture`).
//! The published accuracy on realistic and real data is `cargo xtask eval perf-check`.

use perf_check::judge::{change_point, judge_series, ChangePointRule, Rule};
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
    assert!(recall >= 0.72, "recall {recall}");
    assert!(false_alarms <= 0.03, "false alarms {false_alarms}");
    // A later move the other way inside the new level (noise) can be called: rare.
    assert!(wrong_way as f64 <= 0.01 * steps as f64, "{wrong_way} the wrong way");
}

/// AR(1) log noise: y_t = φ y_{t−1} + e_t with stationary standard deviation `sigma`.
fn ar1(rng: &mut StdRng, n: usize, phi: f64, sigma: f64) -> Vec<f64> {
    let e = Normal::new(0.0, sigma * (1.0 - phi * phi).sqrt()).unwrap();
    let mut y = Normal::new(0.0, sigma).unwrap().sample(rng);
    (0..n)
        .map(|_| {
            y = phi * y + e.sample(rng);
            100.0 * y.exp()
        })
        .collect()
}

#[test]
fn flat_autocorrelated_histories_are_never_called_moved() {
    let mut rng = StdRng::seed_from_u64(17);
    let rule = Rule::default();
    let (mut n, mut alarms, mut undecided) = (0, 0, 0);
    for i in 0..3000 {
        let phi = rng.gen_range(0.4..=0.6);
        let runs = [11, 20, 30, 60][i % 4];
        let mut v = ar1(&mut rng, runs + 1, phi, 0.08);
        let current = v.pop().unwrap();
        for better in [Better::Higher, Better::Lower] {
            n += 1;
            match judge_series(&v, &[], current, better, &rule).verdict {
                Verdict::Regression | Verdict::Improvement => alarms += 1,
                Verdict::Undecided => undecided += 1,
                _ => {}
            }
        }
    }
    println!("flat AR(1) φ 0.4-0.6, 8 % noise: {alarms}/{n} called moved, {undecided} undecided");
    assert!(alarms as f64 <= 0.01 * n as f64, "{alarms}/{n} flat AR(1) series called moved");
}

#[test]
fn a_real_sized_move_inside_the_noise_is_undecided_and_big_moves_are_found() {
    let mut rng = StdRng::seed_from_u64(16);
    let rule = Rule::default();
    let noise = Normal::new(0.0, 0.10).unwrap();
    let (mut n, mut undecided, mut with_runs, mut alarms) = (0, 0, 0, 0);
    let (mut big, mut found) = (0, 0);
    for _ in 0..2000 {
        let h: Vec<f64> = (0..7).map(|_| 100.0 * f64::exp(noise.sample(&mut rng))).collect();
        // Two runs 16 % slower: the first stored, the second current.
        let mut hist = h.clone();
        hist.push(84.0 * f64::exp(noise.sample(&mut rng)));
        let o = judge_series(
            &hist,
            &[],
            84.0 * f64::exp(noise.sample(&mut rng)),
            Better::Higher,
            &rule,
        );
        n += 1;
        if o.verdict == Verdict::Undecided {
            undecided += 1;
            with_runs += usize::from(o.runs_needed.is_some());
        }
        if o.verdict == Verdict::Improvement {
            alarms += 1;
        }
        // A 30 % slowdown in ±3 % noise, shared by the last stored run: found.
        let quiet = Normal::new(0.0, 0.03).unwrap();
        let mut h: Vec<f64> = (0..12).map(|_| 100.0 * f64::exp(quiet.sample(&mut rng))).collect();
        h.push(70.0 * f64::exp(quiet.sample(&mut rng)));
        h.push(70.0 * f64::exp(quiet.sample(&mut rng)));
        big += 1;
        let v =
            judge_series(&h, &[], 70.0 * f64::exp(quiet.sample(&mut rng)), Better::Higher, &rule);
        if v.verdict == Verdict::Regression {
            found += 1;
        }
    }
    println!(
        "-16 % in ±10 % noise after 2 runs: {undecided}/{n} undecided ({with_runs} with runs_needed); \
         -30 % in ±3 % noise after 3 runs: {found}/{big} regression"
    );
    assert_eq!(alarms, 0);
    assert!(undecided as f64 >= 0.8 * n as f64, "{undecided}/{n}");
    assert_eq!(with_runs, undecided, "every undecided carries runs_needed");
    assert!(found as f64 >= 0.97 * big as f64, "{found}/{big}");
}
