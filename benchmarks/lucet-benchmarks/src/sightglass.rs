//! The sightglass corpus: which programs exist, which can run, and what they must print.
//!
//! The run contract (from the corpus notes): the program's folder is the working
//! directory, preopened as `.`; no arguments beyond the program name; `bench.start`
//! and `bench.end` bracket the measured work; stdout and stderr must equal
//! `<stem>.{stdout,stderr}.expected`, falling back to `default.*`.

use std::path::{Path, PathBuf};

/// Where the corpus lives unless `--sightglass-dir` says otherwise.
pub fn default_root() -> PathBuf {
    crate::workspace_root().join("../shared/corpora/sightglass")
}

/// The groups results are summarised by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Shootout,
    Libsodium,
    Other,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Shootout => "shootout",
            Group::Libsodium => "libsodium",
            Group::Other => "others",
        }
    }

    pub const ALL: [Group; 3] = [Group::Shootout, Group::Libsodium, Group::Other];
}

/// One `.wasm` of the corpus.
#[derive(Debug, Clone)]
pub struct Program {
    /// Path relative to `benchmarks/`, e.g. `shootout/shootout-sieve.wasm`.
    pub name: String,
    pub wasm: PathBuf,
    pub group: Group,
}

impl Program {
    pub fn dir(&self) -> &Path {
        self.wasm.parent().expect("a program lives in a benchmark folder")
    }

    pub fn stem(&self) -> &str {
        self.wasm.file_stem().and_then(|s| s.to_str()).unwrap_or_default()
    }

    /// The expected contents of `stream` ("stdout" or "stderr"), if the corpus has them.
    pub fn expected(&self, stream: &str) -> Option<Vec<u8>> {
        let own = self.dir().join(format!("{}.{stream}.expected", self.stem()));
        let fallback = self.dir().join(format!("default.{stream}.expected"));
        std::fs::read(own).or_else(|_| std::fs::read(fallback)).ok()
    }

    /// Compares a run's output with the expected files. Trailing whitespace is not
    /// significant: some expected files lack the final newline the program prints.
    pub fn check_output(&self, out: &crate::RunOutput) -> Result<(), String> {
        let mut problems = Vec::new();
        for (stream, got) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            if let Some(want) = self.expected(stream) {
                let got = String::from_utf8_lossy(got);
                let want = String::from_utf8_lossy(&want);
                if got.trim_end() != want.trim_end() {
                    let show = |s: &str| s.chars().take(160).collect::<String>();
                    problems.push(format!("{stream} was {:?}, expected {:?}", show(&got), show(&want)));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// A program (or suite entry) that is not benchmarked, and why.
#[derive(Debug, Clone)]
pub struct Excluded {
    pub name: String,
    pub reason: String,
}

/// Why the upstream suite lists programs that this snapshot lacks; what they need is
/// taken from the upstream benchmark folders.
fn known_absent_reason(name: &str) -> &'static str {
    if name.starts_with("cm-") {
        "a component-model program (not a core Wasm 2.0 module); also not in the corpus snapshot"
    } else if name.starts_with("kotlin-") || name.starts_with("splay/") {
        "needs Wasm GC; also not in the corpus snapshot"
    } else if name.contains("image-classification") {
        "needs wasi-nn; also not in the corpus snapshot"
    } else {
        "listed in all.suite, but its .wasm is not in the corpus snapshot (too large to store)"
    }
}

/// Every `.wasm` under `root/benchmarks`, sorted, plus the suite entries that are missing.
pub fn discover(root: &Path) -> Result<(Vec<Program>, Vec<Excluded>), String> {
    let benchmarks = root.join("benchmarks");
    let folders = std::fs::read_dir(&benchmarks).map_err(|e| {
        format!("the sightglass corpus is not at {} ({e}); pass --sightglass-dir", benchmarks.display())
    })?;
    let mut programs = Vec::new();
    for folder in folders.flatten() {
        let Ok(files) = std::fs::read_dir(folder.path()) else { continue };
        for f in files.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|x| x == "wasm") {
                let name = p.strip_prefix(&benchmarks).unwrap_or(&p).to_string_lossy().into_owned();
                let group = if name.starts_with("shootout/") {
                    Group::Shootout
                } else if name.starts_with("libsodium/") {
                    Group::Libsodium
                } else {
                    Group::Other
                };
                programs.push(Program { name, wasm: p, group });
            }
        }
    }
    programs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut missing = Vec::new();
    if let Ok(suite) = std::fs::read_to_string(benchmarks.join("all.suite")) {
        for line in suite.lines() {
            // Upstream comments out programs it cannot build; they are listed too.
            let entry = line.trim().trim_start_matches('#').trim();
            if entry.ends_with(".wasm") && !programs.iter().any(|p| p.name == entry) {
                missing.push(Excluded { name: entry.to_owned(), reason: known_absent_reason(entry).to_owned() });
            }
        }
    }
    Ok((programs, missing))
}

/// Programs whose input file the corpus snapshot lacks (see its SOURCE.txt): they
/// fail the same way under every runtime, so they are listed instead of run.
pub fn missing_input(name: &str) -> Option<&'static str> {
    match name {
        "pulldown-cmark/benchmark.wasm" => {
            Some("its input default.input.md is not in the corpus snapshot (the program panics with NotFound under both runtimes)")
        }
        _ => None,
    }
}

/// Checks that a module needs only Wasm 2.0 and imports only WASI preview1 and the
/// bench hooks; otherwise says what it needs.
pub fn check_runnable(wasm: &[u8]) -> Result<(), String> {
    wasmparser::Validator::new_with_features(lucetc::wasm2_features())
        .validate_all(wasm)
        .map_err(|e| format!("needs more than Wasm 2.0: {}", e.message()))?;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::ImportSection(imports)) = payload {
            for import in imports.into_imports().flatten() {
                if import.module != "wasi_snapshot_preview1" && import.module != "bench" {
                    return Err(format!(
                        "imports {}.{}, which is neither WASI preview1 nor bench",
                        import.module, import.name
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A scratch copy of a program's folder (its inputs), so that a program writing files
/// never touches the read-only corpus. Both runtimes use the same copy.
pub fn scratch_copy(program: &Program) -> Result<tempfile::TempDir, String> {
    let scratch = tempfile::Builder::new()
        .prefix("lucet-bench-")
        .tempdir()
        .map_err(|e| format!("cannot create a scratch directory: {e}"))?;
    let entries =
        std::fs::read_dir(program.dir()).map_err(|e| format!("cannot list {}: {e}", program.dir().display()))?;
    for entry in entries.flatten() {
        let p = entry.path();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if is_file && p.extension().is_none_or(|x| x != "wasm") {
            let dest = scratch.path().join(entry.file_name());
            std::fs::copy(&p, &dest).map_err(|e| format!("cannot copy {}: {e}", p.display()))?;
            let mut perm = std::fs::metadata(&dest).map_err(|e| e.to_string())?.permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o644);
            std::fs::set_permissions(&dest, perm).map_err(|e| e.to_string())?;
        }
    }
    Ok(scratch)
}
