//! The repository's invariants (ARCHITECTURE.md, CONTRIBUTING.md) checked over the whole
//! workspace: see `chain_tests::tidy` for the rules and their exceptions.

#[test]
fn the_workspace_is_tidy() {
    let violations = chain_tests::tidy::check(&chain_tests::workspace_root());
    let report: String = violations.iter().map(|v| format!("\n  {v}")).collect();
    assert!(violations.is_empty(), "{} tidy violation(s):{report}", violations.len());
}

/// The repository's own shell scripts (the CI wrapper, the GPU acceptance run) pass
/// `shellcheck` with no finding, and its Python helpers compile: the GPU run cannot run in CI,
/// so this is what CI can check of it.
#[test]
fn ci_scripts_pass_shellcheck_and_python_compiles() {
    let root = chain_tests::workspace_root();
    let scripts = ["ci/run-perf-tests", "ci/gpu/prepare.sh", "ci/gpu/run.sh"];
    let out = std::process::Command::new("shellcheck")
        .args(scripts.map(|s| root.join(s)))
        .output()
        .expect("shellcheck (apt install shellcheck; `cargo xtask ci` installs it)");
    assert!(out.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&out.stdout));
    let dir = tempfile::tempdir().unwrap();
    for py in ["ci/gpu/make_model.py", "ci/gpu/summary.py"] {
        let out = std::process::Command::new("python3")
            .args(["-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)"])
            .arg(root.join(py))
            .arg(dir.path().join("x.pyc"))
            .output()
            .expect("python3");
        assert!(out.status.success(), "{py}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
