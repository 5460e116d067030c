//! Times `DlModule::load` of one compiled WASI module, for docs/benchmarks.md.
//!
//! `cargo run --release -p lucet-wasi --example load_time -- MODULE.so [RUNS] [--unresolved]`
//!
//! `--unresolved` loads with `DlModule::load_unresolved`, for modules that import more than
//! WASI (the sightglass programs' `bench.start`, say).
//!
//! Each run loads the module and drops it, so the next one loads it afresh (`dlopen`
//! after `dlclose`); the file stays in the page cache, as for a program started again.
//! Prints every time, then the median and the spread.
//!
//! Built with `--features load-phases`, it also prints the median of each phase of the
//! load and of the load-time checks' share (`lucet_runtime::load_phases`).
//!
//! What the checks add to a load is measured against a second build of this example
//! that skips them, alternating the two (docs/benchmarks.md):
//!
//! ```sh
//! LUCET_UNSAFE_SKIP_LOAD_CHECKS=measurement-only cargo build --release -p lucet-wasi \
//!     --features load-phases,unsafe-skip-load-checks --example load_time
//! ```
//!
//! That build loads files without checking them (their constructors run, their pointers
//! are believed): it is for measuring trusted files only, and lucet-runtime refuses the
//! feature in any other build.

use anyhow::Context;
use lucet_runtime::DlModule;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let (flags, mut args): (Vec<String>, Vec<String>) = std::env::args().skip(1).partition(|a| a.starts_with("--"));
    let unresolved = flags.iter().any(|f| f == "--unresolved");
    args.reverse();
    let path = args.pop().context("usage: load_time MODULE.so [RUNS] [--unresolved]")?;
    let runs: usize = args.pop().map(|r| r.parse()).transpose()?.unwrap_or(21);
    anyhow::ensure!(runs > 0, "RUNS must be at least 1");
    lucet_wasi::export_wasi_funcs();
    let mut times = Vec::with_capacity(runs);
    // Every load's phases in one list, with room for all of them made before the first
    // load: a list kept for each load would leave blocks in the heap between one load's
    // allocations and the next's, more of them for a build with more phases.
    let mut phases: Vec<(usize, lucet_runtime::LoadPhase)> = Vec::with_capacity(runs * 16);
    for run in 0..runs {
        let start = Instant::now();
        let module = if unresolved { DlModule::load_unresolved(&path)? } else { DlModule::load(&path)? };
        times.push(start.elapsed());
        let these = lucet_runtime::load_phases();
        phases.extend(these.iter().map(|&p| (run, p)));
        drop(these);
        drop(module);
        settle_heap();
    }
    let mut by_load = vec![Vec::new(); runs];
    for (run, phase) in phases {
        by_load[run].push(phase);
    }
    let phases = by_load;
    let shown: Vec<String> = times.iter().map(|t| format!("{:.3}", t.as_secs_f64() * 1e3)).collect();
    println!("runs (ms): {}", shown.join(" "));
    times.sort();
    let ms = |i: usize| times[i].as_secs_f64() * 1e3;
    println!("DlModule::load {path}: median {:.4} ms, min {:.4} ms, max {:.4} ms ({runs} runs)", ms(runs / 2), ms(0), ms(runs - 1));
    if phases.iter().any(|p| !p.is_empty()) {
        print_phases(&phases);
    }
    Ok(())
}

/// Dropping a module frees many small blocks (names, vectors), which glibc's malloc
/// gathers up only on the next large request; without this, that request (a different
/// one from build to build) would pay for the previous drop inside the next load. One
/// large allocation here, outside the timed load, makes malloc gather them now.
fn settle_heap() {
    let block: Vec<u8> = Vec::with_capacity(64 << 10);
    std::hint::black_box(&block);
}

/// The median of each phase over the loads, of all of them, of the checks, and of the
/// checks' share of each load.
fn print_phases(loads: &[Vec<lucet_runtime::LoadPhase>]) {
    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let sum = |p: &[lucet_runtime::LoadPhase], checks_only: bool| {
        p.iter().filter(|p| p.check || !checks_only).map(|p| us(p.time)).sum::<f64>()
    };
    let mut names: Vec<(&str, bool)> = Vec::new();
    for p in loads.iter().flatten() {
        if !names.iter().any(|n| n.0 == p.name) {
            names.push((p.name, p.check));
        }
    }
    for (name, check) in names {
        let times = loads.iter().map(|l| l.iter().filter(|p| p.name == name).map(|p| us(p.time)).sum()).collect();
        println!("  {:<28} {:>9.1} us{}", name, median(times), if check { "  (check)" } else { "" });
    }
    let all = median(loads.iter().map(|l| sum(l, false)).collect());
    if !loads.iter().flatten().any(|p| p.check) {
        println!("  all phases {all:.1} us, no checks (medians)");
        return;
    }
    let checks = median(loads.iter().map(|l| sum(l, true)).collect());
    let share = median(loads.iter().map(|l| 100.0 * sum(l, true) / sum(l, false)).collect());
    println!("  all phases {all:.1} us, checks {checks:.1} us, checks' share {share:.1} % (medians)");
}
