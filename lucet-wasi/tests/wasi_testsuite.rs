//! Runs the WASI test suite (../shared/corpora/wasi-testsuite) through the
//! `lucet-wasi` command, as each test's `.json` sidecar says: `args`, exactly the
//! `env` given, `root` copied to a fresh temporary directory and preopened as `/`,
//! and the expected `exit_code`, `stdout` and `stderr`.
//!
//! `cargo test -p lucet-wasi --test wasi_testsuite [-- FILTER...]` prints one line per
//! failure and finally `N passed, N failed`. Compiled modules are cached under
//! `target/wasi-testsuite-cache/<build of the command>`, so only the first run after
//! a rebuild compiles.
//! `WASI_TESTSUITE_DIR` overrides where the suite is found.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PER_TEST_TIMEOUT: Duration = Duration::from_secs(120);

struct Case {
    name: String,
    wasm: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    root: Option<PathBuf>,
    exit_code: i32,
    stdout: Option<String>,
    stderr: Option<String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate lives in the workspace")
        .to_owned()
}

fn suite_dir() -> PathBuf {
    match std::env::var_os("WASI_TESTSUITE_DIR") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("../shared/corpora/wasi-testsuite"),
    }
}

fn load_case(wasm: &Path, suite: &Path) -> Result<Case, String> {
    let name = wasm
        .strip_prefix(suite.join("tests"))
        .unwrap_or(wasm)
        .with_extension("")
        .to_string_lossy()
        .replace("/testsuite/wasm32-wasip1/", "/");
    let mut case = Case {
        name,
        wasm: wasm.to_owned(),
        args: Vec::new(),
        env: Vec::new(),
        root: None,
        exit_code: 0,
        stdout: None,
        stderr: None,
    };
    let sidecar = wasm.with_extension("json");
    if !sidecar.exists() {
        return Ok(case);
    }
    let text = std::fs::read_to_string(&sidecar)
        .map_err(|e| format!("cannot read {}: {e}", sidecar.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", sidecar.display()))?;
    if let Some(args) = json.get("args").and_then(|a| a.as_array()) {
        case.args = args
            .iter()
            .map(|a| a.as_str().unwrap_or_default().to_owned())
            .collect();
    }
    if let Some(env) = json.get("env").and_then(|e| e.as_object()) {
        case.env = env
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
    }
    if let Some(root) = json.get("root").and_then(|r| r.as_str()) {
        case.root = Some(sidecar.parent().unwrap_or(Path::new(".")).join(root));
    }
    if let Some(code) = json.get("exit_code").and_then(|c| c.as_i64()) {
        case.exit_code = code as i32;
    }
    case.stdout = json
        .get("stdout")
        .and_then(|s| s.as_str())
        .map(str::to_owned);
    case.stderr = json
        .get("stderr")
        .and_then(|s| s.as_str())
        .map(str::to_owned);
    Ok(case)
}

/// Copies a fixture tree, making the copy writable (the corpus is read-only).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
}

fn run_case(case: &Case, bin: &Path, cache: &Path) -> Result<(), String> {
    let scratch =
        tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let mut cmd = Command::new(bin);
    cmd.arg("--cache-dir").arg(cache);
    for (k, v) in &case.env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    if let Some(root) = &case.root {
        let copy = scratch.path().join("root");
        copy_tree(root, &copy).map_err(|e| format!("cannot copy {}: {e}", root.display()))?;
        cmd.arg("--dir").arg(format!("{}::/", copy.display()));
    }
    cmd.arg(&case.wasm).args(&case.args);
    let out_path = scratch.path().join("stdout");
    let err_path = scratch.path().join("stderr");
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > PER_TEST_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {PER_TEST_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for the command failed: {e}")),
        }
    };
    let stdout =
        String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()).into_owned();
    let stderr =
        String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default()).into_owned();
    let code = status.code().unwrap_or(-1);
    let mut problems = Vec::new();
    if code != case.exit_code {
        problems.push(format!("exit status {code}, expected {}", case.exit_code));
    }
    if let Some(want) = &case.stdout {
        if &stdout != want {
            problems.push(format!("stdout {stdout:?}, expected {want:?}"));
        }
    }
    if let Some(want) = &case.stderr {
        if &stderr != want {
            problems.push(format!("stderr {stderr:?}, expected {want:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let tail: String = stderr
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        if case.stderr.is_none() && !tail.is_empty() {
            let short: String = tail.chars().take(400).collect();
            problems.push(format!("stderr: {short}"));
        }
        Err(problems.join("; "))
    }
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let suite = suite_dir();
    if !suite.is_dir() {
        // As the spec suites do (lucet_spectest::harness::missing_corpus): a note
        // without the corpus, a failure under CI.
        let what = format!(
            "the WASI test suite: the corpus is not at {} (put ../shared beside the workspace, or set WASI_TESTSUITE_DIR)",
            suite.display()
        );
        if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")) {
            eprintln!("error: {what}; CI is set, so a missing corpus is a failure");
            std::process::exit(1);
        }
        println!("note: {what}; skipped");
        return;
    }
    let mut wasms = Vec::new();
    for lang in ["rust", "c", "assemblyscript"] {
        let dir = suite
            .join("tests")
            .join(lang)
            .join("testsuite/wasm32-wasip1");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            eprintln!(
                "error: the WASI test suite is not at {} (set WASI_TESTSUITE_DIR)",
                suite.display()
            );
            std::process::exit(1);
        };
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        found.sort();
        wasms.extend(found);
    }
    let mut cases = Vec::new();
    let mut failed_to_load = Vec::new();
    for w in &wasms {
        match load_case(w, &suite) {
            Ok(c) => cases.push(c),
            Err(e) => failed_to_load.push(e),
        }
    }
    cases.retain(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str())));

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_lucet-wasi"));
    // The command caches by content and compiler version; while the compiler is
    // being changed its version stays the same, so this harness also keys its
    // cache on the build of the command (which contains the compiler).
    let build = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let caches = workspace_root().join("target/wasi-testsuite-cache");
    if let Ok(old) = std::fs::read_dir(&caches) {
        for d in old
            .flatten()
            .filter(|d| d.file_name() != build.to_string().as_str())
        {
            let _ = std::fs::remove_dir_all(d.path()).or_else(|_| std::fs::remove_file(d.path()));
        }
    }
    let cache = caches.join(build.to_string());
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                if let Err(why) = run_case(case, &bin, &cache) {
                    println!("FAIL {}: {why}", case.name);
                    failures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(case.name.clone());
                }
            });
        }
    });
    for e in &failed_to_load {
        println!("FAIL {e}");
    }
    let failed = failures
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .len()
        + failed_to_load.len();
    let passed = cases.len() + failed_to_load.len() - failed;
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
