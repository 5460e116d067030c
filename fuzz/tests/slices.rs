//! A short, fixed slice of each fuzz target, run by `cargo test`.
//!
//! The seeds are fixed, so these are ordinary regression tests: they fail when a
//! change breaks a case that passed. Long runs over new seeds are done with the
//! `lucet-fuzz` program (see docs/security.md). Failures that match a finding still
//! open on this branch (`lucet_fuzz::known`) are counted apart and do not fail.

use lucet_fuzz::diff::{self, MemoryConfig};
use lucet_fuzz::runner::{self, SeedRange, Summary};
use lucet_fuzz::{compile, wasi};

fn check(target: &str, seeds: SeedRange, summary: Summary) {
    eprint!("{}", summary.report(target, seeds, 1));
    assert!(
        summary.failures.is_empty(),
        "{target}: {} new failure(s); the first: seed {} {}",
        summary.failures.len(),
        summary.failures[0].0,
        summary.failures[0].1
    );
}

fn diff_slice(config: MemoryConfig, seeds: SeedRange) {
    let summary = runner::run(seeds, 1, false, diff::Worker::new, |w, seed| {
        diff::run_case(w, seed, config)
    });
    assert!(
        summary.passed.values().sum::<u64>() > seeds.len() / 2,
        "most diff cases should run to the end"
    );
    check("diff", seeds, summary);
}

#[test]
fn diff_default() {
    diff_slice(MemoryConfig::Default, SeedRange { start: 0, end: 500 });
}

#[test]
fn diff_bounds_checked() {
    diff_slice(
        MemoryConfig::BoundsChecked,
        SeedRange { start: 0, end: 500 },
    );
}

#[test]
fn diff_bounds_checked_guard() {
    diff_slice(
        MemoryConfig::BoundsCheckedGuard,
        SeedRange { start: 0, end: 500 },
    );
}

#[test]
fn compile_slice() {
    let seeds = SeedRange {
        start: 0,
        end: 1500,
    };
    check(
        "compile",
        seeds,
        runner::run(seeds, 1, false, compile::Worker::new, compile::run_case),
    );
}

/// Hostcalls left out of the slice while a finding in them is open on this branch:
/// `poll_oneoff` sizes an allocation by the guest's subscription count before checking
/// it against memory (issue 12, finding 2), which aborts the process. Empty this list
/// when the fix lands; `wasi_poll_oneoff` below covers it meanwhile.
const OPEN_WASI_FINDINGS: &[&str] = &[];

#[test]
fn wasi_slice() {
    let skip: Vec<String> = OPEN_WASI_FINDINGS.iter().map(|s| s.to_string()).collect();
    let seeds = SeedRange {
        start: 0,
        end: 2000,
    };
    check(
        "wasi",
        seeds,
        runner::run(seeds, 1, false, || wasi::Worker::new(&skip), wasi::run_case),
    );
}

#[test]
fn wasi_poll_oneoff() {
    let seeds = SeedRange {
        start: 0,
        end: 2000,
    };
    let only_poll = |w: &mut wasi::Worker, seed: u64| wasi::run_case(w, seed);
    let worker = || {
        let all = wasi::Worker::new(&[]);
        let others: Vec<String> = all
            .names()
            .into_iter()
            .filter(|n| !n.ends_with(".poll_oneoff"))
            .map(|n| n.split('.').nth(1).unwrap_or("").to_string())
            .collect();
        wasi::Worker::new(&others)
    };
    check(
        "wasi poll_oneoff",
        seeds,
        runner::run(seeds, 1, false, worker, only_poll),
    );
}
