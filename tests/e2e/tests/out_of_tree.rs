//! A host crate outside the workspace (`tests/out-of-tree-host`) that depends on
//! lucet-runtime and lucet-wasi by path builds with plain `cargo build` — no
//! `.cargo/config`, no `-rdynamic` — and runs WASI modules; its second program, a
//! plugin host written as for the original Lucet, runs unchanged against Rust and C
//! guests.

use lucet_e2e_tests::{assert_output, cargo, compiled_guest, repo_path, run, scratch_dir};
use object::{Object, ObjectSymbol};
use std::path::PathBuf;

/// Builds the crate once per test process and returns the directory of its programs.
fn build_out_of_tree_host() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_out_of_tree_host_once).clone()
}

fn build_out_of_tree_host_once() -> PathBuf {
    let manifest_dir = repo_path("tests/out-of-tree-host");
    assert!(!manifest_dir.join(".cargo").exists(), "the out-of-tree host must not need a .cargo/config of its own");
    // The same dependency versions as the workspace, so the build needs no
    // registry access and compiles what the workspace already tested. Cargo
    // drops the entries this crate does not use.
    std::fs::copy(repo_path("Cargo.lock"), manifest_dir.join("Cargo.lock")).expect("copy Cargo.lock");
    let target = scratch_dir("out-of-tree-host");
    let out = run(cargo()
        // Cargo reads `.cargo/config.toml` from the working directory upwards;
        // starting outside the repository keeps the workspace's out of the build.
        .current_dir(std::env::temp_dir())
        .args(["build", "--quiet", "--manifest-path"])
        .arg(manifest_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        // Whatever flags the test run was built with must not reach this build:
        // an empty CARGO_ENCODED_RUSTFLAGS overrides every other source of rustflags.
        .env("CARGO_ENCODED_RUSTFLAGS", "")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS"));
    assert!(
        out.status.success(),
        "`cargo build` of tests/out-of-tree-host failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug")
}

#[test]
fn out_of_tree_host_runs_wasi_programs_without_linker_flags() {
    let host = build_out_of_tree_host().join("out-of-tree-host");

    // Had the executable been linked with -rdynamic (or had the hostcalls been
    // found through the dynamic linker some other way), the WASI hostcalls would
    // be in its dynamic symbol table.
    let bytes = std::fs::read(&host).expect("read the host executable");
    let exe = object::File::parse(&*bytes).expect("parse the host executable");
    let exported: Vec<String> = exe
        .dynamic_symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .filter(|n| n.starts_with("hostcall_"))
        .collect();
    assert!(exported.is_empty(), "the host exports hostcalls dynamically: {exported:?}");

    let hello_rust = compiled_guest("examples/hello-rust/hello-rust.wasm");
    assert_output(&run(std::process::Command::new(&host).arg(&hello_rust)), 0, "Hello, world!\n");

    let hello_c = compiled_guest("examples/hello-c/hello-c.wasm");
    assert_output(&run(std::process::Command::new(&host).arg(&hello_c)), 3, "Hello, world from C!\n");
}

#[test]
fn a_lucet_era_plugin_host_runs_unchanged_against_rust_and_c_guests() {
    let host = build_out_of_tree_host().join("lucet-style");
    for (guest, language) in [
        ("tests/out-of-tree-host/guests/rust/lucet-style-guest.wasm", "Rust"),
        ("tests/out-of-tree-host/guests/c/lucet-style-guest.wasm", "C"),
    ] {
        let module = compiled_guest(guest);
        assert_output(
            &run(std::process::Command::new(&host).arg(&module)),
            0,
            &format!(
                "Hello from the {language} guest\n\
                 alloc_string() = \"a string the {language} guest allocated\"\n\
                 live strings: 1\n\
                 after release_string: 0\n\
                 release_string(usize::MAX) is refused\n"
            ),
        );
    }
}
