//! `lucet-spectest PATH...`: runs WebAssembly spec scripts through lucetc and
//! lucet-runtime and reports what passed.

use anyhow::{bail, Context};
use clap::Parser;
use lucet_spectest::{run_paths, write_file_report, ModuleCache, CACHE_ENV};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs `.wast` spec scripts: compiles each module with lucetc, runs it with
/// lucet-runtime, and checks every assertion. Prints a line per file, each failure as
/// `file:line:col`, and last `N passed, N failed`; exits non-zero if anything failed.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// `.wast` files, or directories searched recursively for them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,

    /// Print one JSON document (per-file counts and every failure) instead of text. [default: off]
    #[arg(long)]
    json: bool,

    /// Where compiled modules are cached [default: $LUCET_SPECTEST_CACHE, else
    /// target/lucet-spectest-cache in the workspace].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Show at most this many failures per file. [default: all of them]
    #[arg(long, value_name = "N")]
    max_failures: Option<usize>,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let args = Args::parse();
    let dir = args
        .cache_dir
        .clone()
        .unwrap_or_else(ModuleCache::default_dir);
    let cache =
        ModuleCache::new(&dir).with_context(|| format!("set --cache-dir or {CACHE_ENV}"))?;
    let stdout = std::io::stdout();
    let summary = run_paths(&args.paths, &cache, |report| {
        if !args.json {
            let mut out = stdout.lock();
            // A closed stdout (e.g. piped into `head`) must not abort the run.
            let _ = write_file_report(&mut out, report, args.max_failures);
            let _ = out.flush();
        }
    })
    .context("cannot list the scripts")?;
    if summary.files.is_empty() {
        bail!("no .wast files found in the given paths");
    }
    let mut out = stdout.lock();
    if args.json {
        writeln!(out, "{}", summary.to_json())?;
    } else {
        writeln!(out, "{}", summary.total_line())?;
    }
    Ok(summary.failed() == 0)
}
