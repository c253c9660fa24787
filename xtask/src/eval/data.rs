//! Data sets (b) and (c): real histories with labels, kept in `xtask/data/eval/` (see
//! SOURCES.md there for where each file comes from).

use super::walk::{Change, Series};
use anyhow::{bail, Context};
use perfline::metric::Better;
use serde_json::Value;
use std::path::Path;

/// (b) Perfherder series (`perfherder.json`): values in push order, `lower_is_better`, and
/// the alerts a sheriff triaged as real (not invalid) as changes.
pub fn perfherder(path: &Path) -> anyhow::Result<Vec<Series>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let Some(list) = doc["series"].as_array() else {
        bail!("{}: field `series`: expected an array", path.display());
    };
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let field = |f: &str| format!("{}: series {i}: field `{f}`", path.display());
        let values: Vec<f64> = s["values"]
            .as_array()
            .with_context(|| field("values"))?
            .iter()
            .map(|v| v.as_f64().with_context(|| field("values")))
            .collect::<anyhow::Result<_>>()?;
        let lower = s["lower_is_better"].as_bool().with_context(|| field("lower_is_better"))?;
        let mut changes = Vec::new();
        for c in s["changes"].as_array().with_context(|| field("changes"))? {
            let index = c["index"].as_u64().with_context(|| field("changes.index"))? as usize;
            let up = match c["direction"].as_str() {
                Some("up") => true,
                Some("down") => false,
                _ => bail!("{}: expected \"up\" or \"down\"", field("changes.direction")),
            };
            if index >= values.len() {
                bail!("{}: {index} is past the series", field("changes.index"));
            }
            changes.push(Change { index, up, sigmas: None });
        }
        changes.sort_by_key(|c| c.index);
        out.push(Series {
            name: s["name"].as_str().unwrap_or("perfherder").to_string(),
            values,
            better: if lower { Better::Lower } else { Better::Higher },
            changes,
            confirm: None,
        });
    }
    Ok(out)
}

/// The metrics of the GPU history that truly changed, and the first run (0-based) at the new
/// level: another process shared the GPU from run 10 on (the data's README).
pub const GPU_CHANGES: [(&str, usize); 2] = [("gpu_energy_per_token", 9), ("gpu_power_mean", 9)];

/// (c) The real H100 history: one series per metric with a direction (perfline's metric
/// table; utilisation and counts have none and are not judged), in run order.
pub fn gpu_history(path: &Path) -> anyhow::Result<Vec<Series>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut runs: Vec<serde_json::Map<String, Value>> = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
        if v["status"] != "ok" {
            continue;
        }
        let Some(m) = v["metrics"].as_object() else {
            bail!("{}:{}: field `metrics`: expected an object", path.display(), n + 1);
        };
        runs.push(m.clone());
    }
    let Some(first) = runs.first() else { bail!("{}: no ok runs", path.display()) };
    let mut out = Vec::new();
    for name in first.keys() {
        let Some(better) = perfline::metric::better(name) else { continue };
        let values: Vec<f64> = runs.iter().filter_map(|m| m.get(name)?.as_f64()).collect();
        if values.len() != runs.len() {
            bail!("{}: metric {name} is missing from some runs", path.display());
        }
        let changes = GPU_CHANGES
            .iter()
            .filter(|(m, _)| m == name)
            .map(|&(_, index)| {
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
                let up = mean(&values[index..]) > mean(&values[..index]);
                Change { index, up, sigmas: None }
            })
            .collect();
        out.push(Series { name: name.clone(), values, better, changes, confirm: None });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        crate::util::project_root().join("xtask/data/eval")
    }

    #[test]
    fn the_kept_data_loads_with_its_labels() {
        let ph = perfherder(&root().join("perfherder.json")).unwrap();
        // (values, lower is better, alerts triaged as real: (index, up)) per series, in file
        // order; SOURCES.md lists where each comes from.
        // (number of values, lower is better, changes as (index, up))
        type Expected = (usize, bool, &'static [(usize, bool)]);
        let expected: &[Expected] = &[
            (274, true, &[(80, true)]),
            (326, true, &[(15, false)]),
            (316, true, &[(274, true)]),
            (571, true, &[(52, false)]),
            (571, true, &[(340, false)]),
        ];
        assert_eq!(ph.len(), expected.len());
        for (s, &(len, lower, changes)) in ph.iter().zip(expected) {
            assert_eq!(s.values.len(), len, "{}", s.name);
            assert_eq!(s.better, if lower { Better::Lower } else { Better::Higher }, "{}", s.name);
            let want: Vec<Change> =
                changes.iter().map(|&(index, up)| Change { index, up, sigmas: None }).collect();
            assert_eq!(s.changes, want, "{}", s.name);
        }
        let gpu = gpu_history(&root().join("h100-transformers-serve-12-runs.jsonl")).unwrap();
        // 4 throughputs, 12 latencies, energy, power, memory; utilisation and the dispatch
        // delay have no direction.
        assert_eq!(gpu.len(), 19);
        assert!(gpu.iter().all(|s| s.values.len() == 12));
        let changed: Vec<(&str, &[Change])> = gpu
            .iter()
            .filter(|s| !s.changes.is_empty())
            .map(|s| (s.name.as_str(), s.changes.as_slice()))
            .collect();
        let c = [Change { index: 9, up: true, sigmas: None }];
        assert_eq!(changed, [("gpu_energy_per_token", &c[..]), ("gpu_power_mean", &c[..])]);
    }

    #[test]
    fn bad_input_names_the_file_and_field() {
        let dir = std::env::temp_dir().join(format!("xtask-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("ph.json");
        std::fs::write(&p, r#"{"series":[{"values":[1,2],"lower_is_better":true,"changes":[{"index":5,"direction":"up"}]}]}"#).unwrap();
        let e = perfherder(&p).unwrap_err().to_string();
        assert!(e.contains("ph.json: series 0: field `changes.index`: 5 is past"), "{e}");
        std::fs::write(&p, "{\"status\":\"ok\",\"metrics\":{}}\nnot json\n").unwrap();
        let e = format!("{:#}", gpu_history(&p).unwrap_err());
        assert!(e.contains("ph.json:2: not JSON"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
