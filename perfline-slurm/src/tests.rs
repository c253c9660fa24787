//! Tests of profiles and prefixes.

use super::*;
use perfline::exit::Exit;
use perfline::wire::plan::PlannedTest;
use std::path::PathBuf;

fn planned() -> PlannedTest {
    serde_json::from_str(perfline::wire::plan::EXAMPLE).unwrap()
}

fn opts() -> Options {
    Options { job_root: Some(PathBuf::from("/shared/jobs")), nodelist: Vec::new(), attempt: None }
}

#[test]
fn header_follows_the_incumbent() {
    let mut profile = Profile::parse(
        "name: gb200\npartition: batch\naccount: acct\nsegment: true\nmpi: pmix\n",
        "gb200.yaml",
    )
    .unwrap();
    profile.bin_dir = Some("/opt/perfline/bin".into());
    let p = prefix(&planned(), &profile, &opts()).unwrap();
    let id = "disagg-e2e-cfg_ctx1_tp1_gen1_tp8";
    let want: Vec<String> = [
        "--nodes=3",
        "--ntasks=12",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--segment=3",
        "--time=01:00:00",
        "--partition=batch",
        "--account=acct",
        &format!("--job-name={id}"),
        &format!("--output=/shared/jobs/{id}/logs/slurm-%j.out"),
        &format!("--error=/shared/jobs/{id}/logs/slurm-%j.out"),
    ]
    .iter()
    .map(|o| format!("#SBATCH {o}"))
    .collect();
    assert_eq!(p.sbatch, want);
    assert!(p.srun_args.is_empty());
    assert_eq!(p.workdir, format!("/shared/jobs/{id}"));
    assert_eq!(p.exports[3], "PERFLINE_BIN=/opt/perfline/bin");
}

#[test]
fn rejected_options_fall_back_or_vanish() {
    let profile = Profile::parse(
        "partition: unspecified\nsegment: true\nreject: [--segment, --gpus-per-node]\nsbatch_extra: [--exclusive, '--comment=a b']\n",
        "p.yaml",
    )
    .unwrap();
    let mut t = planned();
    t.plan.timeout_s = Some(90 * 60 + 1);
    let p = prefix(&t, &profile, &opts()).unwrap();
    let text = p.sbatch.join("\n");
    assert!(text.contains("#SBATCH --gres=gpu:4\n"), "{text}");
    assert!(!text.contains("segment") && !text.contains("gpus-per-node"), "{text}");
    assert!(!text.contains("partition"), "{text}");
    assert!(text.contains("#SBATCH --exclusive\n#SBATCH '--comment=a b'\n"), "{text}");
    assert!(text.contains("#SBATCH --time=01:31:00\n"), "{text}");
}

#[test]
fn container_flags_and_forwarded_names() {
    let profile = Profile::parse(
        "container: {image: 'nvcr.io/x:1', mounts: ['/lustre:/lustre'], workdir: /w, no_mount_home: true}\nenv_forward: [HF_TOKEN]\nsrun_extra: [--cpu-bind=none]\n",
        "c.yaml",
    )
    .unwrap();
    let p = prefix(&planned(), &profile, &opts()).unwrap();
    assert_eq!(p.srun_args[0], "--container-image=nvcr.io/x:1");
    assert_eq!(p.srun_args[1], "--container-name=perfline-disagg-e2e-cfg_ctx1_tp1_gen1_tp8");
    assert_eq!(p.srun_args[2], "--container-mounts=/lustre:/lustre");
    assert!(p.srun_args.contains(&"--container-env=HF_TOKEN".to_string()));
    assert_eq!(p.srun_args.last().unwrap(), "--cpu-bind=none");
}

#[test]
fn bad_profiles_and_plans_are_errors() {
    let err = Profile::parse("partiton: x\n", "typo.yaml").unwrap_err();
    assert_eq!(err.exit, Exit::Config);
    // The path ends at the unknown key itself.
    let want = "typo.yaml: partiton: unknown field `partiton`";
    assert!(err.message.starts_with(want), "{}", err.message);
    let err = Profile::parse("account: \"a\\n#SBATCH --x\"\n", "nl.yaml").unwrap_err();
    assert!(err.message.contains("account"), "{}", err.message);
    let err = Profile::parse("env_forward: ['A;B']\n", "e.yaml").unwrap_err();
    assert_eq!(err.exit, Exit::Config);
    let small = Profile { gpus_per_node: Some(2), ..Profile::default() };
    let err = prefix(&planned(), &small, &opts()).unwrap_err();
    assert_eq!(err.exit, Exit::DataErr);
    let mut bad = planned();
    bad.test.id = "x$(touch y)".into();
    assert_eq!(prefix(&bad, &Profile::default(), &opts()).unwrap_err().exit, Exit::DataErr);
    let short = Options { nodelist: vec!["n1".into()], ..opts() };
    let err = prefix(&planned(), &Profile::default(), &short).unwrap_err();
    assert_eq!(err.exit, Exit::Usage);
    assert!(err.message.ends_with("--nodes lists 1 nodes; the plan needs 3"), "{}", err.message);
}

#[test]
fn slurm_times_are_checked() {
    for good in ["30", "30:00", "02:00:00", "1-0", "1-12:30", "2-00:00:00", "UNLIMITED"] {
        assert_eq!(check_time(good), Ok(()), "{good}");
    }
    for bad in ["banana", "", "1:2:3:4", "-1", "1-", "1h", "02:00:00 --wrap=x", "1-2-3"] {
        assert!(check_time(bad).is_err(), "{bad}");
    }
    let e = Profile::parse("time: banana\n", "p.yaml").unwrap_err();
    assert_eq!(e.exit, Exit::Config);
    assert!(e.message.starts_with("p.yaml: time: \"banana\": not a Slurm time"), "{}", e.message);
    let e = Profile::parse("hunter2-secret-token\n", "tok.yaml").unwrap_err();
    assert_eq!(
        e.message,
        "tok.yaml: not a cluster profile (a YAML mapping of settings expected; the file is a single value)"
    );
}

#[test]
fn hung_after_is_a_checked_duration() {
    use std::time::Duration;
    assert_eq!(Profile::default().hung_after(), Duration::from_secs(10));
    let p = Profile::parse("hung_after: 30s\n", "p.yaml").unwrap();
    assert_eq!(p.hung_after(), Duration::from_secs(30));
    assert_eq!(parse_hung_after("1m 30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_hung_after("3s"), Ok(Duration::from_secs(3)));
    assert_eq!(parse_hung_after("1h"), Ok(Duration::from_secs(3600)));
    let e = Profile::parse("hung_after: banana\n", "p.yaml").unwrap_err();
    assert_eq!(e.exit, Exit::Config);
    assert_eq!(
        e.message,
        "p.yaml: hung_after: \"banana\": not a duration (expected number at 0; e.g. `10s`, `30s`, `2m`)"
    );
    let e = Profile::parse("hung_after: 2s\n", "p.yaml").unwrap_err();
    assert_eq!(e.message, "p.yaml: hung_after: \"2s\": out of range (3 s to 3600 s)");
    let e = Profile::parse("hung_after: 2h\n", "p.yaml").unwrap_err();
    assert_eq!(e.message, "p.yaml: hung_after: \"2h\": out of range (3 s to 3600 s)");
    // A long value is cut in the message.
    let long = "9".repeat(500);
    let e = Profile::parse(&format!("hung_after: \"{long}\"\n"), "p.yaml").unwrap_err();
    assert!(e.message.len() < 300 && e.message.contains("999…\""), "{}", e.message);
    // The key survives profile.json (what role reads).
    let back: Profile = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back.hung_after(), Duration::from_secs(30));
}

#[test]
fn time_and_templates() {
    assert_eq!(format_time(60), "00:01:00");
    assert_eq!(format_time(7200), "02:00:00");
    assert_eq!(format_time(0), "00:01:00");
    assert_eq!(format_time(2 * 86400 + 61), "2-00:02:00");
    assert_eq!(
        expand(DEFAULT_ROLE_COMMAND, "GEN_0"),
        r#""$PERFLINE_BIN"/role GEN_0 --plan "$PERFLINE_JOB_DIR/plan.json" --job-dir "$PERFLINE_JOB_DIR""#
    );
}

#[test]
fn sbatch_lines_are_quoted_and_export_names_checked() {
    assert_eq!(sbatch_line("--comment=it's").unwrap(), r"#SBATCH '--comment=it'\''s'");
    assert_eq!(export_pairs(&["1A=x".into()]).unwrap_err().exit, perfline::Exit::DataErr);
}

/// The placeholders the role runner fills in a server template (tools/role/src/server.rs).
const SERVER_PLACEHOLDERS: &[&str] = &[
    "model",
    "model_name",
    "served_model",
    "config",
    "host",
    "port",
    "addr_file",
    "tp",
    "pp",
    "gpus",
    "role",
    "job_dir",
    "bin",
];

#[test]
fn every_example_profile_loads_and_resolves() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/clusters");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let profile = Profile::load(&path).unwrap_or_else(|f| panic!("{}", f.message));
            let mut unknown = Vec::new();
            perfline::template::render(&profile.commands.server, |key| {
                if !SERVER_PLACEHOLDERS.contains(&key) {
                    unknown.push(key.to_string());
                }
                Ok::<_, ()>(None)
            })
            .unwrap();
            assert!(unknown.is_empty(), "{}: server template: {unknown:?}", path.display());
            // A plan whose model the profile knows resolves; each server gets its GPUs.
            let mut record: serde_json::Value =
                serde_json::from_str(perfline::wire::plan::EXAMPLE).unwrap();
            if let Some(name) = profile.models.keys().next() {
                for role in record["roles"].as_array_mut().unwrap() {
                    role["model"] = name.as_str().into();
                }
            }
            let planned = resolve_record(&mut record, &profile).unwrap();
            assert!(planned.plan.roles.iter().all(|r| r.model_path.is_some()));
            assert_eq!(planned.plan.roles[1].cuda_visible_devices, Some(vec![0]));
            names.push(profile.name);
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "gb200-pyxis",
            "local",
            "local-agentx",
            "local-agentx-corpus",
            "sglang",
            "transformers",
            "vllm"
        ]
    );
}

#[test]
fn server_flavour_defaults_to_trtllm_and_is_checked() {
    assert_eq!(Profile::default().api, crate::Api::Trtllm);
    let p = Profile::parse("api: openai-strict\n", "s.yaml").unwrap();
    assert_eq!((p.api, p.api.name()), (crate::Api::OpenaiStrict, "openai-strict"));
    let err = Profile::parse("api: tgi\n", "s.yaml").unwrap_err();
    assert_eq!(err.exit, Exit::Config);
    assert!(err.message.starts_with("s.yaml: "), "{}", err.message);
}
