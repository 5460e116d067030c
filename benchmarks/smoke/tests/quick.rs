//! The sightglass harness's quick mode, lucet only: the programs compile, run, and
//! print exactly their expected output.

use lucet_benchmarks::driver::{self, Options};
use lucet_benchmarks::sightglass;

/// Without the corpus: a note and a pass, or a failure when CI is set, as the other
/// corpus suites do.
fn corpus_present(dir: &std::path::Path) -> bool {
    use std::io::Write;
    if dir.is_dir() {
        return true;
    }
    let what = format!("sightglass: the corpus is not at {} (put ../shared beside the workspace)", dir.display());
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"));
    assert!(!ci, "{what}; CI is set, so a missing corpus is a failure");
    // Straight to stderr: the test harness captures `eprintln!`.
    let _ = writeln!(std::io::stderr(), "note: {what}; skipped");
    false
}

#[test]
fn quick_sightglass_programs_run_under_lucet() {
    if !corpus_present(&sightglass::default_root()) {
        return;
    }
    let opts = Options {
        sightglass_dir: sightglass::default_root(),
        // Its own cache directory, so lucet-bench (another build) never prunes what a
        // concurrent test run is using.
        cache_dir: lucet_benchmarks::workspace_root().join("target/lucet-bench-smoke-cache"),
        iterations: driver::Iterations::fixed(1),
        filters: Vec::new(),
        quick: true,
        lucet_only: true,
        recompile: false,
        target_cpu: lucetc::TargetCpu::Baseline,
        clock: lucet_benchmarks::hooks::Clock::ThreadCpu,
        verbose: false,
    };
    let run = driver::run(&opts).expect("the sightglass corpus is readable");
    assert_eq!(run.results.len(), driver::QUICK.len(), "every quick program was attempted: {:?}", run.excluded);
    for r in &run.results {
        assert!(r.failure.is_none(), "{}: {}", r.name, r.failure.as_deref().unwrap_or_default());
        assert_eq!(r.lucet_runs.len(), 1, "{} was timed once", r.name);
        assert!(r.wasmtime_runs.is_empty());
    }
}
