//! The sightglass harness's quick mode, lucet only: the programs compile, run, and
//! print exactly their expected output.

use lucet_benchmarks::driver::{self, Options};
use lucet_benchmarks::sightglass;

#[test]
fn quick_sightglass_programs_run_under_lucet() {
    let opts = Options {
        sightglass_dir: sightglass::default_root(),
        // Its own cache directory, so lucet-bench (another build) never prunes what a
        // concurrent test run is using.
        cache_dir: lucet_benchmarks::workspace_root().join("target/lucet-bench-smoke-cache"),
        iterations: 1,
        filters: Vec::new(),
        quick: true,
        lucet_only: true,
        recompile: false,
        target_cpu: lucetc::TargetCpu::Baseline,
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
