//! The walk-forward harness: a labelled series met run by run as CI meets it, every alarm
//! accepted, and the scoring of the alarms against the labels. Independent of any detector's
//! internals: a detector is a [`Detector`], a function of (history, current value, direction).

use perfline::metric::Better;
use perfline::wire::verdict::Verdict;

/// A true level change of a labelled series.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Index of the first run at the new level.
    pub index: usize,
    /// Whether the value moved up.
    pub up: bool,
    /// Size in units of the series' run-to-run noise, when known (synthetic data).
    pub sigmas: Option<f64>,
}

/// Draws the `j`-th confirmation value (0-based) at the level of run `t`.
pub type Draw = Box<dyn Fn(usize, usize) -> f64>;

/// One labelled series.
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
    pub better: Better,
    pub changes: Vec<Change>,
    /// Synthetic data: confirmation values from the generator. Real data (`None`): the
    /// following points of the series are the confirmation runs.
    pub confirm: Option<Draw>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("name", &self.name)
            .field("runs", &self.values.len())
            .field("changes", &self.changes)
            .finish()
    }
}

/// A verdict rule under evaluation: judges `current` against the stored runs `history`
/// (oldest first) and `pending`, the earlier runs of this CI invocation (the run that asked
/// for confirmation and the confirmation runs before `current`).
pub trait Detector {
    fn name(&self) -> String;
    fn judge(&self, history: &[f64], pending: &[f64], current: f64, better: Better) -> Verdict;
}

/// How the walk is run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Earlier runs judged against, at most (perf-check's `--window`).
    pub window: usize,
    /// Confirmation runs on `undecided`/`suspect`, at most (0: none).
    pub confirm: usize,
    /// An alarm within this many runs (confirmation runs counted) after a change detects it.
    pub margin: usize,
}

/// A regression or improvement raised by the walk.
#[derive(Clone, Debug, PartialEq)]
pub struct Alarm {
    /// Index of the series run that raised it: the run judged, or with real data the last
    /// following point used as a confirmation run.
    pub at: usize,
    /// Confirmation runs drawn at the level of run `at` (synthetic data) that it took.
    pub extra: usize,
    /// Whether confirmation runs (drawn or following points) decided it.
    pub confirmed: bool,
    /// Which way the detector says the value moved.
    pub up: bool,
}

/// What the walk over one series produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Walk {
    pub alarms: Vec<Alarm>,
    /// Judgements made (series runs and confirmation runs).
    pub judged: usize,
}

fn alarm_up(verdict: Verdict, better: Better) -> Option<bool> {
    match (verdict, better) {
        (Verdict::Regression, Better::Lower) | (Verdict::Improvement, Better::Higher) => Some(true),
        (Verdict::Regression, Better::Higher) | (Verdict::Improvement, Better::Lower) => {
            Some(false)
        }
        _ => None,
    }
}

fn undecided(v: Verdict) -> bool {
    matches!(v, Verdict::Undecided | Verdict::Suspect)
}

/// Walks `series` forward: at run `t` the detector judges the stored runs since the last
/// accepted alarm (the most recent `window`) against value `t`. On `undecided`/`suspect`, up
/// to `confirm` confirmation runs at the same level are judged in turn, the invocation's
/// earlier runs as `pending`; afterwards all of them are stored runs. An alarm is accepted at
/// once (`--accept`): the invocation's last run starts the new baseline.
pub fn walk(series: &Series, detector: &dyn Detector, s: &Settings) -> Walk {
    let values = &series.values;
    let mut out = Walk::default();
    let mut history: Vec<f64> = Vec::new();
    let mut t = 0;
    while t < values.len() {
        let window = &history[history.len().saturating_sub(s.window)..];
        let judge = |p: &[f64], c: f64| detector.judge(window, p, c, series.better);
        let mut verdict = judge(&[], values[t]);
        out.judged += 1;
        let mut pending = vec![values[t]];
        while s.confirm > 0 && undecided(verdict) && pending.len() <= s.confirm {
            let extra = pending.len() - 1;
            let value = match &series.confirm {
                Some(draw) => draw(t, extra),
                None if t + extra + 1 < values.len() => values[t + extra + 1],
                None => break,
            };
            verdict = judge(&pending, value);
            out.judged += 1;
            pending.push(value);
        }
        let confirmations = pending.len() - 1;
        // Real data: the confirmation runs were the following points.
        let (last, extra) =
            if series.confirm.is_none() { (t + confirmations, 0) } else { (t, confirmations) };
        // Every run of the invocation is stored; an alarm is accepted from its last run on.
        history.extend_from_slice(&pending);
        if let Some(up) = alarm_up(verdict, series.better) {
            out.alarms.push(Alarm { at: last, extra, confirmed: confirmations > 0, up });
            history.drain(..history.len() - 1);
        }
        t = last + 1;
    }
    out
}

/// Counts over one or more walked series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Score {
    pub series: usize,
    /// Runs of the series (confirmation runs not counted).
    pub runs: usize,
    pub judged: usize,
    pub changes: usize,
    /// Changes of at least 3 noise units, and those of them detected within the margin.
    pub big: usize,
    pub big_found: usize,
    pub true_alarms: usize,
    pub false_alarms: usize,
    /// Runs from each change to its first alarm the right way (confirmation runs counted),
    /// for changes detected before the next change.
    pub delays: Vec<usize>,
}

/// Scores one walk: an alarm at run `at` detects the latest change at or before `at` when it
/// points the same way, the change is not yet detected and `at − change + extra ≤ margin`;
/// every other alarm is false.
pub fn score(series: &Series, walk: &Walk, margin: usize) -> Score {
    let changes = &series.changes;
    let mut found = vec![false; changes.len()];
    let mut sc = Score {
        series: 1,
        runs: series.values.len(),
        judged: walk.judged,
        changes: changes.len(),
        ..Score::default()
    };
    for a in &walk.alarms {
        let hit = changes.iter().rposition(|c| c.index <= a.at).filter(|&i| {
            let c = &changes[i];
            !found[i] && c.up == a.up && a.at - c.index + a.extra <= margin
        });
        match hit {
            Some(i) => {
                found[i] = true;
                sc.true_alarms += 1;
            }
            None => sc.false_alarms += 1,
        }
    }
    for (i, c) in changes.iter().enumerate() {
        let next = changes.get(i + 1).map_or(series.values.len(), |n| n.index);
        if let Some(a) = walk.alarms.iter().find(|a| a.at >= c.index && a.at < next && a.up == c.up)
        {
            sc.delays.push(a.at - c.index + a.extra);
        }
        if c.sigmas.is_some_and(|s| s >= 3.0) {
            sc.big += 1;
            sc.big_found += usize::from(found[i]);
        }
    }
    sc
}

impl Score {
    pub fn add(&mut self, o: &Score) {
        self.series += o.series;
        self.runs += o.runs;
        self.judged += o.judged;
        self.changes += o.changes;
        self.big += o.big;
        self.big_found += o.big_found;
        self.true_alarms += o.true_alarms;
        self.false_alarms += o.false_alarms;
        self.delays.extend_from_slice(&o.delays);
    }

    fn ratio(a: usize, b: usize) -> Option<f64> {
        (b > 0).then(|| a as f64 / b as f64)
    }

    /// Share of the changes of ≥ 3 noise units detected within the margin.
    pub fn recall_3sigma(&self) -> Option<f64> {
        Score::ratio(self.big_found, self.big)
    }

    /// False alarms per 1,000 judged series-runs.
    pub fn false_alarms_per_1000(&self) -> Option<f64> {
        Score::ratio(self.false_alarms, self.judged).map(|r| r * 1000.0)
    }

    /// Mean runs from a change to its detection.
    pub fn delay(&self) -> Option<f64> {
        Score::ratio(self.delays.iter().sum(), self.delays.len())
    }

    pub fn precision(&self) -> Option<f64> {
        Score::ratio(self.true_alarms, self.true_alarms + self.false_alarms)
    }

    pub fn recall(&self) -> Option<f64> {
        Score::ratio(self.true_alarms, self.changes)
    }

    /// Harmonic mean of precision and recall; 0 when the detector finds nothing (no alarm at
    /// all leaves precision undefined and recall 0).
    pub fn f1(&self) -> Option<f64> {
        let r = self.recall()?;
        match self.precision() {
            Some(p) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            _ => Some(0.0),
        }
    }
}

/// Walks and scores every series.
pub fn evaluate(series: &[Series], detector: &dyn Detector, s: &Settings) -> Score {
    let mut total = Score::default();
    for one in series {
        total.add(&score(one, &walk(one, detector, s), s.margin));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alarms when the current value is off the last one by more than 50 %; `undecided` when
    /// off by more than 20 %.
    struct Jump;
    impl Detector for Jump {
        fn name(&self) -> String {
            "jump".into()
        }
        fn judge(&self, h: &[f64], p: &[f64], c: f64, better: Better) -> Verdict {
            let Some(last) = p.last().or(h.last()) else { return Verdict::InsufficientData };
            let r = c / last;
            let worse = (r > 1.0) == (better == Better::Lower);
            if !(0.5..=1.5).contains(&r) {
                if worse {
                    Verdict::Regression
                } else {
                    Verdict::Improvement
                }
            } else if !(0.8..=1.2).contains(&r) {
                Verdict::Undecided
            } else {
                Verdict::NoChange
            }
        }
    }

    fn series(values: &[f64], changes: &[(usize, bool)]) -> Series {
        Series {
            name: "s".into(),
            values: values.to_vec(),
            better: Better::Lower,
            changes: changes
                .iter()
                .map(|&(index, up)| Change { index, up, sigmas: Some(4.0) })
                .collect(),
            confirm: None,
        }
    }

    const S: Settings = Settings { window: 30, confirm: 0, margin: 5 };

    #[test]
    fn alarms_are_accepted_and_scored() {
        // A step up at 3 (alarm, accepted), a spike at 6 (false alarm, then the return is
        // another false alarm, the level having been accepted).
        let s = series(&[10.0, 10.0, 10.0, 20.0, 20.0, 20.0, 50.0, 20.0], &[(3, true)]);
        let w = walk(&s, &Jump, &S);
        let ups: Vec<(usize, bool)> = w.alarms.iter().map(|a| (a.at, a.up)).collect();
        assert_eq!(ups, [(3, true), (6, true), (7, false)]);
        assert_eq!(w.judged, 8);
        let sc = score(&s, &w, 5);
        assert_eq!((sc.true_alarms, sc.false_alarms, sc.delays.clone()), (1, 2, vec![0]));
        assert_eq!((sc.big, sc.big_found), (1, 1));
        assert_eq!(sc.precision(), Some(1.0 / 3.0));
        assert_eq!(sc.recall(), Some(1.0));
        assert_eq!(sc.false_alarms_per_1000(), Some(250.0));
    }

    #[test]
    fn wrong_way_and_late_alarms_are_false() {
        let s = series(&[10.0, 10.0, 4.0], &[(2, true)]);
        let sc = score(&s, &walk(&s, &Jump, &S), 5);
        assert_eq!((sc.true_alarms, sc.false_alarms), (0, 1));
        assert_eq!(sc.recall(), Some(0.0));
        assert_eq!(sc.f1(), Some(0.0));
        // Detected 1 run late with a margin of 0: false, but its delay is recorded.
        let s = series(&[10.0, 10.0, 13.0, 20.0], &[(2, true)]);
        let w = walk(&s, &Jump, &S);
        let sc = score(&s, &w, 0);
        assert_eq!((sc.true_alarms, sc.false_alarms, sc.delays), (0, 1, vec![1]));
    }

    #[test]
    fn confirmation_runs_real_and_drawn() {
        // 10 → 13 is undecided; with confirmation the following point (20) decides it.
        let mut s = series(&[10.0, 10.0, 13.0, 20.0, 20.0], &[(2, true)]);
        let c = Settings { confirm: 2, ..S };
        let w = walk(&s, &Jump, &c);
        assert_eq!(w.alarms, [Alarm { at: 3, extra: 0, confirmed: true, up: true }]);
        // Runs 0, 1, 2, confirmation 3, then 4: five judgements.
        assert_eq!(w.judged, 5);
        assert_eq!(score(&s, &w, 5).delays, [1]);
        // Drawn confirmation values: the series points are not consumed.
        s.confirm = Some(Box::new(|t, j| if t == 2 { [16.0, 30.0][j] } else { 20.0 }));
        let w = walk(&s, &Jump, &c);
        assert_eq!(w.alarms, [Alarm { at: 2, extra: 2, confirmed: true, up: true }]);
        // Runs 0, 1, 2 + 2 confirmations, 3 (undecided against 30) + 1 confirmation, 4.
        assert_eq!(w.judged, 8);
        // Without confirmation: undecided is no alarm; 13 → 20 is a jump of 54 %.
        let w = walk(&s, &Jump, &S);
        assert_eq!(w.alarms, [Alarm { at: 3, extra: 0, confirmed: false, up: true }]);
    }
}
