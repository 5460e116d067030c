//! `lucetc-wasi --linker builtin` (the default) and `--linker system` produce shared
//! objects that run the example programs identically.

use lucet_e2e_tests::{assert_output, repo_path, run, workspace_bin};
use std::path::{Path, PathBuf};
use std::process::Command;

fn compile(rel: &str, linker: Option<&str>, dir: &Path) -> PathBuf {
    let so = dir.join(format!("{}.so", linker.unwrap_or("default")));
    let mut cmd = Command::new(workspace_bin("lucetc", "lucetc-wasi"));
    if let Some(linker) = linker {
        cmd.args(["--linker", linker]);
    }
    assert_output(&run(cmd.arg("-o").arg(&so).arg(repo_path(rel))), 0, "");
    so
}

fn same_run_with_every_linker(rel: &str, code: i32, stdout: &str) {
    let dir = tempfile::tempdir().unwrap();
    for linker in [None, Some("builtin"), Some("system")] {
        let so = compile(rel, linker, dir.path());
        let out = run(Command::new(workspace_bin("lucet-wasi", "lucet-wasi")).arg(&so));
        assert_output(&out, code, stdout);
    }
}

#[test]
fn hello_c_runs_alike_with_both_linkers() {
    same_run_with_every_linker("examples/hello-c/hello-c.wasm", 3, "Hello, world from C!\n");
}

#[test]
fn hello_rust_runs_alike_with_both_linkers() {
    same_run_with_every_linker("examples/hello-rust/hello-rust.wasm", 0, "Hello, world!\n");
}

#[test]
fn an_unknown_linker_is_refused_with_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(workspace_bin("lucetc", "lucetc"))
        .args(["--linker", "gold", "-o"])
        .arg(dir.path().join("x.so"))
        .arg(repo_path("examples/hello-c/hello-c.wasm")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("builtin") && stderr.contains("system"), "stderr: {stderr}");
    assert!(!dir.path().join("x.so").exists());
}
