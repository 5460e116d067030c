//! A fixed slice of the load target, in its own test binary: each case forks, and a
//! process with nothing else running is the safe place to fork from.

use lucet_fuzz::load;
use lucet_fuzz::runner::{self, SeedRange};

#[test]
fn load_slice() {
    let seeds = SeedRange {
        start: 0,
        end: 1000,
    };
    let summary = runner::run(seeds, 2, false, load::Worker::new, load::run_case);
    eprint!("{}", summary.report("load", seeds, 2));
    assert!(summary.passed.get("refused").copied().unwrap_or(0) > 0);
    assert!(
        summary.failures.is_empty(),
        "load: {} new failure(s); the first: seed {} {}",
        summary.failures.len(),
        summary.failures[0].0,
        summary.failures[0].1
    );
}
