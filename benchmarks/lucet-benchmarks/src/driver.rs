//! The sightglass run behind `lucet-bench`: compile each program with both compilers,
//! run it alternately under both runtimes, check its output, collect the times.

use crate::compile;
use crate::hooks::{Clock, Measurement};
use crate::lucet_side::LucetProgram;
use crate::report::{ProgramResult, SightglassRun};
use crate::sightglass::{self, Program};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The programs `--quick` runs: quick to compile and run, one or more from each group,
/// and reading an input file (bz2) as well as printing only.
pub const QUICK: &[&str] =
    &["noop/benchmark.wasm", "bz2/benchmark.wasm", "libsodium/libsodium-box2.wasm", "shootout/shootout-ackermann.wasm"];

#[derive(Debug, Clone)]
pub struct Options {
    pub sightglass_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// How many times each program runs on each side.
    pub iterations: Iterations,
    /// Only these programs (substrings of their names); empty means all.
    pub filters: Vec<String>,
    pub quick: bool,
    /// Run lucet only: no Wasmtime figures, no ratios.
    pub lucet_only: bool,
    /// Compile afresh even when the cache has an artifact, so compile times are from this run.
    pub recompile: bool,
    pub target_cpu: lucetc::TargetCpu,
    /// Which clock the figures (`lucet_runs`, `wasmtime_runs`) are read from.
    pub clock: crate::hooks::Clock,
    /// Print one line per program as it completes.
    pub verbose: bool,
}

/// How many iterations a program gets: at least `min`, and more while the program's
/// runs so far (both sides, whole runs: instantiation, output check and region) have
/// taken less than `budget`, up to `max`.
///
/// Why: a region's figure varies from run to run by an amount that does not shrink with
/// the region (the clock's own cost, a cache or TLB miss, an interrupt), so a region of
/// a few microseconds varies by tens of percent, and the median of seven such runs moves
/// by more than the differences the comparison looks for. The median's own scatter
/// shrinks as one over the square root of the count, so short programs get more runs.
/// Tying the extra runs to a time budget instead of to the region's length keeps the
/// cost of the whole suite bounded: a program whose runs already fill the budget with
/// `min` iterations (everything over a few tens of milliseconds) runs exactly `min`
/// times, as before. Both sides always get the same count, still alternating, since
/// the decision to run another pair is taken only after both sides of the last one ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Iterations {
    pub min: usize,
    pub max: usize,
    pub budget: Duration,
}

impl Iterations {
    /// Exactly `n` iterations, whatever they take.
    pub fn fixed(n: usize) -> Iterations {
        Iterations { min: n, max: n, budget: Duration::ZERO }
    }

    /// Whether to run another pair after `done` pairs that took `spent` in all.
    pub fn another(&self, done: usize, spent: Duration) -> bool {
        done < self.min || (done < self.max && spent < self.budget)
    }
}

#[cfg(feature = "wasmtime")]
use crate::wasmtime_side::{WasmtimeProgram, WasmtimeRunner};

/// Stand-ins when Wasmtime is not built: they cannot be constructed, so every use of
/// them is statically unreachable and the driver needs no feature checks of its own.
#[cfg(not(feature = "wasmtime"))]
enum WasmtimeRunner {}
#[cfg(not(feature = "wasmtime"))]
enum WasmtimeProgram {}

#[cfg(not(feature = "wasmtime"))]
impl WasmtimeRunner {
    fn new() -> Result<WasmtimeRunner, String> {
        Err("this build has no Wasmtime (the `wasmtime` feature is off); pass --lucet-only".to_owned())
    }
    fn precompile(&self, _: &[u8], _: &std::path::Path, _: bool) -> Result<compile::Artifact, compile::Error> {
        match *self {}
    }
    fn load(&self, _: &std::path::Path) -> Result<WasmtimeProgram, String> {
        match *self {}
    }
}

#[cfg(not(feature = "wasmtime"))]
impl WasmtimeProgram {
    fn run(&self, _: &str, _: &std::path::Path) -> Result<crate::RunOutput, String> {
        match *self {}
    }
}

/// The two sides of one program, loaded and ready to run.
struct Loaded {
    lucet: LucetProgram,
    wasmtime: Option<WasmtimeProgram>,
}

/// Runs the selected programs; a program that fails is reported in its result, never
/// aborting the rest.
pub fn run(opts: &Options) -> Result<SightglassRun, String> {
    let started = Instant::now();
    let (programs, missing) = sightglass::discover(&opts.sightglass_dir)?;
    let selected: Vec<Program> = programs
        .into_iter()
        .filter(|p| !opts.quick || QUICK.contains(&p.name.as_str()))
        .filter(|p| opts.filters.is_empty() || opts.filters.iter().any(|f| p.name.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        return Err("no sightglass program matches the selection".to_owned());
    }
    let mut excluded: Vec<(String, String)> = if opts.quick || !opts.filters.is_empty() {
        Vec::new()
    } else {
        missing.into_iter().map(|m| (m.name, m.reason)).collect()
    };

    let wasmtime = if opts.lucet_only { None } else { Some(WasmtimeRunner::new()?) };

    compile::prune_other_builds(&opts.cache_dir);
    let mut results = Vec::new();
    for (n, program) in selected.iter().enumerate() {
        let wasm = match std::fs::read(&program.wasm) {
            Ok(w) => w,
            Err(e) => {
                excluded.push((program.name.clone(), format!("cannot read the module: {e}")));
                continue;
            }
        };
        if let Some(why) = sightglass::missing_input(&program.name) {
            excluded.push((program.name.clone(), why.to_owned()));
            continue;
        }
        if let Err(why) = sightglass::check_runnable(&wasm) {
            excluded.push((program.name.clone(), why));
            continue;
        }
        let mut result = ProgramResult {
            name: program.name.clone(),
            group: program.group.name().to_owned(),
            lucet_runs: Vec::new(),
            wasmtime_runs: Vec::new(),
            lucet_samples: Vec::new(),
            wasmtime_samples: Vec::new(),
            lucet_compile: None,
            wasmtime_compile: None,
            failure: None,
            note: None,
            run_ratios: Vec::new(),
        };
        let loaded = (|| -> Result<Loaded, String> {
            let so =
                compile::lucetc(&wasm, &opts.cache_dir, opts.target_cpu, opts.recompile).map_err(|e| e.to_string())?;
            result.lucet_compile = Some(so.compile_time.as_secs_f64());
            let wasmtime = match &wasmtime {
                Some(w) => {
                    let cwasm = w.precompile(&wasm, &opts.cache_dir, opts.recompile).map_err(|e| e.to_string())?;
                    result.wasmtime_compile = Some(cwasm.compile_time.as_secs_f64());
                    Some(w.load(&cwasm.path)?)
                }
                None => None,
            };
            Ok(Loaded { lucet: LucetProgram::load(&so.path)?, wasmtime })
        })();
        match loaded {
            Ok(loaded) => measure(program, &loaded, opts.iterations, opts.clock, &mut result),
            Err(e) => result.failure = Some(e),
        }
        if opts.verbose {
            let med = |v: &[f64]| crate::report::median(v).map(crate::report::fmt_secs).unwrap_or_else(|| "—".into());
            let ratio = result.run_ratio().map(|r| format!("  ratio {r:.2}")).unwrap_or_default();
            let status = match &result.failure {
                Some(f) => format!("FAIL {f}"),
                None => "ok".to_owned(),
            };
            // How many runs of each side were preempted inside the timed region: with the
            // wall clock, those are the runs whose figure includes waiting for a CPU.
            let preempted = |s: &[Measurement]| s.iter().filter(|m| m.preemptions > 0).count();
            eprintln!(
                "[{}/{}] {}: lucet {} wasmtime {}{ratio}  {status} (preempted: lucet {}/{}, wasmtime {}/{})",
                n + 1,
                selected.len(),
                program.name,
                med(&result.lucet_runs),
                med(&result.wasmtime_runs),
                preempted(&result.lucet_samples),
                result.lucet_samples.len(),
                preempted(&result.wasmtime_samples),
                result.wasmtime_samples.len(),
            );
        }
        results.push(result);
    }
    Ok(SightglassRun {
        machine: crate::machine::Machine::detect().describe(),
        command: String::new(),
        settings: String::new(),
        iterations: opts.iterations.min,
        max_iterations: Some(opts.iterations.max),
        budget_seconds: Some(opts.iterations.budget.as_secs_f64()),
        clock: opts.clock,
        date: String::new(),
        wall_seconds: started.elapsed().as_secs_f64(),
        results,
        excluded,
        runs_combined: 1,
    })
}

/// Runs the program on each side, alternating, as many times as `iterations` says,
/// checking the output of every run; stops both sides at a side's first failure, so
/// that both keep the same count.
fn measure(program: &Program, loaded: &Loaded, iterations: Iterations, clock: Clock, result: &mut ProgramResult) {
    let scratch = match sightglass::scratch_copy(program) {
        Ok(s) => s,
        Err(e) => {
            result.failure = Some(e);
            return;
        }
    };
    let arg0 = program.wasm.file_name().and_then(|n| n.to_str()).unwrap_or("benchmark.wasm");
    // A correct run without `bench.end` is not a failure, only nothing to time.
    let check = |side: &str, out: Result<crate::RunOutput, String>| -> Result<Option<Measurement>, String> {
        let out = out.map_err(|e| format!("{side}: {e}"))?;
        program.check_output(&out).map_err(|e| format!("{side}: {e}"))?;
        Ok(out.measured)
    };
    let mut untimed = false;
    let mut failures = Vec::new();
    let (mut lucet_ok, mut wasmtime_ok) = (true, true);
    // The budget counts the runs only, not the compilation or the scratch copy.
    let started = Instant::now();
    let mut done = 0;
    while lucet_ok && wasmtime_ok && iterations.another(done, started.elapsed()) {
        done += 1;
        match check("lucet", loaded.lucet.run(arg0, scratch.path())) {
            Ok(Some(m)) => {
                result.lucet_runs.push(clock.of(&m));
                result.lucet_samples.push(m);
            }
            Ok(None) => untimed = true,
            Err(e) => {
                failures.push(e);
                lucet_ok = false;
            }
        }
        // Even after lucet failed, Wasmtime's run of the same iteration shows whether
        // the program fails there too.
        if let (Some(w), true) = (&loaded.wasmtime, wasmtime_ok) {
            match check("wasmtime", w.run(arg0, scratch.path())) {
                Ok(Some(m)) => {
                    result.wasmtime_runs.push(clock.of(&m));
                    result.wasmtime_samples.push(m);
                }
                Ok(None) => untimed = true,
                Err(e) => {
                    failures.push(e);
                    wasmtime_ok = false;
                }
            }
        }
        // A program without a timed region has nothing to gain from more runs.
        if untimed && done >= iterations.min {
            break;
        }
    }
    if !failures.is_empty() {
        result.failure = Some(failures.join("; "));
    }
    if untimed {
        result.note = Some(
            "prints its expected output but never calls `bench.start`/`bench.end`, so there is nothing to time"
                .to_owned(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Iterations;
    use std::time::Duration;

    #[test]
    fn short_programs_get_runs_until_the_budget_or_the_cap() {
        let it = Iterations { min: 7, max: 51, budget: Duration::from_secs(2) };
        // Never fewer than the minimum, however long the runs took.
        assert!(it.another(6, Duration::from_secs(100)));
        // Past the minimum, more only while the budget lasts...
        assert!(it.another(7, Duration::from_millis(1999)));
        assert!(!it.another(7, Duration::from_secs(2)));
        // ...and never past the cap.
        assert!(!it.another(51, Duration::ZERO));
    }

    #[test]
    fn a_fixed_count_is_exact() {
        let it = Iterations::fixed(3);
        assert!(it.another(2, Duration::from_secs(100)));
        assert!(!it.another(3, Duration::ZERO));
    }
}
