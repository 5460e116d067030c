//! `bench-report`: turns the criterion results of `benches/runtime.rs` into the ratio
//! table of `docs/benchmarks.md` (its `micro` section).
//!
//! Each criterion group holds `lucet…` and `wasmtime…` functions; every lucet function
//! is compared with the group's Wasmtime reference (the typed call where there is one).

use anyhow::{bail, Context};
use clap::Parser;
use lucet_benchmarks::report::{fmt_secs, replace_section};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(name = "bench-report", about = "Writes the lucet/Wasmtime ratio table from criterion's results")]
struct Cli {
    /// criterion's output directory of one run; give it once per run (at least 5 for the
    /// document). [default: every subdirectory of `<target>/criterion-runs`, where a run
    /// made with `CRITERION_HOME=<target>/criterion-runs/<n>` leaves its results; without
    /// any, `<target>/criterion`]
    #[arg(long, value_name = "DIR")]
    criterion_dir: Vec<PathBuf>,

    /// Replace the `micro` section of docs/benchmarks.md (otherwise print it). [default: off]
    #[arg(long)]
    write_doc: bool,
}

/// What the issue asks of each operation, as a ratio lucet / Wasmtime (or an absolute bound).
fn target(group: &str) -> Option<f64> {
    match group {
        "instantiate_call_drop" => Some(0.5),
        "call_empty" | "call_add" | "trap_roundtrip" => Some(1.0),
        g if g.starts_with("hostcall") => Some(1.0),
        _ => None,
    }
}

/// The number in a group name such as `reset_16_dirty_pages`, for ordering.
fn number_in(name: &str) -> u32 {
    name.chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

/// Mean time per iteration in seconds, from criterion's `new/estimates.json`.
fn estimate(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    // A linear-sampling fit ("slope") is criterion's own headline figure when present.
    let ns = v
        .get("slope")
        .and_then(|s| s.get("point_estimate"))
        .and_then(|x| x.as_f64())
        .or_else(|| v.get("mean")?.get("point_estimate")?.as_f64())?;
    Some(ns * 1e-9)
}

/// How many operations one iteration of a group repeats: the `<n>` of a name ending in
/// `_x<n>` (`hostcall_x1000`, `eh_throw_local_x100`), else 1.
fn per_call_divisor(group: &str) -> f64 {
    group.rsplit_once("_x").and_then(|(_, n)| n.parse().ok()).unwrap_or(1.0)
}

/// The group name without its `_x<n>` repetition suffix.
fn base_name(group: &str) -> &str {
    match group.rsplit_once("_x") {
        Some((base, n)) if n.parse::<u32>().is_ok() => base,
        _ => group,
    }
}

/// What one repetition of a group is, for the table's label.
fn unit(group: &str) -> &'static str {
    if group.starts_with("eh_throw") {
        "per throw"
    } else {
        "per call"
    }
}

/// The run directories under `dir`, in name order, or nothing when there are none.
fn run_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Runs with fewer repetitions than this are printed, never written into the document.
const MIN_RUNS_FOR_DOC: usize = 5;

/// The criterion estimates of one run: group -> function -> seconds per iteration.
type Run = BTreeMap<String, BTreeMap<String, f64>>;

fn read_run(dir: &Path) -> anyhow::Result<Run> {
    let mut groups: Run = BTreeMap::new();
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "no criterion results in {}; run `cargo bench -p lucet-benchmarks --bench runtime` first",
            dir.display()
        )
    })?;
    for g in entries.flatten().filter(|e| e.path().is_dir()) {
        let name = g.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(g.path())?.flatten() {
            if let Some(t) = estimate(&f.path()) {
                groups.entry(name.clone()).or_default().insert(f.file_name().to_string_lossy().into_owned(), t);
            }
        }
    }
    if groups.is_empty() {
        bail!(
            "no criterion estimates under {}; run `cargo bench -p lucet-benchmarks --bench runtime` first",
            dir.display()
        );
    }
    Ok(groups)
}

/// Whether the run in `dir` was built without debug assertions (`benches/runtime.rs`
/// records it); `None` if it did not say.
fn built_for_release(dir: &Path) -> Option<bool> {
    build_record(dir)?.get("debug_assertions")?.as_bool().map(|d| !d)
}

/// The one-minute load average the run in `dir` started with, if it recorded one.
fn load_average(dir: &Path) -> Option<f64> {
    build_record(dir)?.get("load_average")?.as_f64()
}

fn build_record(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("build-profile.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Median and range of some figures.
#[derive(Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut xs: Vec<f64>) -> Option<Spread> {
        if xs.is_empty() {
            return None;
        }
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let median = if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 };
        Some(Spread { median, min: xs[0], max: xs[n - 1] })
    }

    /// The spread as ± percent of the median (half the range).
    fn pct(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / 2.0 / self.median * 100.0
        } else {
            0.0
        }
    }
}

/// The group of `run` whose name without its `_x<n>` suffix is `base`.
fn group_named<'a>(run: &'a Run, base: &str) -> Option<(&'a str, &'a BTreeMap<String, f64>)> {
    run.iter().find(|(g, _)| base_name(g) == base).map(|(g, fs)| (g.as_str(), fs))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = lucet_benchmarks::workspace_root();
    let dirs = if !cli.criterion_dir.is_empty() {
        cli.criterion_dir.clone()
    } else {
        let runs = run_dirs(&lucet_benchmarks::criterion_runs_dir());
        if runs.is_empty() {
            vec![lucet_benchmarks::criterion_dir()]
        } else {
            runs
        }
    };
    let runs: Vec<Run> = dirs.iter().map(|d| read_run(d)).collect::<anyhow::Result<_>>()?;
    if cli.write_doc {
        if runs.len() < MIN_RUNS_FOR_DOC {
            bail!(
                "{} run(s) given; the document carries medians of at least {MIN_RUNS_FOR_DOC} runs \
                 (give --criterion-dir once per run)",
                runs.len()
            );
        }
        for d in &dirs {
            if built_for_release(d) != Some(true) {
                bail!(
                    "the run in {} was not recorded as built without debug assertions; the document carries \
                     only release figures (run `cargo bench -p lucet-benchmarks --bench runtime`)",
                    d.display()
                );
            }
        }
    }
    // Every (group, function) with its figure in each run that has it.
    let mut groups: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for run in &runs {
        for (g, funcs) in run {
            for (f, t) in funcs {
                groups.entry(g.clone()).or_default().entry(f.clone()).or_default().push(*t);
            }
        }
    }
    let dir = dirs[0].clone();
    // Groups in the order of the benches file; unknown ones after.
    let order = [
        "instantiate_call_drop",
        "call_empty",
        "call_add",
        "hostcall",
        "trap_roundtrip",
        "kill",
        "reset",
        "eh_throw_local",
        "eh_throw_10_frames",
        "eh_call_plain",
        "eh_call_try_table",
    ];
    let rank = |g: &str| order.iter().position(|o| g.starts_with(o)).unwrap_or(order.len());
    let mut names: Vec<&String> = groups.keys().collect();
    names.sort_by_key(|g| (rank(g), number_in(g)));
    let mut md = String::new();
    let machine = lucet_benchmarks::machine::Machine::detect();
    let loads: Vec<f64> = dirs.iter().filter_map(|d| load_average(d)).collect();
    let load = Spread::of(loads.clone())
        .map(|l| {
            format!(
                "; one-minute load average at the start of the {} runs: {:.1}–{:.1} (median {:.1})",
                loads.len(),
                l.min,
                l.max,
                l.median
            )
        })
        .unwrap_or_default();
    let _ = writeln!(md, "Machine: {}{load}.\n", machine.describe());
    let _ = writeln!(
        md,
        "Built with the `bench` profile (release, no debug assertions) on both sides. Each figure is the \
         median of {} runs (criterion's estimate per run), with the spread (half the range) in percent.\n",
        runs.len()
    );
    let _ = writeln!(
        md,
        "Reproduce with (each run leaves its results in a directory of its own, which the report \
         reads):\n\n```sh\nfor i in 1 2 3 4 5; do\n  \
         CRITERION_HOME=${{CARGO_TARGET_DIR:-$PWD/target}}/criterion-runs/$i \\\n    \
         cargo bench -p lucet-benchmarks --bench runtime\ndone\n\
         cargo run --release -p lucet-benchmarks --bin bench-report -- --write-doc\n```\n"
    );
    let _ = writeln!(md, "| operation | lucet | Wasmtime | lucet | Wasmtime | ratio | target |");
    let _ = writeln!(md, "|---|---|---|---:|---:|---:|---|");
    let fmt = |s: &Spread, div: f64| format!("{} ±{:.0}%", fmt_secs(s.median / div), s.pct());
    for g in names {
        let funcs = &groups[g];
        let reference = ["wasmtime_typed", "wasmtime", "wasmtime_epoch"].iter().find(|r| funcs.contains_key(**r));
        let div = per_call_divisor(g);
        let label = if div > 1.0 { format!("{} ({})", base_name(g), unit(g)) } else { g.clone() };
        for (f, ts) in funcs.iter().filter(|(f, _)| f.starts_with("lucet")) {
            let Some(t) = Spread::of(ts.clone()) else { continue };
            // `run()` is untyped: its counterpart is Wasmtime's `Func::call`.
            let untyped = f == "lucet_run" && funcs.contains_key("wasmtime_untyped");
            // A trap and the reset that restores the instance, against a trap in a fresh
            // Wasmtime instance from its pool.
            let fresh = f == "lucet_reset" && funcs.contains_key("wasmtime_fresh");
            let reference = if untyped {
                Some(&"wasmtime_untyped")
            } else if fresh {
                Some(&"wasmtime_fresh")
            } else {
                reference
            };
            // `run()` has its own bound against `Func::call`; where the group has no
            // untyped Wasmtime call it is shown against the typed one, for scale only.
            let bound = match (f.as_str(), untyped) {
                (_, true) => Some(1.5),
                ("lucet_run", false) => None,
                _ => target(g),
            };
            let w = reference.and_then(|r| Spread::of(funcs[*r].clone()));
            // The ratio of each run, where both sides were measured in it.
            let ratios: Vec<f64> = runs
                .iter()
                .filter_map(|run| {
                    let fs = run.get(g)?;
                    Some(fs.get(f)? / fs.get(*reference?)?)
                })
                .collect();
            let ratio = Spread::of(ratios);
            let ratio_text =
                ratio.map(|r| format!("{:.2} ({:.2}–{:.2})", r.median, r.min, r.max)).unwrap_or_else(|| "—".into());
            let goal = match (bound, ratio) {
                (Some(bound), Some(r)) => {
                    if r.median <= bound {
                        format!("≤ {bound:.1} met")
                    } else {
                        format!("≤ {bound:.1} **missed**, {:.1}× the target", r.median / bound)
                    }
                }
                _ => String::new(),
            };
            let _ = writeln!(
                md,
                "| {label} | `{f}` | `{}` | {} | {} | {ratio_text} | {goal} |",
                reference.copied().unwrap_or("—"),
                fmt(&t, div),
                w.map(|w| fmt(&w, div)).unwrap_or_else(|| "—".into()),
            );
        }
        // Other Wasmtime variants, for context.
        let shown = |f: &str| {
            Some(&f) == reference
                || (f == "wasmtime_untyped" && funcs.contains_key("lucet_run"))
                || (f == "wasmtime_fresh" && funcs.contains_key("lucet_reset"))
        };
        for (f, ts) in funcs.iter().filter(|(f, _)| f.starts_with("wasmtime") && !shown(f)) {
            if let Some(t) = Spread::of(ts.clone()) {
                let _ = writeln!(md, "| {label} | | `{f}` | | {} | | |", fmt(&t, div));
            }
        }
    }
    let reset = |n: u32| {
        groups.get(&format!("reset_{n}_dirty_pages")).and_then(|f| f.get("lucet")).and_then(|t| Spread::of(t.clone()))
    };
    if let (Some(r0), Some(r256)) = (reset(0), reset(256)) {
        let (r0, r256) = (r0.median, r256.median);
        let per_page = (r256 - r0) / 256.0;
        let _ = writeln!(
            md,
            "\nlucet reset cost per dirty page: ({} − {}) / 256 = **{}** (target ≤ 0.5 µs: {}).",
            fmt_secs(r256),
            fmt_secs(r0),
            fmt_secs(per_page),
            if per_page <= 0.5e-6 { "met" } else { "**missed**" }
        );
    }
    // What a `try_table` adds to a call that does not throw: the two call loops differ
    // only in it. Computed per run, where both were measured side by side.
    let added = |side: &str| {
        let per_run: Vec<f64> = runs
            .iter()
            .filter_map(|run| {
                let (plain, try_table) = (group_named(run, "eh_call_plain")?, group_named(run, "eh_call_try_table")?);
                let (p, t) = (plain.1.get(side)?, try_table.1.get(side)?);
                Some(t / per_call_divisor(try_table.0) - p / per_call_divisor(plain.0))
            })
            .collect();
        Spread::of(per_run)
    };
    if let (Some(l), Some(w)) = (added("lucet"), added("wasmtime")) {
        let ns = |x: f64| format!("{:+.2} ns", x * 1e9);
        let _ = writeln!(
            md,
            "\nWhat a `try_table` adds to a call that does not throw (`eh_call_try_table` − `eh_call_plain`, \
             per call, median of the runs' differences, min to max): lucet {} ({} to {}), Wasmtime {} ({} to {}).",
            ns(l.median),
            ns(l.min),
            ns(l.max),
            ns(w.median),
            ns(w.min),
            ns(w.max)
        );
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("idle-memory.json")) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            let kib = |k: &str| v.get(k).and_then(|x| x.as_f64()).map(|b| format!("{:.1} KiB", b / 1024.0));
            let _ = writeln!(
                md,
                "\nIdle resident memory per instance ({} live instances of `guests/micro.wat`, RSS growth / count): \
                 lucet {}, Wasmtime {}.",
                v.get("instances").and_then(|x| x.as_u64()).unwrap_or(0),
                kib("lucet_bytes").unwrap_or_else(|| "—".into()),
                kib("wasmtime_bytes").unwrap_or_else(|| "—".into())
            );
        }
    }
    if cli.write_doc {
        let doc_path = root.join("docs/benchmarks.md");
        let doc = std::fs::read_to_string(&doc_path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
        std::fs::write(&doc_path, replace_section(&doc, "micro", &md))
            .with_context(|| format!("cannot write {}", doc_path.display()))?;
        eprintln!("updated {}", doc_path.display());
    } else {
        print!("{md}");
    }
    Ok(())
}
