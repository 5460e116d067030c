//! Statistics, the Markdown sections of `docs/benchmarks.md` and the SVG chart.
//!
//! `docs/benchmarks.md` is shared by two generators (the criterion ratio table and the
//! sightglass run), so each owns a section between `<!-- BEGIN name -->` and
//! `<!-- END name -->` markers and replaces only that; text outside the markers is
//! written by hand and kept.

use crate::hooks::{Clock, Measurement};
use crate::sightglass::Group;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Median of the samples, in seconds.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 })
}

/// Spread of the samples: (max − min) / median.
pub fn spread(samples: &[f64]) -> Option<f64> {
    let med = median(samples)?;
    let max = samples.iter().copied().fold(f64::MIN, f64::max);
    let min = samples.iter().copied().fold(f64::MAX, f64::min);
    (med > 0.0).then(|| (max - min) / med)
}

fn fmt_percent(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

/// Geometric mean of positive values.
pub fn geomean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| *v <= 0.0 || !v.is_finite()) {
        return None;
    }
    Some((values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

/// Replaces the section `name` of `doc`, or appends it when the markers are missing.
pub fn replace_section(doc: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- BEGIN {name} -->");
    let end = format!("<!-- END {name} -->");
    let section = format!("{begin}\n{}\n{end}", body.trim_end());
    match (doc.find(&begin), doc.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{section}{}", &doc[..b], &doc[e + end.len()..]),
        _ => {
            let mut out = doc.trim_end().to_owned();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&section);
            out.push('\n');
            out
        }
    }
}

/// Formats seconds with a unit that keeps three significant digits readable.
pub fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.1} ns", s * 1e9)
    }
}

/// What the sightglass run measured for one program.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProgramResult {
    pub name: String,
    pub group: String,
    /// Seconds between `bench.start` and `bench.end` by the run's [`Clock`], one per iteration.
    pub lucet_runs: Vec<f64>,
    pub wasmtime_runs: Vec<f64>,
    /// Every clock and counter of each iteration (absent from files of older runs).
    #[serde(default)]
    pub lucet_samples: Vec<Measurement>,
    #[serde(default)]
    pub wasmtime_samples: Vec<Measurement>,
    /// Wall time of `lucetc` (wasm to `.so`) and of `Engine::precompile_module`.
    pub lucet_compile: Option<f64>,
    pub wasmtime_compile: Option<f64>,
    /// Why the program has no (complete) figures; `None` when it ran and printed what it should.
    pub failure: Option<String>,
    /// Why a program that ran correctly still has no time.
    #[serde(default)]
    pub note: Option<String>,
    /// In a report that combines several runs (see `combine`), each run's ratio; the
    /// program's ratio is then their median, and `lucet_runs`/`wasmtime_runs` hold each
    /// run's median.
    #[serde(default)]
    pub run_ratios: Vec<f64>,
}

impl ProgramResult {
    pub fn run_ratio(&self) -> Option<f64> {
        if !self.run_ratios.is_empty() {
            return median(&self.run_ratios);
        }
        Some(median(&self.lucet_runs)? / median(&self.wasmtime_runs)?)
    }
    pub fn compile_ratio(&self) -> Option<f64> {
        Some(self.lucet_compile? / self.wasmtime_compile?)
    }
    pub fn group(&self) -> Group {
        Group::ALL.into_iter().find(|g| g.name() == self.group).unwrap_or(Group::Other)
    }
}

/// Everything a sightglass run produced, as saved to JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SightglassRun {
    pub machine: String,
    pub command: String,
    pub settings: String,
    /// The fewest iterations a program got (the only count, in files of runs before
    /// the count adapted to the program's length).
    pub iterations: usize,
    /// The most iterations a program could get, and the time budget of a program's runs
    /// up to which it got more than `iterations` (absent from files of older runs, whose
    /// count was fixed).
    #[serde(default)]
    pub max_iterations: Option<usize>,
    #[serde(default)]
    pub budget_seconds: Option<f64>,
    /// The clock `lucet_runs` and `wasmtime_runs` were read from; runs saved before
    /// there was a choice used the wall clock.
    #[serde(default = "wall_clock")]
    pub clock: Clock,
    pub date: String,
    pub wall_seconds: f64,
    pub results: Vec<ProgramResult>,
    /// Programs not attempted, with the reason.
    pub excluded: Vec<(String, String)>,
    /// How many whole runs this report combines (1 for a run's own file).
    #[serde(default = "one_run")]
    pub runs_combined: usize,
}

fn wall_clock() -> Clock {
    Clock::Wall
}

fn one_run() -> usize {
    1
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "—".to_owned())
}

/// The figures of one group of programs (or of all of them).
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub label: String,
    /// Programs with a run-time ratio.
    pub programs: usize,
    pub run_geomean: Option<f64>,
    pub compile_geomean: Option<f64>,
    /// The highest run-time ratio and its program.
    pub slowest: Option<(f64, String)>,
}

/// Summary per group, then over all programs.
pub fn group_summary(run: &SightglassRun) -> Vec<GroupSummary> {
    let mut rows = Vec::new();
    let groups: Vec<(String, Vec<&ProgramResult>)> = Group::ALL
        .iter()
        .map(|g| (g.name().to_owned(), run.results.iter().filter(|r| r.group() == *g).collect()))
        .chain(std::iter::once(("all".to_owned(), run.results.iter().collect())))
        .collect();
    for (label, members) in groups {
        let ratios: Vec<f64> = members.iter().filter_map(|r| r.run_ratio()).collect();
        let compile: Vec<f64> = members.iter().filter_map(|r| r.compile_ratio()).collect();
        let worst = members
            .iter()
            .filter_map(|r| r.run_ratio().map(|x| (x, r.name.clone())))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        rows.push(GroupSummary {
            label,
            programs: ratios.len(),
            run_geomean: geomean(&ratios),
            compile_geomean: geomean(&compile),
            slowest: worst,
        });
    }
    rows
}

/// The `sightglass` section of `docs/benchmarks.md`.
pub fn sightglass_markdown(run: &SightglassRun, svg_name: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "Measured {} on: {}.\n", run.date, run.machine);
    let _ = writeln!(md, "Settings: {}\n", run.settings);
    let _ = writeln!(md, "Reproduce with:\n\n```sh\n{}\n```\n", run.command);
    // How many iterations each program got; `at_least` opens the sentence, `column` points
    // at the column that shows the count when it varies.
    let count = |at_least: &str, column: &str| match (run.max_iterations, run.budget_seconds) {
        (Some(max), Some(budget)) if max > run.iterations && budget > 0.0 => format!(
            "{at_least} {} iterations per program, and more (up to {max}) while the program's runs on both sides \
             had taken less than {budget} s in all, so that programs whose runs are short get enough of them for \
             a stable median{column}; lucet and Wasmtime alternating, the same count on both sides",
            run.iterations
        ),
        _ => format!("{} iterations per program, lucet and Wasmtime alternating", run.iterations),
    };
    if run.runs_combined > 1 {
        let _ = writeln!(
            md,
            "{} whole runs, back to back. In each, {}. Figures are medians over the runs: a program's times are \
             the medians of its per-run medians of {} between `bench.start` and `bench.end`, their spread is \
             (max − min) / median of those per-run medians (how much the program moved from run to run), and \
             its ratio is the median of its per-run ratios; the column \"runs\" counts the runs. Ratios are \
             lucet / Wasmtime: below 1.00 lucet is faster; ⚠ marks a ratio above 1.10. Compile times are the \
             medians of the compile times the runs recorded (see the settings for when they were measured). The \
             runs took {:.0} minutes in all.\n",
            run.runs_combined,
            count("at least", ""),
            run.clock.describe(),
            run.wall_seconds / 60.0
        );
    } else {
        let _ = writeln!(
            md,
            "{}; figures are medians of {} between `bench.start` and `bench.end`, and their spread is \
             (max − min) / median over the iterations. Ratios are lucet / Wasmtime: below 1.00 lucet is faster; \
             ⚠ marks a ratio above 1.10. Compile times are one compilation each (see the settings for when). The \
             whole run took {:.0} minutes.\n",
            count("At least", " (column \"runs\")"),
            run.clock.describe(),
            run.wall_seconds / 60.0
        );
    }
    let _ = writeln!(
        md,
        "| group | programs | run time ratio (geomean) | compile time ratio (geomean) | slowest program (ratio) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---|");
    for GroupSummary { label, programs: n, run_geomean: run_g, compile_geomean: comp_g, slowest: worst } in
        group_summary(run)
    {
        let _ = writeln!(
            md,
            "| {label} | {n} | {} | {} | {} |",
            opt(run_g, |x| format!("{x:.3}")),
            opt(comp_g, |x| format!("{x:.3}")),
            worst.map(|(x, n)| format!("{n} ({x:.2})")).unwrap_or_else(|| "—".into())
        );
    }
    let _ = writeln!(md, "\n![lucet / Wasmtime run time ratio per sightglass program]({svg_name})\n");
    for g in Group::ALL {
        let members: Vec<&ProgramResult> = run.results.iter().filter(|r| r.group() == g).collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(md, "#### {}\n", g.name());
        let _ = writeln!(
            md,
            "| program | runs | lucet | spread | Wasmtime | spread | ratio | lucetc compile | Wasmtime compile | \
             compile ratio |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in members {
            let name = r.name.trim_end_matches(".wasm");
            let lucet = median(&r.lucet_runs);
            let wt = median(&r.wasmtime_runs);
            let flag = match r.run_ratio() {
                Some(x) if x > 1.10 => " ⚠",
                _ => "",
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {}{flag} | {} | {} | {} |",
                r.lucet_runs.len().max(r.wasmtime_runs.len()),
                opt(lucet, fmt_secs),
                opt(spread(&r.lucet_runs), fmt_percent),
                opt(wt, fmt_secs),
                opt(spread(&r.wasmtime_runs), fmt_percent),
                opt(r.run_ratio(), |x| format!("{x:.2}")),
                opt(r.lucet_compile, fmt_secs),
                opt(r.wasmtime_compile, fmt_secs),
                opt(r.compile_ratio(), |x| format!("{x:.2}")),
            );
        }
        md.push('\n');
    }
    let failed: Vec<&ProgramResult> = run.results.iter().filter(|r| r.failure.is_some()).collect();
    if !failed.is_empty() {
        let _ = writeln!(md, "#### Programs that did not run to completion\n");
        for r in failed {
            let _ = writeln!(md, "- `{}`: {}", r.name, r.failure.as_deref().unwrap_or_default().replace('\n', " "));
        }
        md.push('\n');
    }
    let untimed: Vec<&ProgramResult> = run.results.iter().filter(|r| r.failure.is_none() && r.note.is_some()).collect();
    if !untimed.is_empty() {
        let _ = writeln!(md, "#### Programs that ran correctly but have no time\n");
        for r in untimed {
            let _ = writeln!(md, "- `{}`: {}", r.name, r.note.as_deref().unwrap_or_default());
        }
        md.push('\n');
    }
    if !run.excluded.is_empty() {
        let _ = writeln!(md, "#### Programs not benchmarked\n");
        for (name, why) in &run.excluded {
            let _ = writeln!(md, "- `{name}`: {why}");
        }
        md.push('\n');
    }
    md
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A horizontal bar chart of run-time ratios on a log scale centred on 1.0: bars to
/// the left mean lucet is faster, to the right slower. Group geometric means first.
pub fn ratio_chart_svg(run: &SightglassRun) -> String {
    let mut rows: Vec<(String, f64, &'static str, bool)> = Vec::new();
    let color = |g: Group| match g {
        Group::Shootout => "#4e79a7",
        Group::Libsodium => "#59a14f",
        Group::Other => "#f28e2b",
    };
    for GroupSummary { label, run_geomean, .. } in group_summary(run) {
        if let Some(x) = run_geomean {
            rows.push((format!("geomean: {label}"), x, "#555555", true));
        }
    }
    for r in &run.results {
        if let Some(x) = r.run_ratio() {
            rows.push((r.name.trim_end_matches(".wasm").to_owned(), x, color(r.group()), false));
        }
    }
    let (label_w, plot_w, row_h, top, bottom) = (300.0, 520.0, 14.0, 50.0, 40.0);
    let width = label_w + plot_w + 60.0;
    let height = top + rows.len() as f64 * row_h + bottom;
    // log2 axis from 1/4 to 4 (values outside are clipped and marked).
    let (lo, hi) = (-2.0f64, 2.0f64);
    let x_of = |ratio: f64| label_w + (ratio.log2().clamp(lo, hi) - lo) / (hi - lo) * plot_w;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="18" font-size="13" text-anchor="middle">sightglass: lucet / Wasmtime run time (median; log scale, left = lucet faster; dashed line at 1.1)</text>"#,
        width / 2.0
    );
    for (t, label) in [(0.25, "0.25"), (0.5, "0.5"), (1.0, "1.0"), (1.1, "1.1"), (2.0, "2"), (4.0, "4")] {
        let x = x_of(t);
        let (stroke, dash) = if t == 1.0 { ("#000", "") } else { ("#bbb", r#" stroke-dasharray="3,3""#) };
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="{stroke}"{dash}/>"#,
            top - 8.0,
            height - bottom + 4.0
        );
        // 1.1 (the per-program limit) sits too close to 1.0 for a label of its own.
        if t != 1.1 {
            let _ = writeln!(s, r#"<text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"#, top - 12.0);
            let _ =
                writeln!(s, r#"<text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"#, height - bottom + 16.0);
        }
    }
    for (i, (name, ratio, fill, bold)) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let (x0, x1) = (x_of(1.0), x_of(*ratio));
        let (bx, bw) = if x1 < x0 { (x1, x0 - x1) } else { (x0, x1 - x0) };
        let weight = if *bold { r#" font-weight="bold""# } else { "" };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end"{weight}>{}</text>"#,
            label_w - 6.0,
            y + row_h - 4.0,
            xml_escape(name)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#,
            y + 2.0,
            bw.max(0.5),
            row_h - 4.0
        );
        let clipped = if ratio.log2() > hi || ratio.log2() < lo { " (off scale)" } else { "" };
        let tx = if x1 < x0 { x0 + 4.0 } else { x1 + 4.0 };
        let _ = writeln!(s, r#"<text x="{tx:.1}" y="{:.1}">{ratio:.2}{clipped}</text>"#, y + row_h - 4.0);
    }
    let legend_y = height - 10.0;
    for (i, (g, label)) in
        [(Group::Shootout, "shootout"), (Group::Libsodium, "libsodium"), (Group::Other, "others")].iter().enumerate()
    {
        let x = label_w + i as f64 * 110.0;
        let _ = writeln!(s, r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/>"#, legend_y - 9.0, color(*g));
        let _ = writeln!(s, r#"<text x="{}" y="{legend_y}">{label}</text>"#, x + 14.0);
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert!((geomean(&[1.0, 4.0]).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(geomean(&[1.0, 0.0]), None);
        assert_eq!(spread(&[1.0, 2.0, 4.0]), Some(1.5));
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn files_of_runs_before_the_clock_choice_read_as_wall_time() {
        let old = r#"{"machine": "m", "command": "c", "settings": "s", "iterations": 1, "date": "d",
            "wall_seconds": 1.0, "excluded": [], "results": [{"name": "p.wasm", "group": "others",
            "lucet_runs": [1.0], "wasmtime_runs": [2.0], "lucet_compile": null, "wasmtime_compile": null,
            "failure": null}]}"#;
        let run: SightglassRun = serde_json::from_str(old).expect("an older file still reads");
        assert_eq!(run.clock, Clock::Wall);
        assert_eq!((run.max_iterations, run.budget_seconds), (None, None), "a fixed count");
        assert!(run.results[0].lucet_samples.is_empty());
        assert_eq!(run.results[0].run_ratio(), Some(0.5));
    }

    #[test]
    fn sections_are_replaced_in_place() {
        let doc = "# Title\n\nhand-written\n";
        let once = replace_section(doc, "x", "first");
        assert!(once.starts_with("# Title\n\nhand-written\n\n<!-- BEGIN x -->\nfirst\n<!-- END x -->"));
        let twice = replace_section(&once, "x", "second");
        assert!(twice.contains("second") && !twice.contains("first"));
        assert!(twice.starts_with("# Title"));
    }
}
