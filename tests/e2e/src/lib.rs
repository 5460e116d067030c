//! Helpers for the end-to-end tests of the whole toolchain.
//!
//! The tests in `tests/` exercise what a user sees: the checked-in example guests
//! (`examples/`, rebuilt from source by `scripts/build-guests.sh`) compiled by
//! lucetc, run by the example host programs and by the `lucet-wasi` command, and a
//! host crate outside the workspace. Those programs live in other packages, so the
//! helpers here build them with cargo into the same target directory the tests
//! were built in; compiled guests are cached there by content hash.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// The root of the repository.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root exists")
}

/// The profile directory the running test was built into (e.g. `target/debug`),
/// found from the test executable's own path (`<profile dir>/deps/<test>`), so a
/// custom `CARGO_TARGET_DIR` is followed.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.parent().and_then(Path::parent).expect("test executables live in <target>/<profile>/deps").to_path_buf()
}

/// The target directory the running test was built into.
pub fn target_dir() -> PathBuf {
    profile_dir().parent().expect("a profile directory lives in the target directory").to_path_buf()
}

/// A scratch directory under the target directory, created if needed.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = target_dir().join("e2e").join(name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// The cargo that runs the tests.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn cargo_profile_args() -> Vec<String> {
    match profile_dir().file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => vec![],
        Some("release") => vec!["--release".into()],
        Some(other) => vec!["--profile".into(), other.into()],
    }
}

/// Builds the binary `bin` of the workspace package `package` and returns its path.
///
/// `cargo test` builds only the binaries of the package under test, so the
/// programs of other packages are built here, once per test process, with the
/// same profile and target directory.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    // Held across the build so that parallel tests do not start cargo twice.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let key = format!("{package}/{bin}");
    if !built.contains(&key) {
        let out = cargo()
            .current_dir(workspace_root())
            .args(["build", "--quiet"])
            .args(cargo_profile_args())
            .args(["-p", package, "--bin", bin])
            .env("CARGO_TARGET_DIR", target_dir())
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "building `{bin}` of package `{package}` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        built.push(key);
    }
    let path = profile_dir().join(bin);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A repository-relative path, e.g. `examples/hello-c/hello-c.wasm`.
pub fn repo_path(rel: &str) -> PathBuf {
    workspace_root().join(rel)
}

/// Compiles a guest (`.wasm` or `.wat`, repository-relative) into a `.so` with the
/// lucetc library, reusing an earlier result for the same input and compiler.
///
/// The cache key covers the input bytes and the compiler's own sources (lucetc
/// and the lucet-module contract), so every change to the compiler gets fresh
/// `.so` files while test binaries built from the same compiler share them.
pub fn compiled_guest(rel: &str) -> PathBuf {
    let src = repo_path(rel);
    let bytes = std::fs::read(&src).unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()));
    let mut h = Sha256::new();
    h.update(&bytes);
    h.update(compiler_fingerprint());
    let digest: String = h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    let stem = src.file_stem().and_then(|s| s.to_str()).unwrap_or("guest");
    let out = scratch_dir("so-cache").join(format!("{stem}-{digest}.so"));
    if !out.exists() {
        // lucetc writes through a temporary file and renames it, so tests compiling
        // the same guest at once never see a partial file.
        lucetc::Lucetc::try_from_bytes(&bytes)
            .and_then(|c| c.shared_object_file(&out))
            .unwrap_or_else(|e| panic!("lucetc failed on {rel}: {e}"));
    }
    out
}

/// A hash of everything that determines lucetc's output besides its input.
fn compiler_fingerprint() -> &'static [u8] {
    static FINGERPRINT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        let mut files = Vec::new();
        for dir in ["lucetc", "lucet-module"] {
            collect_files(&repo_path(dir).join("src"), &mut files);
            files.push(repo_path(dir).join("Cargo.toml"));
        }
        files.sort();
        let mut h = Sha256::new();
        h.update(lucet_module::FORMAT_VERSION.to_le_bytes());
        h.update(lucet_module::COMPILER_VERSION.as_bytes());
        for f in files {
            h.update(f.to_string_lossy().as_bytes());
            h.update(std::fs::read(&f).unwrap_or_default());
        }
        h.finalize().to_vec()
    })
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Runs a command to completion, capturing its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Asserts that `out` has the exit status and the exact stdout expected, and shows
/// everything it printed when it does not.
#[track_caller]
pub fn assert_output(out: &Output, code: i32, stdout: &str) {
    let got_stdout = String::from_utf8_lossy(&out.stdout);
    let got_stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(code) && got_stdout == stdout,
        "expected exit status {code} and stdout {stdout:?}\n\
         got {} and stdout {got_stdout:?}\nstderr:\n{got_stderr}",
        out.status
    );
}
