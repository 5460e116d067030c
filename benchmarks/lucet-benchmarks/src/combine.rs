//! Several whole sightglass runs folded into one report.
//!
//! One run alternates lucet and Wasmtime within each program, so its ratios are paired;
//! but a shared machine changes between programs and between runs, and a single run can
//! put any program above the line. Combining runs keeps the pairing: a program's ratio
//! is the median of its per-run ratios, and its times are the medians of its per-run
//! medians, so the spread columns become the spread from run to run.

use crate::report::{median, ProgramResult, SightglassRun};
use std::collections::HashMap;

/// Folds `runs` (at least one) into one report whose figures are medians over the runs.
/// A program that failed in any run is reported with that run's failure; one missing
/// from a run is reported as such.
pub fn combine(runs: &[SightglassRun]) -> Result<SightglassRun, String> {
    let (first, last) = match (runs.first(), runs.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err("no runs to combine".into()),
    };
    if let Some(r) = runs.iter().find(|r| r.clock != first.clock) {
        return Err(format!(
            "the runs read different clocks ({} and {}); combine runs of one clock",
            first.clock.describe(),
            r.clock.describe()
        ));
    }
    // Programs in the first run's order; others appended as they appear.
    let mut per_program: Vec<Vec<&ProgramResult>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for run in runs {
        for r in &run.results {
            let i = *index.entry(r.name.as_str()).or_insert_with(|| {
                per_program.push(Vec::new());
                per_program.len() - 1
            });
            per_program[i].push(r);
        }
    }
    let results = per_program.iter().map(|p| combine_program(p, runs.len())).collect();
    Ok(SightglassRun {
        machine: first.machine.clone(),
        command: if runs.len() == 1 {
            first.command.clone()
        } else {
            format!(
                "{}\n# once per run ({} runs here; {}), keeping each run's\n\
                 # target/lucet-bench/sightglass.json; then the same command with\n\
                 # `--from-json RUN1.json RUN2.json ... --write-doc` in place of the run options",
                first.command,
                runs.len(),
                recompiled(runs)
            )
        },
        settings: first.settings.clone(),
        iterations: runs.iter().map(|r| r.iterations).min().unwrap_or(first.iterations),
        max_iterations: first.max_iterations,
        budget_seconds: first.budget_seconds,
        clock: first.clock,
        date: if runs.len() == 1 { first.date.clone() } else { format!("{} to {}", first.date, last.date) },
        wall_seconds: runs.iter().map(|r| r.wall_seconds).sum(),
        results,
        excluded: first.excluded.clone(),
        runs_combined: runs.len(),
    })
}

/// Which runs compiled afresh, from their recorded commands: "runs 1 and 6 with
/// --recompile". The others reused the cache and report the compile times measured then.
fn recompiled(runs: &[SightglassRun]) -> String {
    let which: Vec<String> = (1..=runs.len())
        .filter(|&i| runs[i - 1].command.split_whitespace().any(|a| a == "--recompile"))
        .map(|i| i.to_string())
        .collect();
    match which.as_slice() {
        [] => "none with --recompile".to_owned(),
        [one] => format!("run {one} with --recompile"),
        [init @ .., last] => format!("runs {} and {last} with --recompile", init.join(", ")),
    }
}

fn combine_program(results: &[&ProgramResult], runs: usize) -> ProgramResult {
    let first = results[0];
    let mut out = ProgramResult {
        name: first.name.clone(),
        group: first.group.clone(),
        lucet_runs: Vec::new(),
        wasmtime_runs: Vec::new(),
        lucet_samples: Vec::new(),
        wasmtime_samples: Vec::new(),
        lucet_compile: median(&results.iter().filter_map(|r| r.lucet_compile).collect::<Vec<_>>()),
        wasmtime_compile: median(&results.iter().filter_map(|r| r.wasmtime_compile).collect::<Vec<_>>()),
        failure: None,
        note: first.note.clone(),
        run_ratios: Vec::new(),
    };
    if let Some(failed) = results.iter().find(|r| r.failure.is_some()) {
        out.failure = failed.failure.clone();
        return out;
    }
    if results.len() < runs {
        out.failure = Some(format!("missing from {} of the {runs} runs combined", runs - results.len()));
        return out;
    }
    for r in results {
        if let (Some(l), Some(w)) = (median(&r.lucet_runs), median(&r.wasmtime_runs)) {
            out.lucet_runs.push(l);
            out.wasmtime_runs.push(w);
            out.run_ratios.push(l / w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::Clock;

    fn program(name: &str, lucet: &[f64], wasmtime: &[f64]) -> ProgramResult {
        ProgramResult {
            name: name.into(),
            group: "shootout".into(),
            lucet_runs: lucet.to_vec(),
            wasmtime_runs: wasmtime.to_vec(),
            lucet_samples: Vec::new(),
            wasmtime_samples: Vec::new(),
            lucet_compile: Some(1.0),
            wasmtime_compile: Some(2.0),
            failure: None,
            note: None,
            run_ratios: Vec::new(),
        }
    }

    fn run(results: Vec<ProgramResult>) -> SightglassRun {
        SightglassRun {
            machine: "m".into(),
            command: "c".into(),
            settings: "s".into(),
            iterations: 5,
            max_iterations: None,
            budget_seconds: None,
            clock: Clock::ThreadCpu,
            date: "d".into(),
            wall_seconds: 60.0,
            results,
            excluded: Vec::new(),
            runs_combined: 1,
        }
    }

    #[test]
    fn the_ratio_is_the_median_of_the_per_run_ratios() {
        let runs = [
            run(vec![program("a", &[1.0, 1.2, 1.1], &[1.0, 1.0, 1.0])]),
            run(vec![program("a", &[3.0], &[2.0])]),
            run(vec![program("a", &[0.9], &[1.0])]),
        ];
        let c = combine(&runs).unwrap();
        assert_eq!(c.runs_combined, 3);
        assert_eq!(c.wall_seconds, 180.0);
        let a = &c.results[0];
        assert_eq!(a.run_ratios, vec![1.1, 1.5, 0.9]);
        assert_eq!(a.run_ratio(), Some(1.1));
        assert_eq!(a.lucet_runs, vec![1.1, 3.0, 0.9]);
    }

    #[test]
    fn the_command_names_the_runs_that_compiled_afresh() {
        let mut runs: Vec<SightglassRun> = (0..6).map(|_| run(vec![program("a", &[1.0], &[1.0])])).collect();
        runs[0].command = "lucet-bench --recompile --iterations 7".into();
        runs[4].command = "lucet-bench --recompile".into();
        let c = combine(&runs).unwrap();
        assert!(c.command.contains("(6 runs here; runs 1 and 5 with --recompile)"), "{}", c.command);
    }

    #[test]
    fn a_program_that_failed_or_is_missing_in_one_run_has_no_ratio() {
        let mut bad = program("a", &[], &[]);
        bad.failure = Some("wrong output".into());
        let runs = [run(vec![program("a", &[1.0], &[1.0]), program("b", &[1.0], &[1.0])]), run(vec![bad])];
        let c = combine(&runs).unwrap();
        assert_eq!(c.results[0].failure.as_deref(), Some("wrong output"));
        assert_eq!(c.results[1].failure.as_deref(), Some("missing from 1 of the 2 runs combined"));
        assert_eq!(c.results[1].run_ratio(), None);
    }
}
