//! `--store`: history from an SQLite or MySQL store through perfline's read-only history
//! reader (`perfline_store::read`), into the same [`History`] the file inputs fill.

use crate::model::{CaseKey, History, Sample};
use perfline::cli::Result;
use perfline_store::read::{self, Access, Query, Reader};
use perfline_store::{secret, url::Store};
use std::path::Path;

/// Opens `url` read-only (MySQL: password from `--password-file` or the environment) and adds
/// its runs, their system info, the ok values of every series (at most `window` runs each)
/// and the failed cases of those runs to `history`.
pub fn load(
    url: &str,
    password_file: Option<&Path>,
    window: usize,
    history: &mut History,
) -> Result<()> {
    let store = Store::parse(url)?;
    let password = match store {
        Store::Mysql { .. } => Some(secret::mysql_password(password_file)?),
        _ => None,
    };
    let mut reader = Reader::open(&store, password.as_deref(), Access::ReadOnly)?;
    let stored = reader.history(&Query { series: &[], window, exclude_run_key: None })?;
    let failed = {
        let recent = &stored.runs[stored.runs.len().saturating_sub(window)..];
        let keys: Vec<String> = recent.iter().map(|r| r.run_key.clone()).collect();
        reader.failed_cases(&keys)?
    };
    add(history, &stored, failed);
    Ok(())
}

/// The fields of a stored run shown in the summary.
fn info(run: &read::Run) -> Vec<(String, String)> {
    let fields = [
        ("gpu", &run.gpu),
        ("driver", &run.driver),
        ("cuda", &run.cuda),
        ("trtllm", &run.trtllm),
        ("tensorrt", &run.tensorrt),
        ("commit", &run.commit),
        ("os", &run.os),
        ("hostname", &run.hostname),
        ("job_id", &run.job_id),
        ("start_time", &run.start_time),
        ("end_time", &run.end_time),
        ("notes", &run.notes),
        ("uploaded_at", &run.uploaded_at),
    ];
    fields
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_ref().filter(|v| !v.is_empty()).map(|v| (k.to_string(), v.clone()))
        })
        .collect()
}

/// Concurrency from a client name (`con4_iter2_…` → 4): the store keeps no record fields.
pub fn concurrency_of(client: &str) -> Option<u64> {
    let digits: String =
        client.strip_prefix("con")?.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Adds what the reader returned to `history`.
pub fn add(history: &mut History, stored: &read::History, failed: Vec<read::FailedCase>) {
    let index: Vec<usize> = stored
        .runs
        .iter()
        .map(|r| {
            let i = history.run_index(&r.run_key);
            history.fill_info(i, info(r));
            if history.runs[i].confirmation.is_none() {
                history.runs[i].confirmation =
                    r.notes.as_deref().and_then(crate::model::confirmation_in_notes);
            }
            i
        })
        .collect();
    for s in &stored.series {
        let case = CaseKey::new(&s.key.test_id, Some(&s.key.server), Some(&s.key.client));
        for p in &s.points {
            let run = index[p.run];
            let samples = history.cases.entry(case.clone()).or_default();
            let i = match samples.binary_search_by_key(&run, |x| x.run) {
                Ok(i) => i,
                Err(i) => {
                    let sample = Sample {
                        run,
                        ok: true,
                        concurrency: concurrency_of(&case.client),
                        ..Sample::default()
                    };
                    samples.insert(i, sample);
                    i
                }
            };
            samples[i].metrics.insert(s.key.metric.clone(), p.value);
            if let Some(u) = &s.unit {
                samples[i].units.insert(s.key.metric.clone(), u.clone());
            }
        }
    }
    for f in failed {
        let Some(run) = history.runs.iter().position(|r| r.key == f.run_key) else { continue };
        let sample = Sample {
            run,
            ok: false,
            reasons: f.reasons,
            log_tail: f.log_tail.lines().map(str::to_string).collect(),
            concurrency: concurrency_of(&f.client),
            ..Sample::default()
        };
        history.add(CaseKey::new(&f.test_id, Some(&f.server), Some(&f.client)), sample);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfline_store::read::{FailedCase, Point, Run, Series, SeriesKey};

    #[test]
    fn reader_history_becomes_samples() {
        let run = |k: &str, gpu: Option<&str>| Run {
            run_key: k.into(),
            gpu: gpu.map(String::from),
            ..Run::default()
        };
        let series = |m: &str, pts: &[(usize, f64)]| Series {
            key: SeriesKey::new("t", "srv", "con4_isl128", m),
            unit: Some("ms".into()),
            points: pts.iter().map(|&(run, value)| Point { run, value }).collect(),
            accepted_from: None,
        };
        let stored = read::History {
            runs: vec![
                Run { uploaded_at: Some("2026-12-06 10:13:06".into()), ..run("a", None) },
                Run { notes: Some("confirmation 1".into()), ..run("b", Some("H100")) },
            ],
            series: vec![
                series("mean_ttft", &[(0, 10.0), (1, 11.0)]),
                series("p99_ttft", &[(1, 20.0)]),
            ],
        };
        let failed = vec![FailedCase {
            run_key: "a".into(),
            test_id: "t".into(),
            server: String::new(),
            client: "con1".into(),
            reasons: vec!["dead".into()],
            log_tail: "x\ny".into(),
            source: None,
        }];
        let mut h = History::default();
        add(&mut h, &stored, failed);
        assert_eq!(h.runs.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(h.runs[1].info["gpu"], "H100");
        assert_eq!((h.runs[0].confirmation, h.runs[1].confirmation), (None, Some(1)));
        assert_eq!(h.runs[0].label(), "uploaded 2026-12-06 10:13");
        let s = &h.cases[&CaseKey::new("t", Some("srv"), Some("con4_isl128"))];
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[1].metrics["mean_ttft"], s[1].metrics["p99_ttft"], s[1].concurrency),
            (11.0, 20.0, Some(4))
        );
        assert_eq!(s[0].units["mean_ttft"], "ms");
        let f = &h.cases[&CaseKey::new("t", None, Some("con1"))][0];
        assert_eq!((f.ok, f.log_tail.len(), f.reasons[0].as_str()), (false, 2, "dead"));
        assert_eq!(concurrency_of("concurrency"), None);
    }
}
