//! Runs the WebAssembly specification test suite through the real toolchain.
//!
//! The spec suite is a set of `.wast` scripts: modules in text or binary form,
//! followed by directives that call their exports and state what must happen
//! (`assert_return`, `assert_trap`, `assert_invalid`, ...). This crate reads those
//! scripts with the `wast` crate and carries out every directive along the same path
//! users take: each module is compiled by `lucetc` into a shared object (cached on
//! disk by content hash, see [`ModuleCache`]), loaded as a `DlModule`, instantiated
//! in an `MmapRegion` and linked to the instances registered before it, including a
//! `spectest` module that provides the imports the scripts expect. Traps are caught
//! by the runtime's signal handling in this process.
//!
//! Use [`run_wast_file`] for one script or [`run_paths`] for files and directories;
//! [`Summary`] prints the per-file lines, the failures and the final
//! `N passed, N failed` line, or the same as JSON.

mod cache;
mod legacy_text;
pub mod harness;
mod runner;
mod spectest_host;
mod traps;
mod values;

pub use cache::{CompileError, Features, ModuleCache, CACHE_ENV};
pub use runner::{
    run_wast_file, run_wast_source, Failure, FileReport, INVOKE_TIMEOUT, TIMEOUT_ENV, TRACE_ENV,
};
pub use spectest_host::{spectest_wasm, SPECTEST_NAME, SPECTEST_WAT};
pub use traps::acceptable_codes;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Expands `paths` into the `.wast` files they name: files as given, directories
/// searched recursively, each directory's files in name order.
pub fn collect_wast_files(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "wast") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// Runs every script named by `paths` (see [`collect_wast_files`]), calling
/// `on_file` as each one finishes.
pub fn run_paths(
    paths: &[PathBuf],
    cache: &ModuleCache,
    mut on_file: impl FnMut(&FileReport),
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    for file in collect_wast_files(paths)? {
        let report = run_wast_file(&file, cache);
        on_file(&report);
        summary.add(report);
    }
    Ok(summary)
}

/// The reports of several scripts.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub files: Vec<FileReport>,
}

impl Summary {
    pub fn add(&mut self, report: FileReport) {
        self.files.push(report);
    }
    pub fn passed(&self) -> usize {
        self.files.iter().map(|f| f.passed).sum()
    }
    pub fn failed(&self) -> usize {
        self.files.iter().map(|f| f.failed).sum()
    }

    /// The last line of every run.
    pub fn total_line(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }

    /// Everything as one JSON document:
    /// `{"files": [{"path", "passed", "failed", "seconds", "failures": [{"line", "column",
    /// "directive", "reason"}]}], "passed": N, "failed": N}`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\n  \"files\": [");
        for (i, f) in self.files.iter().enumerate() {
            out += if i == 0 { "\n" } else { ",\n" };
            out += &format!(
                "    {{\"path\": {}, \"passed\": {}, \"failed\": {}, \"seconds\": {:.3}, \"failures\": [",
                json_string(&f.path.display().to_string()),
                f.passed,
                f.failed,
                f.elapsed.as_secs_f64()
            );
            for (j, x) in f.failures.iter().enumerate() {
                out += if j == 0 { "\n" } else { ",\n" };
                out += &format!(
                    "      {{\"line\": {}, \"column\": {}, \"directive\": {}, \"reason\": {}}}",
                    x.line,
                    x.column,
                    json_string(x.directive),
                    json_string(&x.reason)
                );
            }
            out += if f.failures.is_empty() {
                "]}"
            } else {
                "\n    ]}"
            };
        }
        out += &format!(
            "\n  ],\n  \"passed\": {},\n  \"failed\": {}\n}}",
            self.passed(),
            self.failed()
        );
        out
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The line printed for a finished script.
pub fn file_line(report: &FileReport) -> String {
    format!(
        "{}: {} passed, {} failed ({:.1}s)",
        report.path.display(),
        report.passed,
        report.failed,
        report.elapsed.as_secs_f64()
    )
}

/// Writes the file's line followed by one line per failure (`file:line:col: ...`).
pub fn write_file_report(
    out: &mut dyn Write,
    report: &FileReport,
    max_failures: Option<usize>,
) -> io::Result<()> {
    writeln!(out, "{}", file_line(report))?;
    let shown = max_failures
        .unwrap_or(usize::MAX)
        .min(report.failures.len());
    for f in &report.failures[..shown] {
        let reason = f.reason.replace('\n', " ");
        writeln!(
            out,
            "  {}:{}:{}: {}: {}",
            report.path.display(),
            f.line,
            f.column,
            f.directive,
            reason
        )?;
    }
    if shown < report.failures.len() {
        writeln!(
            out,
            "  ... and {} more failures in this file",
            report.failures.len() - shown
        )?;
    }
    Ok(())
}
