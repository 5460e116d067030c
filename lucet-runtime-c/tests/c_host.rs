//! `examples/c-host`: a host written in C, compiled with `cc` against `lucet.h` and
//! the shared library, runs the example guest and prints what it learned.

mod common;

use common::{build_c_program, compile_guest, repo_path};
use std::process::Command;

#[test]
fn the_c_host_example_runs_its_guest() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let guest = compile_guest(&repo_path("examples/c-host/guest.wasm"), dir.path());
    let host = dir.path().join("c-host");
    build_c_program(&[repo_path("examples/c-host/host.c")], &host);

    let out = Command::new(&host)
        .arg(&guest)
        .output()
        .expect("run the C host");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "c-host failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert_eq!(
        stdout,
        "Hello, world from the C host's guest!\n\
         add(5, 3) = 8\n\
         greeting() = \"Hello from guest memory\" (23 bytes at guest address 0x400)\n\
         host.log: the guest calls the host\n\
         call_host(7) = 43\n\
         run no_such_export: LUCET_ERR_SYMBOL_NOT_FOUND\n\
         second lucet_instance_free: LUCET_ERR_INVALID_HANDLE\n",
        "stderr:\n{stderr}"
    );
}

#[test]
fn the_c_host_reports_a_missing_module() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let host = dir.path().join("c-host");
    build_c_program(&[repo_path("examples/c-host/host.c")], &host);
    let out = Command::new(&host)
        .arg(dir.path().join("missing.so"))
        .output()
        .expect("run the C host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.starts_with("c-host: lucet_module_load_unresolved failed: lucet_module_load_unresolved: cannot load module")
            && stderr.contains("(LUCET_ERR_INVALID_MODULE)"),
        "{stderr}"
    );
}
