//! Data set (a): synthetic histories with the noise of real performance series, seeded.
//!
//! Each series (log scale): a level `ln(base)`, a slow linear drift of up to ±1.5σ over the
//! series, 0–3 steps of 1–8σ (either way, segments of at least 8 runs), AR(1) noise with
//! φ ∈ [0, 0.6) and Student-t(3) innovations scaled to a marginal σ ∈ [1 %, 8 %), bimodal node
//! effects in 40 % of the series (each run lands on the slow node with probability 0.2–0.5,
//! 0.5–1.5σ slower), and 2 % outliers of 5–10σ either way. 20–100 runs; half the series are
//! higher-is-better. σ, the unit of a step's size, is the AR(1) noise's marginal standard
//! deviation (node effects and outliers come on top).

use super::walk::{Change, Series};
use perfline::metric::Better;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal, StudentT};

/// The stochastic parts of one series, kept to draw confirmation runs at any run's level.
#[derive(Clone)]
struct Noise {
    seed: u64,
    phi: f64,
    /// Scale of a t(3) innovation that gives the AR(1) process a marginal sd of σ.
    scale: f64,
    /// Node effect (log units) and the chance a run lands on that node.
    node: Option<(f64, f64)>,
}

impl Noise {
    fn innovation(&self, rng: &mut StdRng) -> f64 {
        let t: f64 = StudentT::new(3.0).expect("3 degrees of freedom").sample(rng);
        self.scale * t
    }

    fn node_effect(&self, rng: &mut StdRng) -> f64 {
        match self.node {
            Some((delta, p)) if rng.gen_bool(p) => delta,
            _ => 0.0,
        }
    }
}

/// `n` series from `seed`; series `i` depends on `(seed, i)` only.
pub fn generate(n: usize, seed: u64) -> Vec<Series> {
    (0..n).map(|i| one(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15), i)).collect()
}

fn steps(rng: &mut StdRng, runs: usize) -> Vec<usize> {
    let k = match rng.gen_range(0.0..1.0) {
        x if x < 0.30 => 0,
        x if x < 0.65 => 1,
        x if x < 0.90 => 2,
        _ => 3,
    };
    // First step after at least 8 runs, each segment at least 8 runs, the last at least 6.
    for want in (1..=k).rev() {
        for _ in 0..20 {
            let mut at: Vec<usize> = (0..want).map(|_| rng.gen_range(8..=runs - 6)).collect();
            at.sort_unstable();
            if at.windows(2).all(|w| w[1] - w[0] >= 8) {
                return at;
            }
        }
    }
    Vec::new()
}

fn one(seed: u64, i: usize) -> Series {
    let mut rng = StdRng::seed_from_u64(seed);
    let runs = rng.gen_range(20..=100);
    let better = if rng.gen_bool(0.5) { Better::Higher } else { Better::Lower };
    let sigma: f64 = rng.gen_range(0.01..0.08);
    let phi: f64 = rng.gen_range(0.0..0.6);
    let drift = rng.gen_range(-1.5..1.5) * sigma;
    let node =
        rng.gen_bool(0.4).then(|| (rng.gen_range(0.5..1.5) * sigma, rng.gen_range(0.2..0.5)));
    let noise = Noise {
        seed: seed.rotate_left(17),
        phi,
        // Var(t3) = 3; AR(1) marginal variance = scale² · 3 / (1 − φ²).
        scale: sigma * (1.0 - phi * phi).sqrt() / 3f64.sqrt(),
        node,
    };
    let base = 10f64.powf(rng.gen_range(0.0..4.0)).ln();
    let mut changes = Vec::new();
    let mut level = vec![0.0; runs];
    for at in steps(&mut rng, runs) {
        let size = rng.gen_range(1.0..8.0);
        let up = rng.gen_bool(0.5);
        changes.push(Change { index: at, up, sigmas: Some(size) });
        let shift = if up { size * sigma } else { -size * sigma };
        level[at..].iter_mut().for_each(|l| *l += shift);
    }
    for (t, l) in level.iter_mut().enumerate() {
        *l += base + drift * t as f64 / (runs - 1) as f64;
    }
    let mut ar = Vec::with_capacity(runs);
    let mut e = sigma * rng.sample::<f64, _>(StandardNormal);
    for _ in 0..runs {
        e = phi * e + noise.innovation(&mut rng);
        ar.push(e);
    }
    let values = (0..runs)
        .map(|t| {
            let mut y = level[t] + ar[t] + noise.node_effect(&mut rng);
            if rng.gen_bool(0.02) {
                let size = rng.gen_range(5.0..10.0) * sigma;
                y += if rng.gen_bool(0.5) { size } else { -size };
            }
            y.exp()
        })
        .collect();
    // Confirmation run j at run t's level: the AR(1) process continued from run t.
    let draw = move |t: usize, j: usize| {
        let mut rng = StdRng::seed_from_u64(noise.seed ^ ((t as u64) << 20) ^ j as u64);
        let mut e = ar[t];
        for _ in 0..=j {
            e = noise.phi * e + noise.innovation(&mut rng);
        }
        (level[t] + e + noise.node_effect(&mut rng)).exp()
    };
    Series {
        name: format!("synthetic-{i}"),
        values,
        better,
        changes,
        confirm: Some(Box::new(draw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_within_spec() {
        let a = generate(300, 7);
        let b = generate(300, 7);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.values, y.values);
            assert_eq!(x.changes, y.changes);
            let (dx, dy) = (x.confirm.as_ref().unwrap(), y.confirm.as_ref().unwrap());
            assert_eq!(dx(5, 1), dy(5, 1));
        }
        assert_ne!(a[0].values, generate(1, 8)[0].values);
        for s in &a {
            assert!((20..=100).contains(&s.values.len()), "{}", s.name);
            assert!(s.values.iter().all(|v| v.is_finite() && *v > 0.0));
            assert!(s.changes.len() <= 3);
            for (i, c) in s.changes.iter().enumerate() {
                assert!(c.index >= 8 && c.index + 6 <= s.values.len(), "{c:?}");
                assert!(i == 0 || c.index - s.changes[i - 1].index >= 8);
                assert!((1.0..8.0).contains(&c.sigmas.unwrap()));
            }
        }
        let with_steps = a.iter().filter(|s| !s.changes.is_empty()).count();
        assert!((150..=250).contains(&with_steps), "{with_steps}");
        let higher = a.iter().filter(|s| s.better == Better::Higher).count();
        assert!((100..=200).contains(&higher), "{higher}");
    }
}
