//! `lucet-bench`: the sightglass programs under lucet and Wasmtime, side by side.
//!
//! Writes the `sightglass` section of `docs/benchmarks.md`, the SVG chart it embeds,
//! and the raw figures as JSON (`target/lucet-bench/sightglass.json`).

use anyhow::{bail, Context};
use clap::Parser;
use lucet_benchmarks::driver::{self, Options};
use lucet_benchmarks::hooks::Clock;
use lucet_benchmarks::report::{self, SightglassRun};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "lucet-bench",
    about = "Runs the sightglass benchmark programs under lucet and Wasmtime and reports the ratios",
    after_help = "The full run documented in docs/benchmarks.md:\n  \
                  cargo run --release -p lucet-benchmarks --bin lucet-bench -- --recompile --iterations 5 --write-doc\n\
                  Against Wasmtime 49 (a workspace of its own, see its Cargo.toml):\n  \
                  cargo run --release --ignore-rust-version --manifest-path benchmarks/wasmtime49/Cargo.toml \\\n      \
                  --bin lucet-bench -- --recompile --iterations 5 --write-doc"
)]
struct Cli {
    /// A few small programs, one iteration: a smoke test, not a measurement. [default: off]
    #[arg(long)]
    quick: bool,

    /// Run lucet only (no Wasmtime figures); works in builds without the `wasmtime` feature. [default: off]
    #[arg(long)]
    lucet_only: bool,

    /// The fewest runs of each program on each runtime (alternating); medians are reported.
    /// [default: 5, 1 with --quick]
    #[arg(long, value_name = "N")]
    iterations: Option<usize>,

    /// Programs whose runs are short get more runs, up to this many, while their runs (both sides) have
    /// taken less than --budget seconds; a program never gets fewer than --iterations. [default: 51]
    #[arg(long, value_name = "N")]
    max_iterations: Option<usize>,

    /// The time a program's runs (both sides together) may take before it stops getting runs beyond
    /// --iterations; 0 runs exactly --iterations. [default: 2, 0 with --quick]
    #[arg(long, value_name = "SECONDS")]
    budget: Option<f64>,

    /// Compile again even if the cache has the artifact, so compile times come from this run. [default: off]
    #[arg(long)]
    recompile: bool,

    /// lucetc target: `native` (the host's CPU features, as Wasmtime uses by default) or `baseline`.
    #[arg(long, value_name = "CPU", default_value = "native")]
    target_cpu: lucetc::TargetCpu,

    /// What the figures measure between `bench.start` and `bench.end`: `thread-cpu` (the running thread's
    /// CPU time, which time spent waiting for a CPU while other processes run does not inflate) or `wall`.
    #[arg(long, value_name = "CLOCK", value_enum, default_value_t = Clock::ThreadCpu)]
    clock: Clock,

    /// The sightglass corpus. [default: ../shared/corpora/sightglass beside the workspace]
    #[arg(long, value_name = "DIR")]
    sightglass_dir: Option<PathBuf>,

    /// Where compiled modules are cached. [default: target/lucet-bench-cache]
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Replace the sightglass section of docs/benchmarks.md and its SVG chart. [default: off]
    #[arg(long)]
    write_doc: bool,

    /// Do not run anything: rebuild the document from the JSON file of an earlier run, or
    /// from the files of several whole runs, whose per-run figures it takes the medians of.
    /// [default: none]
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["quick", "lucet_only", "recompile", "clock", "max_iterations", "budget"])]
    from_json: Option<Vec<PathBuf>>,

    /// Only programs whose name contains one of these strings (e.g. shootout, libsodium/libsodium-box).
    /// [default: all programs]
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
}

const SVG_NAME: &str = "benchmarks-sightglass.svg";

/// How long a program's runs may take before it stops getting runs beyond `--iterations`:
/// a run of a program whose region takes a few microseconds, instantiation and output
/// check included, takes a few milliseconds, so two seconds give every program whose
/// region is shorter than about 10 ms the full `DEFAULT_MAX_ITERATIONS`, and a program
/// whose region takes 0.1 s or more exactly `--iterations`.
const DEFAULT_BUDGET_SECONDS: f64 = 2.0;
/// The cap on a program's runs; an odd count, so that the median is one of the runs.
const DEFAULT_MAX_ITERATIONS: usize = 51;

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lucet-bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let root = lucet_benchmarks::workspace_root();
    let out_dir = root.join("target/lucet-bench");
    let run: SightglassRun = match &cli.from_json {
        Some(paths) => {
            let mut runs = Vec::with_capacity(paths.len());
            for path in paths {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                let run: SightglassRun = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not the JSON lucet-bench writes", path.display()))?;
                runs.push(run);
            }
            match runs.len() {
                1 => runs.remove(0),
                _ => lucet_benchmarks::combine::combine(&runs).map_err(anyhow::Error::msg)?,
            }
        }
        None => {
            let iterations = cli.iterations.unwrap_or(if cli.quick { 1 } else { 5 });
            if iterations == 0 {
                bail!("--iterations must be at least 1");
            }
            let budget = cli.budget.unwrap_or(if cli.quick { 0.0 } else { DEFAULT_BUDGET_SECONDS });
            if !(budget.is_finite() && budget >= 0.0) {
                bail!("--budget must be a number of seconds, 0 or more (0 runs exactly --iterations)");
            }
            let max = cli.max_iterations.unwrap_or(DEFAULT_MAX_ITERATIONS).max(iterations);
            let iterations =
                driver::Iterations { min: iterations, max, budget: std::time::Duration::from_secs_f64(budget) };
            let opts = Options {
                sightglass_dir: cli.sightglass_dir.clone().unwrap_or_else(lucet_benchmarks::sightglass::default_root),
                cache_dir: cli.cache_dir.clone().unwrap_or_else(|| root.join("target/lucet-bench-cache")),
                iterations,
                filters: cli.filters.clone(),
                quick: cli.quick,
                lucet_only: cli.lucet_only,
                recompile: cli.recompile,
                target_cpu: cli.target_cpu,
                clock: cli.clock,
                verbose: true,
            };
            let mut run = driver::run(&opts).map_err(anyhow::Error::msg)?;
            run.command = reproduce_command(&cli);
            run.settings = settings(&cli);
            run.date = utc_now();
            std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
            let json = out_dir.join(if cli.quick { "sightglass-quick.json" } else { "sightglass.json" });
            std::fs::write(&json, serde_json::to_string_pretty(&run)?)
                .with_context(|| format!("cannot write {}", json.display()))?;
            eprintln!("raw figures written to {}", json.display());
            run
        }
    };

    print_summary(&run);
    if cli.write_doc && cli.from_json.is_none() && cfg!(debug_assertions) {
        bail!(
            "--write-doc needs a build without debug assertions, or the figures would not compare like with \
             like; run with --release (the raw figures are in {})",
            out_dir.display()
        );
    }
    if cli.write_doc {
        let doc_path = root.join("docs/benchmarks.md");
        let doc = std::fs::read_to_string(&doc_path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
        let doc = report::replace_section(&doc, "sightglass", &report::sightglass_markdown(&run, SVG_NAME));
        std::fs::write(&doc_path, doc).with_context(|| format!("cannot write {}", doc_path.display()))?;
        let svg_path = root.join("docs").join(SVG_NAME);
        std::fs::write(&svg_path, report::ratio_chart_svg(&run))
            .with_context(|| format!("cannot write {}", svg_path.display()))?;
        eprintln!("updated {} and {}", doc_path.display(), svg_path.display());
    }
    let failed = run.results.iter().filter(|r| r.failure.is_some()).count();
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn print_summary(run: &SightglassRun) {
    let ran = run.results.iter().filter(|r| r.failure.is_none()).count();
    let failed = run.results.len() - ran;
    println!("{ran} programs ran, {failed} failed, {} not benchmarked", run.excluded.len());
    for r in run.results.iter().filter(|r| r.failure.is_some()) {
        println!("  FAIL {}: {}", r.name, r.failure.as_deref().unwrap_or_default());
    }
    for report::GroupSummary { label, programs: n, run_geomean: run_g, compile_geomean: comp_g, slowest: worst } in
        report::group_summary(run)
    {
        if n == 0 {
            continue;
        }
        let f = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "—".into());
        let worst = worst.map(|(x, n)| format!("{n} {x:.2}")).unwrap_or_default();
        println!("  {label:10} {n:3} programs  run ratio {}  compile ratio {}  slowest {worst}", f(run_g), f(comp_g));
    }
}

fn reproduce_command(cli: &Cli) -> String {
    let mut cmd = String::from(lucet_benchmarks::BENCH_COMMAND);
    if cli.quick {
        cmd.push_str(" --quick");
    }
    if cli.lucet_only {
        cmd.push_str(" --lucet-only");
    }
    if cli.recompile {
        cmd.push_str(" --recompile");
    }
    if let Some(n) = cli.iterations {
        cmd.push_str(&format!(" --iterations {n}"));
    }
    if let Some(n) = cli.max_iterations {
        cmd.push_str(&format!(" --max-iterations {n}"));
    }
    if let Some(b) = cli.budget {
        cmd.push_str(&format!(" --budget {b}"));
    }
    if cli.target_cpu != lucetc::TargetCpu::Native {
        cmd.push_str(" --target-cpu baseline");
    }
    if cli.clock != Clock::ThreadCpu {
        cmd.push_str(" --clock wall");
    }
    cmd.push_str(" --write-doc");
    for f in &cli.filters {
        cmd.push_str(&format!(" {f}"));
    }
    cmd
}

fn settings(cli: &Cli) -> String {
    let profile = if cfg!(debug_assertions) {
        "the workspace's dev profile (dependencies, lucetc, lucet-runtime and lucet-wasi at opt-level 2, \
         debug assertions on)"
    } else {
        "the release profile (opt-level 3, no debug assertions), Wasmtime included"
    };
    let wasmtime = lucet_benchmarks::WASMTIME_VERSION;
    let cpu = match cli.target_cpu {
        lucetc::TargetCpu::Native => "`--target-cpu native` (the host's CPU features)",
        lucetc::TargetCpu::Baseline => "`--target-cpu baseline` (x86-64-v2)",
    };
    // Without `--recompile` a run reuses the cache that the first run of this build filled.
    let when = if cli.recompile {
        "measured in the same run"
    } else {
        "measured when this build of lucet-bench first compiled each program (the cache is keyed on the \
         build, so a new build compiles everything afresh; `--recompile` measures them in the run itself)"
    };
    format!(
        "lucetc with opt level `speed`, {cpu}, 4 GiB reservation + 2 GiB guard (no bounds checks), \
         `lucet_runtime::Limits::default()`, lucet-wasi; Wasmtime {wasmtime} with `Engine::default()` \
         (Cranelift, `speed`, the host's CPU features, on-demand allocator), modules precompiled with \
         `Engine::precompile_module`, wasmtime-wasi preview1 (sync). Both runtimes give the guest the \
         same seeded `random_get` bytes and the same stepping realtime clock (from 2024-01-01, 1 ms per \
         reading), both started afresh for every run, so programs that draw their input sizes at random \
         (libsodium's `box_easy2`, `secretbox_easy2`, ...; libsodium mixes the time into its generator) \
         do identical work on both sides; the monotonic clock and the timing are the host's. \
         Both in one process, built with {profile}; \
         compile times are wall times on this machine, both compilers using all cores, {when}."
    )
}

/// The current UTC date and time, without a date library.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (proleptic Gregorian), valid for any date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}
