//! The repository's invariants (ARCHITECTURE.md, CONTRIBUTING.md) checked over the whole
//! workspace: see `chain_tests::tidy` for the rules and their exceptions.

#[test]
fn the_workspace_is_tidy() {
    let violations = chain_tests::tidy::check(&chain_tests::workspace_root());
    let report: String = violations.iter().map(|v| format!("\n  {v}")).collect();
    assert!(violations.is_empty(), "{} tidy violation(s):{report}", violations.len());
}
