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
    /// criterion's output directory. [default: target/criterion]
    #[arg(long, value_name = "DIR")]
    criterion_dir: Option<PathBuf>,

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

fn per_call_divisor(group: &str) -> f64 {
    group.strip_prefix("hostcall_x").and_then(|n| n.parse().ok()).unwrap_or(1.0)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = lucet_benchmarks::workspace_root();
    let dir = cli.criterion_dir.unwrap_or_else(|| root.join("target/criterion"));
    let mut groups: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!("no criterion results in {}; run `cargo bench -p lucet-benchmarks` first", dir.display())
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
        bail!("no criterion estimates under {}; run `cargo bench -p lucet-benchmarks` first", dir.display());
    }
    // Groups in the order of the benches file; unknown ones after.
    let order = ["instantiate_call_drop", "call_empty", "call_add", "hostcall", "trap_roundtrip", "kill", "reset"];
    let rank = |g: &str| order.iter().position(|o| g.starts_with(o)).unwrap_or(order.len());
    let mut names: Vec<&String> = groups.keys().collect();
    names.sort_by_key(|g| (rank(g), number_in(g)));

    let mut md = String::new();
    let machine = lucet_benchmarks::machine::Machine::detect();
    let _ = writeln!(md, "Machine: {}.\n", machine.describe());
    let _ = writeln!(
        md,
        "Reproduce with:\n\n```sh\ncargo bench -p lucet-benchmarks --profile dev --bench runtime\n\
         cargo run -p lucet-benchmarks --bin bench-report -- --write-doc\n```\n"
    );
    let _ = writeln!(md, "| operation | lucet | Wasmtime | lucet | Wasmtime | ratio | target |");
    let _ = writeln!(md, "|---|---|---|---:|---:|---:|---|");
    for g in names {
        let funcs = &groups[g];
        let reference = ["wasmtime_typed", "wasmtime", "wasmtime_epoch"].iter().find_map(|r| funcs.get_key_value(*r));
        let div = per_call_divisor(g);
        let label = if div > 1.0 { format!("{g} (per call)") } else { g.clone() };
        for (f, t) in funcs.iter().filter(|(f, _)| f.starts_with("lucet")) {
            let (wname, wt) = match reference {
                Some((n, t)) => (n.as_str(), Some(*t)),
                None => ("—", None),
            };
            let ratio = wt.map(|w| format!("{:.2}", t / w)).unwrap_or_else(|| "—".into());
            let goal = match (target(g), wt) {
                (Some(bound), Some(w)) => format!("≤ {bound:.1} {}", if t / w <= bound { "met" } else { "**missed**" }),
                _ => String::new(),
            };
            let _ = writeln!(
                md,
                "| {label} | `{f}` | `{wname}` | {} | {} | {ratio} | {goal} |",
                fmt_secs(t / div),
                wt.map(|w| fmt_secs(w / div)).unwrap_or_else(|| "—".into()),
            );
        }
        // Other Wasmtime variants, for context.
        for (f, t) in funcs
            .iter()
            .filter(|(f, _)| f.starts_with("wasmtime") && Some(f.as_str()) != reference.map(|r| r.0.as_str()))
        {
            let _ = writeln!(md, "| {label} | | `{f}` | | {} | | |", fmt_secs(t / div));
        }
    }
    let reset = |n: u32| groups.get(&format!("reset_{n}_dirty_pages")).and_then(|f| f.get("lucet")).copied();
    if let (Some(r0), Some(r256)) = (reset(0), reset(256)) {
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
