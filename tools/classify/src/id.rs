//! The test id grammar of the incumbent's `parse_test_string` (incumbent.md §1), plus the
//! team's `profiling-`/`benchmark-` wrapper prefixes and bare `CFG.yaml` names.

use crate::hints;
use perfline::wire::test::{BenchmarkMode, Family};

/// What an id says about its test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id {
    /// `labels[0]` as written; `None` for a bare `CFG.yaml` name, which has no prefix.
    pub prefix: Option<String>,
    pub family: Family,
    pub benchmark_mode: Option<BenchmarkMode>,
    /// Config base name, never ending in `.yaml`.
    pub config: String,
    pub select: Vec<String>,
    pub upload: bool,
}

/// The message of the incumbent's assertion, kept so users recognise it.
pub const MISSING_CONFIG: &str = "perf_sanity test must have a config file";

/// Parses a test id (the text between `test_e2e[` and `]`, or a bare id).
pub fn parse(id: &str) -> Result<Id, String> {
    perfline::shell::check_id(id)?;
    let labels: Vec<&str> = id.split('-').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err("empty field between '-' separators".into());
    }
    let prefix = labels.first().copied().unwrap_or_default();
    let rest = labels.get(1..).unwrap_or_default();
    let upload = prefix.contains("upload");
    // The incumbent tests `disagg` before `aggr`; keep that order.
    if prefix.contains("disagg") {
        disagg(prefix, rest, upload)
    } else if prefix.contains("aggr") || prefix == "profiling" || prefix == "benchmark" {
        aggr(prefix, rest, upload)
    } else if id.ends_with(".yaml") {
        Ok(config_file(id))
    } else {
        Err(format!(
            "unknown prefix {prefix:?}: expected aggr, aggr_upload, disagg, disagg_upload, \
             profiling, benchmark, or a CFG.yaml file name"
        ))
    }
}

/// `disagg[_upload]-{e2e|gen_only}-CFG`, or the older `disagg[_upload]-CFG`.
fn disagg(prefix: &str, rest: &[&str], upload: bool) -> Result<Id, String> {
    let (benchmark_mode, config_labels) = match rest.split_first() {
        None => return Err(MISSING_CONFIG.into()),
        Some((&"e2e", cfg)) => (Some(BenchmarkMode::E2e), cfg),
        Some((&"gen_only", cfg)) => (Some(BenchmarkMode::GenOnly), cfg),
        Some(_) => (None, rest),
    };
    Ok(Id {
        prefix: Some(prefix.to_string()),
        family: Family::Disagg,
        benchmark_mode,
        config: config_name(config_labels)?,
        select: Vec::new(),
        upload,
    })
}

/// `aggr[_upload]-ctx_only-DISAGG_CFG` or `aggr[_upload]-CFG[-SERVER[,SERVER…]]`.
fn aggr(prefix: &str, rest: &[&str], upload: bool) -> Result<Id, String> {
    let (benchmark_mode, config, select) = match rest.split_first() {
        None => return Err(MISSING_CONFIG.into()),
        Some((&"ctx_only", cfg)) => (Some(BenchmarkMode::CtxOnly), config_name(cfg)?, Vec::new()),
        Some((cfg, servers)) => (None, config_name(&[cfg])?, select(servers)?),
    };
    Ok(Id {
        prefix: Some(prefix.to_string()),
        family: Family::Aggr,
        benchmark_mode,
        config,
        select,
        upload,
    })
}

/// A bare config file name: disagg when it names both ctx and gen workers, else aggregated.
fn config_file(id: &str) -> Id {
    let config = strip_yaml(id).to_string();
    let family = if hints::names_ctx_and_gen(&config) { Family::Disagg } else { Family::Aggr };
    Id { prefix: None, family, benchmark_mode: None, config, select: Vec::new(), upload: false }
}

fn config_name(labels: &[&str]) -> Result<String, String> {
    let config = strip_yaml(&labels.join("-")).to_string();
    if config.is_empty() {
        return Err(MISSING_CONFIG.into());
    }
    Ok(config)
}

fn strip_yaml(name: &str) -> &str {
    let mut name = name;
    while let Some(base) = name.strip_suffix(".yaml") {
        name = base;
    }
    name
}

/// The server names after the config: `-`-joined, then split on `,`.
fn select(labels: &[&str]) -> Result<Vec<String>, String> {
    if labels.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = labels.join("-").split(',').map(str::to_string).collect();
    if names.iter().any(String::is_empty) {
        return Err("empty server name in the ',' list".into());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use BenchmarkMode::*;
    use Family::*;

    #[track_caller]
    fn check(
        id: &str,
        prefix: Option<&str>,
        family: Family,
        mode: Option<BenchmarkMode>,
        config: &str,
        select: &[&str],
        upload: bool,
    ) {
        let got = parse(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        let want = Id {
            prefix: prefix.map(str::to_string),
            family,
            benchmark_mode: mode,
            config: config.to_string(),
            select: select.iter().map(|s| s.to_string()).collect(),
            upload,
        };
        assert_eq!(got, want, "{id}");
    }

    #[track_caller]
    fn check_err(id: &str, reason: &str) {
        match parse(id) {
            Ok(got) => panic!("{id} accepted as {got:?}"),
            Err(e) => assert!(e.contains(reason), "{id}: {e:?} lacks {reason:?}"),
        }
    }

    #[test]
    fn disagg_with_mode() {
        let cfg = "gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX";
        check(
            &format!("disagg_upload-gen_only-{cfg}"),
            Some("disagg_upload"),
            Disagg,
            Some(GenOnly),
            cfg,
            &[],
            true,
        );
        check(&format!("disagg-e2e-{cfg}"), Some("disagg"), Disagg, Some(E2e), cfg, &[], false);
        check(
            &format!("disagg-e2e-{cfg}.yaml"),
            Some("disagg"),
            Disagg,
            Some(E2e),
            cfg,
            &[],
            false,
        );
    }

    #[test]
    fn old_disagg_without_mode() {
        check(
            "disagg-deepseek-r1-fp4_000",
            Some("disagg"),
            Disagg,
            None,
            "deepseek-r1-fp4_000",
            &[],
            false,
        );
        check("disagg_upload-x.yaml", Some("disagg_upload"), Disagg, None, "x", &[], true);
    }

    #[test]
    fn aggr_ctx_only_reads_a_disagg_config() {
        let cfg = "gb200_deepseek-r1-fp4_128k8k_con1_ctx1_pp8_gen1_tep8_eplb0_mtp3_ccb-UCX";
        check(
            &format!("aggr_upload-ctx_only-{cfg}"),
            Some("aggr_upload"),
            Aggr,
            Some(CtxOnly),
            cfg,
            &[],
            true,
        );
    }

    #[test]
    fn aggr_with_and_without_servers() {
        check("aggr-llama_fp8", Some("aggr"), Aggr, None, "llama_fp8", &[], false);
        check(
            "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_1k1k",
            Some("aggr_upload"),
            Aggr,
            None,
            "deepseek_r1_fp4_v2_grace_blackwell",
            &["r1_fp4_v2_dep4_mtp1_1k1k"],
            true,
        );
        check("aggr-cfg.yaml-a,b", Some("aggr"), Aggr, None, "cfg", &["a", "b"], false);
        // Server names may contain '-': the rest is joined back before splitting on ','.
        check("aggr-cfg-a-b,c", Some("aggr"), Aggr, None, "cfg", &["a-b", "c"], false);
    }

    #[test]
    fn wrapper_prefixes_are_aggregated_without_upload() {
        check("profiling-cfg", Some("profiling"), Aggr, None, "cfg", &[], false);
        check("benchmark-cfg-s1", Some("benchmark"), Aggr, None, "cfg", &["s1"], false);
    }

    #[test]
    fn bare_config_file_names() {
        check(
            "gb200_x_ctx1_dep4_gen1_dep8_ccb-UCX.yaml",
            None,
            Disagg,
            None,
            "gb200_x_ctx1_dep4_gen1_dep8_ccb-UCX",
            &[],
            false,
        );
        check(
            "deepseek_r1_fp4_v2_grace_blackwell.yaml",
            None,
            Aggr,
            None,
            "deepseek_r1_fp4_v2_grace_blackwell",
            &[],
            false,
        );
        // ctx without gen is not disagg
        check("x_ctx1_tp1.yaml", None, Aggr, None, "x_ctx1_tp1", &[], false);
    }

    #[test]
    fn errors() {
        check_err("aggr", MISSING_CONFIG);
        check_err("disagg_upload", MISSING_CONFIG);
        check_err("disagg-e2e", MISSING_CONFIG);
        check_err("aggr-ctx_only", MISSING_CONFIG);
        check_err("aggr-.yaml", MISSING_CONFIG);
        check_err("foo-bar", "unknown prefix \"foo\"");
        check_err("cfg", "unknown prefix");
        check_err("aggr--x", "empty field");
        check_err("aggr-x-", "empty field");
        check_err("aggr-x-a,,b", "empty server name");
        check_err("aggr-x-a,", "empty server name");
        check_err("aggr-$(touch x)", "character '$'");
        check_err("aggr-a/b", "'/'");
        check_err("aggr-a..b", "'..'");
        check_err("aggr-a b", "whitespace");
        check_err("", "empty id");
    }
}
