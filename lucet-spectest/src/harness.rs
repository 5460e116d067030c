//! A test harness in the style of libtest for `cargo test`: one test per script.
//!
//! It accepts the arguments cargo passes through (`FILTER...`, `--exact`, `--skip`,
//! `--list`, `--ignored`), prints `test NAME ... ok` lines, the failures, and last
//! the same `N passed, N failed` line as the command-line runner, and exits non-zero
//! if any assertion failed.

use crate::{
    collect_wast_files, run_wast_file, write_file_report, FileReport, ModuleCache, Summary,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Default)]
struct HarnessArgs {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
    ignored: bool,
}

fn parse_args(args: impl Iterator<Item = String>) -> HarnessArgs {
    let mut h = HarnessArgs::default();
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--exact" => h.exact = true,
            "--list" => h.list = true,
            "--ignored" => h.ignored = true,
            "--skip" => h.skips.extend(args.next()),
            // Options that take a value and do not matter here.
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" => {
                args.next();
            }
            s if s.starts_with('-') => {}
            s => h.filters.push(s.to_string()),
        }
    }
    h
}

/// The test name of a script: its path below `root` without the extension.
fn test_name(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    rel.with_extension("").to_string_lossy().replace('\\', "/")
}

/// Runs the scripts under `root` (optionally only the named ones, by test name) as
/// tests, honouring the command-line filters.
pub fn test_main(root: &Path, only: Option<&[&str]>) -> ExitCode {
    let args = parse_args(std::env::args().skip(1));
    if !root.is_dir() {
        return missing_corpus("the spec tests", root, "LUCET_SPEC_CORPUS");
    }
    let files = match collect_wast_files(&[root.to_path_buf()]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot list {}: {e}", root.display());
            return ExitCode::FAILURE;
        }
    };
    let selected: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|f| (test_name(root, &f), f))
        .filter(|(name, _)| match only {
            Some(o) => o.contains(&name.as_str()),
            None => true,
        })
        .filter(|(name, _)| {
            args.filters.is_empty()
                || args.filters.iter().any(|f| {
                    if args.exact {
                        name == f
                    } else {
                        name.contains(f.as_str())
                    }
                })
        })
        .filter(|(name, _)| {
            !args.skips.iter().any(|s| {
                if args.exact {
                    name == s
                } else {
                    name.contains(s.as_str())
                }
            })
        })
        .collect();
    if args.list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    if args.ignored {
        // No script is marked ignored.
        println!("0 passed, 0 failed");
        return ExitCode::SUCCESS;
    }
    let cache = match ModuleCache::new(ModuleCache::default_dir()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("\nrunning {} tests", selected.len());
    let mut summary = Summary::default();
    let mut failed_tests = Vec::new();
    for (name, file) in &selected {
        // The name goes out before the script runs, so that if a runtime bug takes
        // the process down the last line says which script did it.
        print!("test {name} ... ");
        let _ = std::io::stdout().flush();
        let report: FileReport = run_wast_file(file, &cache);
        let status = if report.failed == 0 { "ok" } else { "FAILED" };
        println!(
            "{status} ({} passed, {} failed, {:.1}s)",
            report.passed,
            report.failed,
            report.elapsed.as_secs_f64()
        );
        if report.failed > 0 {
            failed_tests.push(name.clone());
            let _ = write_file_report(&mut std::io::stdout(), &report, Some(20));
        }
        let _ = std::io::stdout().flush();
        summary.add(report);
    }
    if !failed_tests.is_empty() {
        println!("\nfailed scripts: {}", failed_tests.join(", "));
    }
    println!("{}", summary.total_line());
    if summary.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Whether the `CI` environment variable asks for a strict run: set, and not empty,
/// `0` or `false`.
pub fn under_ci() -> bool {
    ci_value_is_strict(std::env::var("CI").ok().as_deref())
}

fn ci_value_is_strict(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// What a test of a corpus suite does when the corpus is absent: a one-line note and a
/// pass, so that `cargo test` works on a clone without `../shared`; under CI a failure,
/// so that CI cannot skip a suite without anyone noticing.
pub fn missing_corpus(suite: &str, dir: &Path, variable: &str) -> ExitCode {
    let what = format!(
        "{suite}: the corpus is not at {} (put ../shared beside the workspace, or set {variable})",
        dir.display()
    );
    if under_ci() {
        eprintln!("error: {what}; CI is set, so a missing corpus is a failure");
        ExitCode::FAILURE
    } else {
        println!("note: {what}; skipped");
        ExitCode::SUCCESS
    }
}

/// The spec corpus directory `name` (e.g. `wasm-2.0`): `$LUCET_SPEC_CORPUS/name` if
/// set, else `../shared/corpora/spec/name` beside the workspace.
pub fn corpus_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("LUCET_SPEC_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("corpora")
                .join("spec")
        });
    base.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_true_ci_variable_makes_a_missing_corpus_fail() {
        for strict in ["true", "1", "yes"] {
            assert!(ci_value_is_strict(Some(strict)), "{strict}");
        }
        for lax in [None, Some(""), Some("0"), Some("false"), Some("FALSE")] {
            assert!(!ci_value_is_strict(lax), "{lax:?}");
        }
    }

    #[test]
    fn libtest_arguments() {
        let a = parse_args(
            [
                "i32",
                "--exact",
                "--test-threads",
                "2",
                "--nocapture",
                "--skip",
                "simd",
            ]
            .map(String::from)
            .into_iter(),
        );
        assert_eq!(a.filters, vec!["i32".to_string()]);
        assert_eq!(a.skips, vec!["simd".to_string()]);
        assert!(a.exact);
    }
}
