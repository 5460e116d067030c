//! Shared by the tests that build C programs against the library.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where cargo put this crate's shared and static libraries: the `deps` directory the
/// running test was built into (`<target>/<profile>/deps/<test>`). `cargo build` also
/// copies them up to `<target>/<profile>`, but `cargo test` alone does not, and a copy
/// there may be left from an older build.
pub fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.parent().expect("tests live in <target>/<profile>/deps").to_path_buf()
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Compiles a guest (`.wasm` or `.wat`) into a `.so` in `dir`.
pub fn compile_guest(src: &Path, dir: &Path) -> PathBuf {
    let stem = src
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a file name");
    let out = dir.join(format!("{stem}.so"));
    lucetc::Lucetc::new(src)
        .and_then(|c| c.shared_object_file(&out))
        .unwrap_or_else(|e| panic!("lucetc failed on {}: {e}", src.display()));
    out
}

/// Compiles and links a C program against the shared library.
pub fn build_c_program(sources: &[PathBuf], out: &Path) {
    let lib = library_dir();
    assert!(
        lib.join("liblucet_runtime_c.so").exists(),
        "{} was not built; `cargo test -p lucet-runtime-c` builds it",
        lib.join("liblucet_runtime_c.so").display()
    );
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(out)
        .arg("-I")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
        .args(sources)
        .arg("-L")
        .arg(&lib)
        .arg("-llucet_runtime_c")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run cc (the C compiler Rust itself links with): {e}"));
    assert!(
        status.status.success(),
        "cc failed to build {}:\n{}",
        out.display(),
        String::from_utf8_lossy(&status.stderr)
    );
}
