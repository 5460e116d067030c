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
    // runaway.wast is among the scripts: keep its timeout short.
    let out = Command::new(env!("CARGO_BIN_EXE_lucet-spectest"))
        .args(args)
        .env(lucet_spectest::TIMEOUT_ENV, "2")
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

#[test]
fn a_runaway_call_times_out_and_fails_alone() {
    let runaway = script("runaway.wast");
    let out = Command::new(env!("CARGO_BIN_EXE_lucet-spectest"))
        .arg(&runaway)
        .env(lucet_spectest::TIMEOUT_ENV, "0.5")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("runaway.wast:6:2: assert_return"),
        "{stdout}"
    );
    assert!(stdout.contains("timed out"), "{stdout}");
    // A terminated instance must be reset before it runs again, which would undo
    // the script's state, so the later call on it fails too.
    assert_eq!(
        stdout.lines().last().unwrap(),
        "0 passed, 2 failed",
        "{stdout}"
    );
}

#[test]
fn help_gives_every_option_its_default() {
    let (code, help, _) = run(&["--help".as_ref()]);
    assert_eq!(code, 0);
    let mut options: Vec<String> = Vec::new();
    for line in help.lines().map(str::trim_start) {
        if line.starts_with("--") || (line.starts_with('-') && line.get(2..4) == Some(", ")) {
            options.push(line.to_owned());
        } else if let Some(last) = options.last_mut() {
            last.push(' ');
            last.push_str(line);
        }
    }
    assert!(options.len() >= 4, "{help}");
    for text in options
        .iter()
        .filter(|t| !t.contains("--help") && !t.contains("--version"))
    {
        assert!(text.contains("[default: "), "no default: {text}");
    }
}
