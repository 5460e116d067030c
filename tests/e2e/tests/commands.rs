//! The README's promise: `lucetc-wasi -o hello.so hello.wasm && lucet-wasi hello.so`
//! runs programs built by the standard Rust and C toolchains, with default limits.

use lucet_e2e_tests::{assert_output, repo_path, run, workspace_bin};
use std::path::PathBuf;
use std::process::Command;

/// Compiles a guest with the `lucetc-wasi` command, as a user would.
fn lucetc_wasi(rel: &str, dir: &tempfile::TempDir) -> PathBuf {
    let so = dir.path().join("hello.so");
    let out = run(Command::new(workspace_bin("lucetc", "lucetc-wasi")).arg("-o").arg(&so).arg(repo_path(rel)));
    assert_output(&out, 0, "");
    so
}

#[test]
fn hello_rust_prints_its_greeting() {
    let dir = tempfile::tempdir().unwrap();
    let so = lucetc_wasi("examples/hello-rust/hello-rust.wasm", &dir);
    let out = run(Command::new(workspace_bin("lucet-wasi", "lucet-wasi")).arg(&so));
    assert_output(&out, 0, "Hello, world!\n");
}

#[test]
fn hello_c_prints_its_greeting_and_exits_with_3() {
    let dir = tempfile::tempdir().unwrap();
    let so = lucetc_wasi("examples/hello-c/hello-c.wasm", &dir);
    let out = run(Command::new(workspace_bin("lucet-wasi", "lucet-wasi")).arg(&so));
    assert_output(&out, 3, "Hello, world from C!\n");
}
