//! The example host programs, run on the example guests: their output is part of
//! the documentation, so it is checked exactly.

use lucet_e2e_tests::{assert_output, compiled_guest, run, workspace_bin};
use std::process::Command;

const HELLO_RUST: &str = "examples/hello-rust/hello-rust.wasm";

#[test]
fn docs_example_with_the_documented_limits() {
    let so = compiled_guest(HELLO_RUST);
    let out = run(Command::new(workspace_bin("lucet-runtime-example", "lucet-runtime-example")).arg(&so));
    assert_output(&out, 0, "Hello, world!\nadd(5, 3) = 8\n");
}

#[test]
fn docs_example_with_default_limits() {
    let so = compiled_guest(HELLO_RUST);
    let out = run(Command::new(workspace_bin("lucet-runtime-example", "lucet-runtime-example"))
        .arg(&so)
        .arg("--default-limits"));
    assert_output(&out, 0, "Hello, world!\nadd(5, 3) = 8\n");
}

#[test]
fn docs_example_explains_a_missing_module() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(Command::new(workspace_bin("lucet-runtime-example", "lucet-runtime-example")).current_dir(dir.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("example.so does not exist") && stderr.contains("lucetc-wasi"), "stderr: {stderr}");
}

#[test]
fn calculator_runs_the_rust_and_c_plugins() {
    let add = compiled_guest("examples/calculator/plugins/add-rust/add.wasm");
    let mul = compiled_guest("examples/calculator/plugins/mul-c/mul.wasm");
    let out = run(Command::new(workspace_bin("calculator", "calculator")).arg(&add).arg(&mul));
    assert_output(&out, 0, "Plugin: add\nCalc: 1 + 2 = 3\nPlugin: mul\nCalc: 1 * 2 = 2\n");
}
