//! `lucet-fuzz`: runs a fuzz target over a range of seeds on stable Rust.
//!
//! ```text
//! cargo run --release -p lucet-fuzz -- diff --seeds 0..100000
//! cargo run --release -p lucet-fuzz -- diff --seeds 0..3000 --config bounds-checked
//! cargo run --release -p lucet-fuzz -- load --seeds 0..100000
//! ```
//!
//! The exit status is 1 when a run found a new failure. Each failure line names its
//! seed; `--seeds N` re-runs that one case.

use anyhow::Result;
use clap::{Parser, Subcommand};
use lucet_fuzz::diff::MemoryConfig;
use lucet_fuzz::runner::{self, SeedRange, Summary};
use lucet_fuzz::{compile, crash_report, diff, load, wasi};

#[derive(Parser)]
#[command(
    name = "lucet-fuzz",
    about = "Runs lucet's fuzz targets over a range of seeds"
)]
struct Cli {
    #[command(subcommand)]
    target: Target,
}

#[derive(clap::Args)]
struct Common {
    /// Seeds to run, `START..END` (end excluded) or a single seed.
    #[arg(long, default_value = "0..1000")]
    seeds: SeedRange,
    /// Worker threads (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Target {
    /// Generated modules through lucetc + lucet-runtime and the wasmi interpreter.
    Diff {
        #[command(flatten)]
        common: Common,
        /// Compile every case this way, instead of taking turns over the three.
        #[arg(long, value_enum)]
        config: Option<MemoryConfig>,
        /// Write each case's module to DIR/<seed>.wasm.
        #[arg(long, value_name = "DIR")]
        dump: Option<std::path::PathBuf>,
        /// Print every call and both engines' outcomes.
        #[arg(long)]
        trace: bool,
        /// Run this module (`.wasm` or `.wat`) instead of generated ones; each seed
        /// only draws the call arguments.
        #[arg(long, value_name = "FILE")]
        module: Option<std::path::PathBuf>,
    },
    /// Mutated and truncated shared objects through `DlModule::load`.
    Load {
        #[command(flatten)]
        common: Common,
    },
    /// WASI hostcalls with arbitrary arguments against a small memory.
    Wasi {
        #[command(flatten)]
        common: Common,
        /// Hostcalls to leave out (comma-separated names), e.g. while a known finding
        /// in one of them is open.
        #[arg(long, value_delimiter = ',')]
        skip: Vec<String>,
    },
    /// Arbitrary bytes and mutated modules through lucetc.
    Compile {
        #[command(flatten)]
        common: Common,
    },
}

fn finish(name: &str, common: &Common, jobs: usize, summary: Summary) -> Result<()> {
    print!("{}", summary.report(name, common.seeds, jobs));
    if !summary.failures.is_empty() {
        eprintln!(
            "{} new failure(s); re-run one with --seeds SEED",
            summary.failures.len()
        );
        std::process::exit(1);
    }
    Ok(())
}

fn jobs(common: &Common) -> usize {
    common
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.target {
        Target::Diff {
            common,
            config,
            dump,
            trace,
            module,
        } => {
            crash_report::install("diff");
            let n = jobs(&common);
            let new_worker = || {
                let mut w = diff::Worker::new();
                if let Some(dir) = &dump {
                    w = w.dumping_to(dir.clone());
                }
                if trace {
                    w = w.tracing();
                }
                w
            };
            let given = match &module {
                Some(path) => Some(wat::parse_file(path)?),
                None => None,
            };
            let summary = runner::run(common.seeds, n, !common.quiet, new_worker, |w, seed| {
                let config = config.unwrap_or_else(|| MemoryConfig::for_seed(seed));
                if let Some(wasm) = &given {
                    return diff::run_given_module(w, wasm, seed, config);
                }
                diff::run_case(w, seed, config)
            });
            finish("diff", &common, n, summary)
        }
        Target::Load { common } => {
            crash_report::install("load");
            let n = jobs(&common);
            let summary = runner::run(
                common.seeds,
                n,
                !common.quiet,
                load::Worker::new,
                load::run_case,
            );
            finish("load", &common, n, summary)
        }
        Target::Wasi { common, skip } => {
            crash_report::install("wasi");
            let n = jobs(&common);
            let summary = runner::run(
                common.seeds,
                n,
                !common.quiet,
                || wasi::Worker::new(&skip),
                wasi::run_case,
            );
            finish("wasi", &common, n, summary)
        }
        Target::Compile { common } => {
            crash_report::install("compile");
            let n = jobs(&common);
            let summary = runner::run(
                common.seeds,
                n,
                !common.quiet,
                compile::Worker::new,
                compile::run_case,
            );
            finish("compile", &common, n, summary)
        }
    }
}
