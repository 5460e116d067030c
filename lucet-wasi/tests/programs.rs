//! Ordinary programs built by the standard toolchains (Rust `std::fs`/`std::env`/
//! `println!`, C `fopen`/`fread`/`printf`), run by the `lucet-wasi` command with a
//! preopened directory. Their sources and `build.sh` are in `tests/guests/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn guest(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guests")
        .join(name)
}

/// `tmp/escape.txt` outside, `tmp/box/` with `input.txt` and `out/`, preopened as `.`.
fn run(program: &str, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let bx = tmp.path().join("box");
    std::fs::create_dir_all(bx.join("out")).unwrap();
    std::fs::write(bx.join("input.txt"), "hello file\n").unwrap();
    std::fs::write(tmp.path().join("escape.txt"), "secret").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucet-wasi-programs-cache"))
        .args(extra)
        .arg("--dir")
        .arg(format!("{}::.", bx.display()))
        .arg(guest(program))
        .arg("input.txt")
        .env("HOST_ONLY", "must not be seen")
        .output()
        .unwrap();
    (out, tmp)
}

#[test]
fn rust_std_fs_program() {
    let (out, tmp) = run("fs-rust.wasm", &["--env", "GREETING=hi"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(7),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "read 11 bytes: hello file\nentries: input.txt out\nenv: [GREETING=hi]\nescape: refused\n"
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("box/out/copy.txt")).unwrap(),
        "hello file\n"
    );
}

#[test]
fn c_stdio_program() {
    let (out, tmp) = run("fs-c.wasm", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(5),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "read 11 bytes: hello file\nescape: refused\n");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("box/out/copy.txt")).unwrap(),
        "hello file\n"
    );
}

/// A program whose innermost of three frames throws (the shape of C++ built with
/// `-fwasm-exceptions`): every frame's cleanup runs and rethrows, and `main` catches
/// and prints the message.
#[test]
fn exception_thrown_across_frames_is_caught_and_printed() {
    let binary = std::fs::read(guest("exceptions.wasm")).unwrap();
    assert_eq!(
        binary,
        wat::parse_file(guest("exceptions/throw.wat")).unwrap(),
        "exceptions.wasm is stale: rebuild it with tests/guests/build.sh"
    );
    let (out, _tmp) = run("exceptions.wasm", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "entering level 1\nentering level 2\nentering level 3\n\
         cleanup level 3\ncleanup level 2\ncleanup level 1\n\
         caught in main: out of range\n"
    );
}
