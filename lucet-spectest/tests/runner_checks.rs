//! The runner's own verdicts: assertions that hold pass, and assertions that do not
//! hold fail, each with its line.

use lucet_spectest::{run_wast_file, ModuleCache};
use std::path::Path;

fn cache() -> ModuleCache {
    ModuleCache::new(ModuleCache::default_dir()).expect("the module cache directory is usable")
}

fn script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("scripts")
        .join(name)
}

#[test]
fn true_assertions_pass() {
    let text = std::fs::read_to_string(script("must_pass.wast")).unwrap();
    let assertions = text.lines().filter(|l| l.starts_with("(assert_")).count();
    let report = run_wast_file(&script("must_pass.wast"), &cache());
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    assert_eq!(report.passed, assertions);
}

#[test]
fn false_assertions_fail() {
    let text = std::fs::read_to_string(script("must_fail.wast")).unwrap();
    let expected_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("(assert_") || l.ends_with(";; fails"))
        .map(|(i, _)| i + 1)
        .collect();
    let report = run_wast_file(&script("must_fail.wast"), &cache());
    let failed_lines: Vec<usize> = report.failures.iter().map(|f| f.line).collect();
    assert_eq!(report.passed, 0, "{:#?}", report.failures);
    assert_eq!(failed_lines, expected_lines, "{:#?}", report.failures);
}

#[test]
fn unparsable_script_is_one_failure_with_its_line() {
    let report = lucet_spectest::run_wast_source(
        Path::new("bad.wast"),
        "(module)\n(assert_return (invoke",
        &cache(),
    );
    assert_eq!(report.failed, 1);
    assert_eq!(report.failures[0].line, 2);
}

#[test]
fn an_unparsable_form_fails_alone() {
    let report = run_wast_file(&script("partly_unparsable.wast"), &cache());
    assert_eq!(report.passed, 3, "{:#?}", report.failures);
    assert_eq!(report.failed, 1);
    assert_eq!(report.failures[0].line, 5);
    assert_eq!(report.failures[0].directive, "assert_return");
}
