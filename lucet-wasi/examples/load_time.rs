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

use anyhow::Context;
use lucet_runtime::DlModule;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let (flags, mut args): (Vec<String>, Vec<String>) = std::env::args().skip(1).partition(|a| a.starts_with("--"));
    let unresolved = flags.iter().any(|f| f == "--unresolved");
    args.reverse();
    let path = args.pop().context("usage: load_time MODULE.so [RUNS] [--unresolved]")?;
    let runs: usize = args.pop().map(|r| r.parse()).transpose()?.unwrap_or(21);
    lucet_wasi::export_wasi_funcs();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let module = if unresolved { DlModule::load_unresolved(&path)? } else { DlModule::load(&path)? };
        times.push(start.elapsed());
        drop(module);
    }
    let shown: Vec<String> = times.iter().map(|t| format!("{:.3}", t.as_secs_f64() * 1e3)).collect();
    println!("runs (ms): {}", shown.join(" "));
    times.sort();
    let ms = |i: usize| times[i].as_secs_f64() * 1e3;
    println!("DlModule::load {path}: median {:.3} ms, min {:.3} ms, max {:.3} ms ({runs} runs)", ms(runs / 2), ms(0), ms(runs - 1));
    Ok(())
}
