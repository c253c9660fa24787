//! The verdict rules, as pure functions of one series' history and current value.
//!
//! - [`judge_series`] (default, `change-point`): segments history + pending runs + current on
//!   log values ([`perfline_stats::changepoint`]), estimates the noise from residuals inside the
//!   segments (robust scale, serial correlation), and compares the current level with the
//!   baseline level: a three-way answer (moved / no-change / undecided), `suspect` for a lone
//!   run. [`benjamini_hochberg`] and [`apply_fdr`] control false discoveries over a batch.
//!   ARCHITECTURE.md "Judging performance" gives the maths and its failure modes.
//! - [`incumbent`]: the incumbent's threshold rule (reference/incumbent.md §9).

use perfline::metric::Better;
use perfline::wire::verdict::Verdict;
use perfline_stats::changepoint::{self, ChangePoint, Noise, Settings};

/// What a rule concluded about one series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The level the current value is judged against.
    pub baseline: Option<f64>,
    /// The rule's score: the two-sided p-value of the move (change-point) or the threshold
    /// (incumbent).
    pub score: Option<f64>,
    /// Index into history ++ pending of the first run at the new level; `history.len() +
    /// pending.len()` is the current run. Set for regression, improvement and suspect.
    pub change_at: Option<usize>,
    /// The p-value after false-discovery control ([`apply_fdr`]); `score` until then.
    pub q_value: Option<f64>,
    /// `undecided`: more runs at the current level after which the interval decides.
    pub runs_needed: Option<u32>,
    /// The smallest move (percent) this series resolves with one more run.
    pub min_detectable_pct: Option<f64>,
    /// Why, in one line.
    pub reason: String,
    /// The statistics behind the verdict (change-point only).
    pub stats: Option<Stats>,
}

/// The statistics of one change-point judgement (for `--explain`, case verdicts and
/// re-deciding after false-discovery control).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub better: Option<Better>,
    /// Noise of the log values.
    pub noise: Noise,
    /// Change points over kept history ++ pending ++ current (indices into that sequence),
    /// with the robust p-values.
    pub change_points: Vec<ChangePoint>,
    /// Indices into history ++ pending left out as isolated outliers.
    pub outliers: Vec<usize>,
    /// Values in the baseline segment and in the current level (current included).
    pub n_base: usize,
    pub n_new: usize,
    /// Hodges–Lehmann shift of the current level against the baseline (log units).
    pub effect: f64,
    /// Its standard error and degrees of freedom.
    pub se: f64,
    pub df: f64,
    /// The current value left the level its earlier runs share (prediction p < alpha).
    pub current_off: bool,
    /// Index (into history ++ pending) of the first run of the current level.
    pub new_from: usize,
    /// Earlier values (history + pending): the current run's index.
    pub n_earlier: usize,
    /// The current level's start was found by searching the stored history (a change
    /// point), not given by pending runs: its p-value pays for the search and its move must
    /// reach `min_effect` noise units.
    pub searched: bool,
    /// The current level is this invocation's runs only (pending + current; the split at the
    /// first pending run was not searched for but chosen because that run was undecided or
    /// suspect): it must hold at `alpha` and be shared by the pending runs.
    pub fixed: bool,
    /// `fixed`: the pending runs moved the same way as the current run, against the baseline
    /// (one-sided 5 %).
    pub shared: bool,
}

impl Stats {
    /// The move in percent.
    pub fn effect_pct(&self) -> f64 {
        self.effect.exp_m1() * 100.0
    }
    /// |effect| / se: the move in units of its standard error.
    pub fn z(&self) -> f64 {
        if self.se > 0.0 {
            (self.effect / self.se).abs()
        } else if self.effect == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    }
}

/// Settings of the change-point rule ([`judge_series`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// Significance of a change point (robust test), and of a lone current value that leaves
    /// its level (`suspect`).
    pub alpha: f64,
    /// Fewest earlier runs needed to judge at all.
    pub min_history: usize,
    /// Smallest level change reported, as a fraction (0.02 = 2 %): a move must be at least
    /// this to be a regression or improvement, and `no-change` means the interval of the move
    /// lies inside ± this.
    pub min_change: f64,
    /// Smallest level change a change point may mark and a move must reach to be called, in
    /// units of the noise.
    pub min_effect: f64,
    /// False-discovery rate over the series of a run (Benjamini–Hochberg); also the one-sided
    /// error of the equivalence interval (`no-change`).
    pub fdr: f64,
    /// A case whose current run alone moves at least two coherent metrics this many standard
    /// errors (and 3× `min_change`) is decided at once ([`overwhelming`]).
    pub overwhelming_z: f64,
}

/// The rule's former name.
pub type ChangePointRule = Rule;

/// Fewest earlier runs the change-point rule judges with: below this, `insufficient-data`.
pub const MIN_HISTORY: usize = 5;

impl Default for Rule {
    fn default() -> Rule {
        Rule {
            alpha: 0.001,
            min_history: MIN_HISTORY,
            min_change: 0.02,
            min_effect: 3.0,
            fdr: 0.05,
            overwhelming_z: 8.0,
        }
    }
}

/// An isolated value this many noise units off its neighbours is an outlier and left out.
const OUTLIER_K: f64 = 4.0;
/// One-sided significance with which the earlier runs of a new level must share its change.
const SHARE_ALPHA: f64 = 0.05;
/// `runs_needed` is searched up to this many runs.
const MAX_RUNS_NEEDED: u32 = 1000;
/// `runs_needed` is at most this (every `undecided` has one): beyond it, or when the baseline
/// alone is too short or noisy for more runs at the current level to ever decide, this, with
/// the reason saying which.
pub const SHOWN_RUNS_NEEDED: u32 = 50;

/// Judges `current` against `history` (stored runs, oldest first, failed runs excluded) and
/// `pending` (earlier runs of this invocation not stored yet, e.g. confirmation re-runs,
/// oldest first; judged as the newest history and always part of the current level):
///
/// 1. fewer than `min_history` earlier values → `insufficient-data`;
/// 2. log values; isolated outliers of the earlier values are left out;
/// 3. change points over earlier + current (E-divisive placement, then kept only when a
///    robust, correlation-aware test between neighbouring segments holds at `alpha`);
/// 4. noise from the residuals inside the segments ([`changepoint::robust_noise`]);
/// 5. the current level = the last segment (at least pending + current), the baseline = the
///    first segment (the accepted or oldest level in view); the move is their
///    Hodges–Lehmann shift, its standard error uses effective sample sizes;
/// 6. [`decide`] with q = p (one series); [`apply_fdr`] re-decides over a batch.
pub fn judge_series(
    history: &[f64],
    pending: &[f64],
    current: f64,
    better: Better,
    rule: &Rule,
) -> Outcome {
    let earlier: Vec<f64> = history.iter().chain(pending).copied().collect();
    let usable: Vec<(usize, f64)> = earlier
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite() && **v > 0.0)
        .map(|(i, v)| (i, v.ln()))
        .collect();
    let logs: Vec<f64> = usable.iter().map(|(_, y)| *y).collect();
    let geo = (!logs.is_empty()).then(|| changepoint::mean_var(&logs).0.exp());
    if usable.len() < rule.min_history.max(2) {
        let reason = format!(
            "{} earlier run(s); at least {} are needed to judge",
            usable.len(),
            rule.min_history.max(2)
        );
        return Outcome {
            verdict: Verdict::InsufficientData,
            baseline: geo,
            reason,
            ..Outcome::default()
        };
    }
    if !(current.is_finite() && current > 0.0) {
        // A zero or negative throughput or latency is no level: rerun before believing it.
        return Outcome {
            verdict: Verdict::Suspect,
            baseline: geo,
            change_at: Some(earlier.len()),
            reason: "the current value is not a positive number: rerun it".into(),
            ..Outcome::default()
        };
    }
    let c = current.ln();
    let sigma0 = changepoint::noise(&logs);
    let outliers = changepoint::isolated_outliers(&logs, Some(c), sigma0, OUTLIER_K);
    let kept: Vec<(usize, f64)> =
        usable.iter().enumerate().filter(|(j, _)| !outliers.contains(j)).map(|(_, p)| *p).collect();
    let mut z: Vec<f64> = kept.iter().map(|(_, y)| *y).collect();
    let m = z.len();
    let m_stored = kept.iter().filter(|(i, _)| *i < history.len()).count();
    z.push(c);
    let floor = (1.0 + rule.min_change).ln();
    let settings = Settings {
        alpha: rule.alpha,
        min_segment: 2,
        min_shift: floor.max(rule.min_effect * sigma0),
    };
    let first = changepoint::detect(&z, &settings);
    // The residuals inside segments see only the noise the segmentation left: on a correlated
    // wander it cuts the wander into levels and σ shrinks (to a third of the truth on flat
    // AR(1) with φ 0.5). The smaller of the first- and lag-2-difference scales of the kept
    // values is a floor: for AR(1) noise they see σ√(1 − ρ) and σ√(1 − ρ²), so the smaller never
    // exceeds σ whatever the sign of ρ, and a step or an outlier moves only one or two
    // differences of many.
    let floor_sigma = changepoint::noise(&z[..m]).min(lag2_noise(&z[..m]));
    let floored = |n: Noise| Noise { sigma: n.sigma.max(floor_sigma), ..n };
    let noise = floored(changepoint::robust_noise(&z[..m], &first));
    let settings = Settings { min_shift: floor.max(rule.min_effect * noise.sigma), ..settings };
    let mut cps = changepoint::prune(&z, &first, &settings, &noise);
    // The last change point must be shared: the earlier runs after it moved (one-sided 5 %)
    // the same way as the current run. Else the current run alone moved, and a neighbour
    // merely came along into the segment: drop it.
    while let Some(last) = cps.last().filter(|cp| cp.index < m) {
        let k = last.index;
        let prev = if cps.len() >= 2 { cps[cps.len() - 2].index } else { 0 };
        let (before, earlier_new) = (&z[prev..k], &z[k..m]);
        let d = changepoint::hodges_lehmann(before, earlier_new);
        let dc = c - changepoint::median(before);
        let se = noise.se_diff(before.len(), earlier_new.len());
        let shared =
            d.signum() == dc.signum() && changepoint::shift_p(d, se, noise.df) / 2.0 < SHARE_ALPHA;
        if shared {
            break;
        }
        cps.pop();
    }
    let noise = floored(changepoint::robust_noise(&z[..m], &cps));
    // The current level holds every pending run, unless the change came at a later run of
    // this invocation (a change point among its runs, shared by the runs after it).
    let new_start = cps.last().map_or(m_stored, |cp| {
        if cp.index > m_stored {
            cp.index
        } else {
            cp.index.min(m_stored)
        }
    });
    let base_end = cps.first().map_or(new_start, |cp| cp.index.min(new_start));
    let (base, new) = (&z[..base_end], &z[new_start..]);
    let index_of = |k: usize| kept.get(k).map_or(earlier.len(), |(i, _)| *i);
    let outlier_at: Vec<usize> = outliers.iter().map(|j| usable[*j].0).collect();
    if base.len() < 2 {
        return Outcome {
            verdict: Verdict::InsufficientData,
            baseline: geo,
            reason: "no baseline level of two runs or more before the current level".into(),
            ..Outcome::default()
        };
    }
    let base_level = changepoint::median(base);
    // Does the current value stay on the level the earlier runs of its segment share?
    let current_off = new.len() >= 3 && {
        let level = changepoint::median(&new[..new.len() - 1]);
        let se = noise.sigma * (1.0 + 1.0 / noise.n_eff(new.len() - 1)).sqrt();
        changepoint::shift_p(c - level, se, noise.df) < rule.alpha
    };
    let effect = changepoint::hodges_lehmann(base, new);
    let se = noise.se_diff(base.len(), new.len());
    let mut p = changepoint::shift_p(effect, se, noise.df);
    let searched = new_start < m_stored;
    if searched {
        // The current level's start was searched for: pay for the search (Bonferroni over the
        // positions it could have taken).
        p = (p * z.len().saturating_sub(3).max(1) as f64).min(1.0);
    }
    // A level of this invocation's runs only: its split was chosen at the run that asked for
    // confirmation. The pending runs must share the current run's move.
    let fixed = !searched && new.len() >= 2;
    let shared = fixed && {
        let pend = &new[..new.len() - 1];
        let d = changepoint::hodges_lehmann(base, pend);
        let dc = c - base_level;
        let se = noise.se_diff(base.len(), pend.len());
        d.signum() == dc.signum() && changepoint::shift_p(d, se, noise.df) / 2.0 < SHARE_ALPHA
    };
    let stats = Stats {
        better: Some(better),
        noise,
        change_points: cps.clone(),
        outliers: outlier_at,
        n_base: base.len(),
        n_new: new.len(),
        effect,
        se,
        df: noise.df,
        current_off,
        new_from: index_of(new_start),
        n_earlier: earlier.len(),
        searched,
        fixed,
        shared,
    };
    let mut o = Outcome {
        baseline: Some(base_level.exp()),
        score: Some(p),
        stats: Some(stats),
        ..Outcome::default()
    };
    decide(&mut o, p, rule);
    o
}

/// Noise floor from lag-2 differences: 1.4826 · median |y_{t+2} − y_t| / √2. For AR(1) noise
/// E(y_{t+2} − y_t)² = 2σ²(1 − ρ²): below σ whatever the correlation (first differences
/// exceed σ on alternating noise, ρ < 0); a step or an outlier moves two differences of many.
pub fn lag2_noise(y: &[f64]) -> f64 {
    let d: Vec<f64> = y.windows(3).map(|w| (w[2] - w[0]).abs()).collect();
    if d.is_empty() {
        return 0.0;
    }
    1.4826 * changepoint::median(&d) / std::f64::consts::SQRT_2
}

/// The former entry point: [`judge_series`] without pending runs.
pub fn change_point(history: &[f64], current: f64, better: Better, rule: &Rule) -> Outcome {
    judge_series(history, &[], current, better, rule)
}

fn moved(effect: f64, better: Better) -> Verdict {
    match (effect < 0.0, better) {
        (true, Better::Higher) | (false, Better::Lower) => Verdict::Regression,
        _ => Verdict::Improvement,
    }
}

/// The verdict of a judged series given its false-discovery-adjusted p-value `q`:
///
/// - the current value left its segment's level → `suspect`;
/// - the current run alone (no earlier run at its level): p < `alpha`, q ≤ `fdr` and the move
///   ≥ `min_change` → `suspect` (rerun it);
/// - two runs or more at the current level: q ≤ `fdr` and |move| ≥ `min_change` →
///   `regression` / `improvement` by the metric's direction;
/// - the (1 − 2·fdr) interval of the move inside ±`min_change` → `no-change`;
/// - else `undecided`, with `runs_needed`.
///
/// `min_detectable_pct` is set for every judged series. Outcomes without statistics
/// (insufficient data, incumbent) are left as they are.
pub fn decide(o: &mut Outcome, q: f64, rule: &Rule) {
    let Some(s) = o.stats.clone() else { return };
    let better = s.better.unwrap_or(Better::Higher);
    o.q_value = Some(q);
    let p = o.score.unwrap_or(1.0);
    let mc = (1.0 + rule.min_change).ln();
    // A move is resolved when it holds at `alpha`: the bar of a level of confirmation runs.
    let ta = changepoint::t_quantile(1.0 - rule.alpha / 2.0, s.df);
    let t1 = changepoint::t_quantile(1.0 - rule.fdr, s.df);
    let se_with = |more: u32| s.noise.se_diff(s.n_base, s.n_new + more as usize);
    o.min_detectable_pct = Some(round2((ta * se_with(1)).exp_m1() * 100.0));
    o.runs_needed = None;
    o.change_at = None;
    let d = s.effect;
    let pct = s.effect_pct();
    let noise_pct = s.noise.sigma.exp_m1() * 100.0;
    // A move must clear --min-change and, to be called, `min_effect` noise units (a level a
    // correlated wander reaches is not a change).
    let big = d.abs() >= mc;
    // A level of this invocation's runs only (confirmation runs) holds at `alpha`, as a lone
    // run must to be suspect, and its runs share the move: confirming is asked at every
    // undecided run, so the plain test at `fdr` would alarm on noise.
    let clear = big
        && (!s.searched || d.abs() >= rule.min_effect * s.noise.sigma)
        && (!s.fixed || (p < rule.alpha && s.shared));
    if s.current_off {
        o.verdict = Verdict::Suspect;
        o.change_at = Some(s.n_earlier);
        o.reason = "the current run left the level its earlier runs share: rerun it".into();
    } else if s.n_new == 1 && p < rule.alpha && q <= rule.fdr && big {
        o.verdict = Verdict::Suspect;
        o.change_at = Some(s.new_from);
        o.reason = format!(
            "only the current run moved ({pct:+.1} %, {:.1} standard errors): rerun it",
            s.z()
        );
    } else if s.n_new >= 2 && q <= rule.fdr && clear {
        o.verdict = moved(d, better);
        o.change_at = Some(s.new_from);
        o.reason = format!(
            "{pct:+.1} % over {} runs at the new level (q = {}, noise ±{noise_pct:.1} %)",
            s.n_new,
            sig(q)
        );
    } else if d.abs() + t1 * s.se < mc {
        o.verdict = Verdict::NoChange;
        o.reason = format!(
            "the move {pct:+.1} % ± {:.1} % lies inside ±{:.1} %",
            (t1 * s.se).exp_m1() * 100.0,
            rule.min_change * 100.0
        );
    } else {
        o.verdict = Verdict::Undecided;
        // More runs also firm up the noise estimate: each adds (1 − ρ)/(1 + ρ) degrees of
        // freedom.
        let per_run = (1.0 - s.noise.rho) / (1.0 + s.noise.rho);
        let decided = |more: u32| {
            let se = se_with(more);
            let df = s.df + f64::from(more) * per_run;
            // A move of at least min-change holds at `alpha` (the bar of a level of
            // confirmation runs), or the interval lies inside ±min-change.
            (d.abs() >= mc && changepoint::t_quantile(1.0 - rule.alpha / 2.0, df) * se < d.abs())
                || d.abs() + changepoint::t_quantile(1.0 - rule.fdr, df) * se < mc
        };
        // `decided` is monotone in the number of runs: bisect.
        let fewest = decided(MAX_RUNS_NEEDED).then(|| {
            let (mut lo, mut hi) = (0, MAX_RUNS_NEEDED);
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if decided(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi
        });
        let mdp = o.min_detectable_pct.unwrap_or(f64::NAN);
        o.reason = match fewest {
            Some(n) if n <= SHOWN_RUNS_NEEDED => format!(
                "{pct:+.1} % is inside the noise (±{noise_pct:.1} % a run, ±{mdp:.1} % resolvable \
                 with one more run): about {n} more run(s) at this level decide it"
            ),
            Some(_) => format!(
                "{pct:+.1} % is inside the noise (±{noise_pct:.1} % a run, ±{mdp:.1} % resolvable \
                 with one more run): more than {SHOWN_RUNS_NEEDED} more runs at this level would \
                 decide it"
            ),
            None => format!(
                "{pct:+.1} % is inside the noise (±{noise_pct:.1} % a run, ±{mdp:.1} % resolvable \
                 with one more run): {SHOWN_RUNS_NEEDED} or more runs at this level, and the \
                 baseline ({} runs) limits it: more runs at this level alone cannot decide it",
                s.n_base
            ),
        };
        o.runs_needed = Some(fewest.unwrap_or(SHOWN_RUNS_NEEDED).clamp(1, SHOWN_RUNS_NEEDED));
    }
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the order given: q_(i) =
/// min_{j ≥ i} p_(j) · m / j over the ascending p-values, at most 1.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_unstable_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut q = vec![1.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

/// Benjamini–Hochberg over every judged series of a batch (those with statistics), then
/// [`decide`] again with the q-values.
pub fn apply_fdr(outcomes: &mut [Outcome], rule: &Rule) {
    let judged: Vec<usize> = (0..outcomes.len()).filter(|i| outcomes[*i].stats.is_some()).collect();
    let p: Vec<f64> = judged.iter().map(|i| outcomes[*i].score.unwrap_or(1.0)).collect();
    for (i, q) in judged.iter().zip(benjamini_hochberg(&p)) {
        decide(&mut outcomes[*i], q, rule);
    }
}

/// Item 5: whether a case's current run alone is decided at once — at least two of its
/// metrics are `suspect` for the current run alone, all worse (or all better), each at least
/// `overwhelming_z` standard errors and 3× `min_change` off. Returns the verdict to give
/// them.
pub fn overwhelming(metrics: &[&Outcome], rule: &Rule) -> Option<Verdict> {
    let strong: Vec<Verdict> = metrics
        .iter()
        .filter(|o| o.verdict == Verdict::Suspect)
        .filter_map(|o| o.stats.as_ref())
        .filter(|s| {
            s.n_new == 1
                && !s.current_off
                && s.z() >= rule.overwhelming_z
                && s.effect.abs() >= 3.0 * (1.0 + rule.min_change).ln()
        })
        .map(|s| moved(s.effect, s.better.unwrap_or(Better::Higher)))
        .collect();
    let first = *strong.first()?;
    (strong.len() >= 2 && strong.iter().all(|v| *v == first)).then_some(first)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn sig(x: f64) -> String {
    if x >= 0.01 {
        format!("{x:.2}")
    } else {
        format!("{x:.1e}")
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
            ..Outcome::default()
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
        ..Outcome::default()
    }
}

/// The `q`th percentile of `values` (unsorted) by perfline's one definition,
/// [`perfline_stats::percentile`] (numpy's linear); NaN for none.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    perfline_stats::percentile(&v, q).unwrap_or(f64::NAN)
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
        let o = judge(&h, 100.0, Better::Higher);
        assert_eq!((o.verdict, o.change_at), (Verdict::NoChange, None), "{o:?}");
        assert_eq!(o.runs_needed, None);
        assert_eq!(o.min_detectable_pct, Some(3.11), "{o:?}");
        // A single outlier in the history changes nothing.
        let mut h = series(20, 100.0);
        h[7] = 120.0;
        h[0] = 83.0;
        assert_eq!(judge(&h, 100.0, Better::Higher).verdict, Verdict::NoChange);
        // The last run an outlier, the current one normal: no change either.
        let mut h = series(20, 100.0);
        h[19] = 118.0;
        let o = judge(&h, 100.0, Better::Higher);
        assert_eq!((o.verdict, o.stats.unwrap().outliers), (Verdict::Undecided, vec![19]));
        let wider = Rule { min_change: 0.03, ..Rule::default() };
        assert_eq!(change_point(&h, 100.0, Better::Higher, &wider).verdict, Verdict::NoChange);
    }

    #[test]
    fn a_move_inside_the_noise_is_undecided_until_enough_runs() {
        // The GPU case: ±10 % run-to-run noise, 7 runs, then runs 16 % slower.
        let noise = [0.08, -0.11, 0.02, 0.12, -0.06, -0.1, 0.05, 0.09, -0.03, 0.1, -0.08, 0.04];
        let h: Vec<f64> = (0..7).map(|i| 100.0 * f64::exp(noise[i])).collect();
        let slow = |i: usize| 84.0 * f64::exp(noise[7 + i % 5] * 0.5);
        // Both slow runs stored already (perf-check after upload): can't tell yet.
        let mut hist = h.clone();
        hist.push(slow(0));
        let o = judge(&hist, slow(1), Better::Higher);
        assert_eq!(o.verdict, Verdict::Undecided, "{o:?}");
        // At `alpha` (the bar of confirmation runs) ±10 % noise needs more than 50 runs.
        assert_eq!(o.runs_needed, Some(SHOWN_RUNS_NEEDED), "{o:?}");
        assert!(
            o.reason.ends_with("more than 50 more runs at this level would decide it"),
            "{o:?}"
        );
        // The CI flow: the first slow run is current, then confirmation runs (pending, not
        // stored yet) at the same level decide it.
        let o = judge(&h, slow(0), Better::Higher);
        assert_eq!(o.verdict, Verdict::Undecided, "{o:?}");
        let n = o.runs_needed.unwrap() as usize;
        // Seven runs of ±10 % noise are too few a baseline for runs at the new level alone.
        assert_eq!(n, 50, "{o:?}");
        assert!(o.reason.contains("the baseline (7 runs) limits it"), "{o:?}");
        let pending: Vec<f64> = (0..n).map(slow).collect();
        let o = judge_series(&h, &pending, slow(n), Better::Higher, &Rule::default());
        assert_eq!(o.verdict, Verdict::Regression, "{o:?}");
        assert_eq!(o.change_at, Some(7), "the first pending run starts the new level: {o:?}");
    }

    #[test]
    fn confirmation_runs_must_share_the_move_and_hold_at_alpha() {
        let h = series(20, 100.0);
        let rule = Rule::default();
        // The run that asked for confirmation and its confirmation agree: a regression.
        let o = judge_series(&h, &[96.3], 96.0, Better::Higher, &rule);
        assert_eq!((o.verdict, o.change_at), (Verdict::Regression, Some(20)), "{o:?}");
        // The confirmation run alone moved: the pending run does not share it.
        let o = judge_series(&h, &[100.4], 95.0, Better::Higher, &rule);
        assert!(matches!(o.verdict, Verdict::Undecided | Verdict::Suspect), "{o:?}");
        assert!(o.stats.as_ref().is_some_and(|s| s.fixed && !s.shared), "{o:?}");
        // Significant at the FDR level only (p ≈ 0.003): not enough for a level of this
        // invocation's runs.
        let o = judge_series(&h, &[97.4], 97.3, Better::Higher, &rule);
        let p = o.score.unwrap();
        assert!(p > rule.alpha && p < rule.fdr, "{o:?}");
        assert_eq!(o.verdict, Verdict::Undecided, "{o:?}");
        assert!((1..=SHOWN_RUNS_NEEDED).contains(&o.runs_needed.unwrap()), "{o:?}");
    }

    #[test]
    fn false_discovery_control() {
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.5]);
        let want = [0.04, 0.04 * 4.0 / 3.0, 0.04 * 4.0 / 3.0, 0.5];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        // A step significant alone, not among many nulls: regression → undecided.
        let mut h = series(20, 100.0);
        for v in &mut h[15..] {
            *v *= 0.92;
        }
        let mut one = judge(&h, 92.0, Better::Higher);
        assert_eq!(one.verdict, Verdict::Regression, "{one:?}");
        one.score = Some(0.0005);
        let mut batch = vec![one];
        let flat = judge(&series(10, 100.0), 100.0, Better::Higher);
        batch.extend(std::iter::repeat_n(flat, 999));
        apply_fdr(&mut batch, &Rule::default());
        assert!((batch[0].q_value.unwrap() - 0.5).abs() < 1e-9, "{:?}", batch[0]);
        assert_eq!(batch[0].verdict, Verdict::Undecided, "{:?}", batch[0]);
    }

    #[test]
    fn a_big_coherent_move_is_decided_on_the_run_that_introduces_it() {
        let h = series(12, 100.0);
        let tput = judge(&h, 70.0, Better::Higher);
        let e2el = judge(&h, 1.0 / 0.7 * 100.0, Better::Lower);
        assert_eq!((tput.verdict, e2el.verdict), (Verdict::Suspect, Verdict::Suspect));
        let rule = Rule::default();
        assert_eq!(overwhelming(&[&tput, &e2el], &rule), Some(Verdict::Regression));
        assert_eq!(overwhelming(&[&tput], &rule), None, "one metric alone stays suspect");
        let better = judge(&h, 130.0, Better::Higher);
        assert_eq!(overwhelming(&[&tput, &better], &rule), None, "incoherent");
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
