//! The command line: the summary line, the exit status and the JSON form.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("scripts")
        .join(name)
}

fn run(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lucet-spectest"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn passing_script_exits_zero_with_summary_last() {
    let pass = script("must_pass.wast");
    let (code, stdout, _) = run(&[pass.as_os_str()]);
    assert_eq!(code, 0, "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    assert!(
        stdout.lines().next().unwrap().contains("must_pass.wast: "),
        "{stdout}"
    );
}

#[test]
fn failures_are_listed_with_file_and_line_and_exit_nonzero() {
    let fail = script("must_fail.wast");
    let (code, stdout, _) = run(&[fail.as_os_str()]);
    assert_eq!(code, 1);
    assert!(stdout.contains("must_fail.wast:12:2: assert_return: result 0: expected (i32.const 2), got (i32.const 1)"), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("0 passed, "),
        "{stdout}"
    );
}

#[test]
fn directories_are_searched_and_json_counts_match() {
    let dir = script("");
    let (code, stdout, _) = run(&["--json".as_ref(), dir.as_os_str()]);
    assert_eq!(code, 1, "must_fail.wast is in the directory");
    assert!(
        stdout.trim_start().starts_with('{') && stdout.trim_end().ends_with('}'),
        "{stdout}"
    );
    for name in ["must_pass.wast", "must_fail.wast", "partly_unparsable.wast"] {
        assert!(stdout.contains(name), "{name} missing from {stdout}");
    }
    assert!(
        stdout.contains("\"directive\": \"assert_return\""),
        "{stdout}"
    );
}

#[test]
fn missing_path_is_a_clear_error() {
    let (code, _, stderr) = run(&["/nonexistent/dir".as_ref()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/dir"), "{stderr}");
}
