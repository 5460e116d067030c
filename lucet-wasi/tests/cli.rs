//! The `lucet-wasi` command: what it runs, what the guest sees, and the one-line
//! errors and exit statuses it gives for traps, timeouts and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn guest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/cli.wat")
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucet-wasi-cli-cache")
}

fn lucet_wasi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run lucet-wasi")
}

fn run_guest(opts: &[&str], guest_args: &[&str]) -> Output {
    let g = guest();
    let mut args: Vec<&str> = opts.to_vec();
    args.push(g.to_str().unwrap());
    args.extend_from_slice(guest_args);
    lucet_wasi(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error is one line, starts with `error:`, and has no panic or backtrace.
fn assert_one_line_error(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(e.lines().count(), 1, "one line expected, got: {e}");
    assert!(e.starts_with("error:"), "{e}");
    assert!(e.contains(needle), "expected {needle:?} in: {e}");
    assert!(!e.contains("panicked") && !e.contains("backtrace"), "{e}");
}

#[test]
fn runs_a_wat_file_and_caches_it() {
    let o = run_guest(&[], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello\n");
    let o = run_guest(&["--no-cache"], &[]);
    assert_eq!(stdout(&o), "hello\n");
    assert!(std::fs::read_dir(cache_dir()).unwrap().any(|e| e
        .unwrap()
        .path()
        .extension()
        .is_some_and(|x| x == "so")));
}

#[test]
fn exit_status_is_the_proc_exit_code_and_args_are_passed() {
    let o = run_guest(
        &["--entrypoint", "exit_args_count"],
        &["a", "--not-a-flag", "c"],
    );
    assert_eq!(
        o.status.code(),
        Some(4),
        "argv[0] plus three: {}",
        stderr(&o)
    );
}

#[test]
fn environment_is_empty_unless_given() {
    let o = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(["--entrypoint", "exit_env_count"])
        .arg(guest())
        .env("LUCET_WASI_SECRET", "1")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "no --env: empty environment; {}",
        stderr(&o)
    );
    let o = run_guest(
        &[
            "--entrypoint",
            "exit_env_count",
            "--env",
            "A=1",
            "--env",
            "B=2=3",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(["--entrypoint", "exit_env_count", "--inherit-env"])
        .arg(guest())
        .env("LUCET_WASI_SECRET", "1")
        .output()
        .unwrap();
    assert!(
        o.status.code().unwrap_or(0) > 0,
        "--inherit-env passes the host environment"
    );
}

#[test]
fn invoke_parses_arguments_by_signature() {
    let o = run_guest(&["--invoke", "add"], &["5", "3"]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "8\n"),
        "{}",
        stderr(&o)
    );
    let o = run_guest(&["--invoke", "add64"], &["-1", "0x10"]);
    assert_eq!(stdout(&o), "15\n");
    let o = run_guest(&["--invoke", "fmul"], &["1.5", "2"]);
    assert_eq!(stdout(&o), "3\n");
    let o = run_guest(&["--invoke", "add"], &["5"]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "takes 2 argument");
    let o = run_guest(&["--invoke", "add"], &["5", "three"]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "`three` is not an i32");
    let o = run_guest(&["--invoke", "nope"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "add");
}

#[test]
fn a_trap_is_one_line_and_status_125() {
    let o = run_guest(&["--entrypoint", "trap"], &[]);
    assert_eq!(o.status.code(), Some(125));
    assert_one_line_error(&o, "guest trapped");
    assert!(stderr(&o).contains("trap"), "{}", stderr(&o));
}

#[test]
fn a_timeout_stops_a_runaway_guest_with_status_124() {
    let start = Instant::now();
    let o = run_guest(&["--timeout", "500ms", "--entrypoint", "spin"], &[]);
    assert_eq!(o.status.code(), Some(124));
    assert_one_line_error(&o, "timeout");
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let o = lucet_wasi(&["--no-such-flag", "x.so"]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "--no-such-flag");
    let o = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "MODULE");
    let o = lucet_wasi(&["/no/such/module.so"]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "cannot read module");
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x01\0\0\0\x05garbage").unwrap();
    let o = lucet_wasi(&[junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "cannot compile");
    let o = lucet_wasi(&["--dir", "/no/such/dir::/", guest().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "/no/such/dir");
}

#[test]
fn a_module_from_another_format_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let so = tmp.path().join("cli.so");
    lucetc::Lucetc::try_from_bytes(std::fs::read(guest()).unwrap())
        .unwrap()
        .shared_object_file(&so)
        .unwrap();
    let mut bytes = std::fs::read(&so).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == lucet_module::MAGIC)
        .expect("descriptor magic")
        + 8;
    let bumped = lucet_module::FORMAT_VERSION + 1;
    bytes[at..at + 4].copy_from_slice(&bumped.to_le_bytes());
    std::fs::write(&so, &bytes).unwrap();
    let o = lucet_wasi(&[so.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "format version");
}

#[test]
fn dir_accepts_wasmtime_and_lucet_forms() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("data.txt"), "file contents").unwrap();
    let host = tmp.path().to_str().unwrap().to_owned();
    for (spec, name) in [
        (format!("{host}::/sandbox"), "/sandbox"),
        (format!("{host}:guest"), "guest"),
        (host.clone(), host.as_str()),
    ] {
        let o = run_guest(&["--dir", &spec, "--entrypoint", "read_file"], &[]);
        assert_eq!(o.status.code(), Some(0), "--dir {spec}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{name}\nfile contents"), "--dir {spec}");
    }
}

#[test]
fn version_and_help() {
    let o = lucet_wasi(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("lucet-wasi "));
    let o = lucet_wasi(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = stdout(&o);
    for flag in [
        "--dir",
        "--env",
        "--inherit-env",
        "--invoke",
        "--entrypoint",
        "--max-heap-size",
        "--stack-size",
        "--timeout",
        "--no-cache",
        "124",
        "125",
    ] {
        assert!(h.contains(flag), "--help mentions {flag}");
    }
}

#[test]
fn heap_and_stack_limits_apply() {
    let o = run_guest(&["--max-heap-size", "1MiB", "--invoke", "grow"], &["100"]);
    assert_eq!(
        stdout(&o),
        "-1\n",
        "growing past --max-heap-size fails: {}",
        stderr(&o)
    );
    let o = run_guest(&["--max-heap-size", "1MiB", "--invoke", "grow"], &["15"]);
    assert_eq!(stdout(&o), "1\n");
    let o = run_guest(&["--stack-size", "16MiB", "--invoke", "depth"], &["100000"]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "100000\n"),
        "{}",
        stderr(&o)
    );
    let o = run_guest(
        &["--stack-size", "1MiB", "--invoke", "depth"],
        &["10000000"],
    );
    assert_eq!(o.status.code(), Some(125));
    assert_one_line_error(&o, "StackOverflow");
    let o = run_guest(&["--max-heap-size", "lots"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "not a size");
}

#[test]
fn a_timeout_also_ends_a_guest_blocked_in_a_hostcall() {
    // stdin is a pipe that stays open and empty, so the guest's fd_read blocks in
    // the host, where the runtime's timeout cannot reach it.
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(["--timeout", "300ms", "--entrypoint", "read_stdin"])
        .arg(guest())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _keep_open = child.stdin.take();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(124));
    assert_one_line_error(&o, "--timeout");
    assert!(start.elapsed() < Duration::from_secs(30));
}

const ANSWER_1: &str = r#"(module (func (export "answer") (result i32) (i32.const 1)))"#;
const ANSWER_2: &str = r#"(module (func (export "answer") (result i32) (i32.const 2)))"#;

/// Runs `lucet-wasi --invoke answer MODULE` with exactly the environment given.
fn answer_with_env(module: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"));
    cmd.env_clear()
        .args(args)
        .args(["--invoke", "answer"])
        .arg(module);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().expect("run lucet-wasi")
}

fn cache_entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(d) => d
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "so"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_planted_cache_entry_is_not_run() {
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("answer.wat");
    std::fs::write(&module, ANSWER_1).unwrap();
    let cache = tmp.path().join("cache");
    let args = ["--cache-dir", cache.to_str().unwrap()];
    let o = answer_with_env(&module, &args, &[]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "1\n"),
        "{}",
        stderr(&o)
    );
    let entries = cache_entries(&cache);
    assert_eq!(entries.len(), 1, "{entries:?}");

    // Another module's code under this module's entry name, as the same user and
    // with the same mode: only the recorded hash of the input tells them apart.
    let planted = tmp.path().join("planted.so");
    lucetc::Lucetc::try_from_bytes(ANSWER_2)
        .unwrap()
        .shared_object_file(&planted)
        .unwrap();
    std::fs::write(&entries[0], std::fs::read(&planted).unwrap()).unwrap();
    let o = answer_with_env(&module, &args, &[]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "1\n"),
        "the planted module ran: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("not compiled from this module"),
        "{}",
        stderr(&o)
    );
    // Replaced: the next run uses the entry and says nothing.
    let o = answer_with_env(&module, &args, &[]);
    assert_eq!(stdout(&o), "1\n");
    assert_eq!(stderr(&o), "");
}

#[test]
fn a_cache_entry_others_can_write_is_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("answer.wat");
    std::fs::write(&module, ANSWER_1).unwrap();
    let cache = tmp.path().join("cache");
    let args = ["--cache-dir", cache.to_str().unwrap()];
    assert_eq!(stdout(&answer_with_env(&module, &args, &[])), "1\n");
    let entry = cache_entries(&cache).remove(0);
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = answer_with_env(&module, &args, &[]);
    assert_eq!(stdout(&o), "1\n", "{}", stderr(&o));
    assert!(
        stderr(&o).contains("writable by other users"),
        "{}",
        stderr(&o)
    );
    let mode = std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_cache_dir_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("answer.wat");
    std::fs::write(&module, ANSWER_1).unwrap();
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let o = answer_with_env(&module, &["--cache-dir", shared.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_one_line_error(&o, "writable by other users");
    assert!(stderr(&o).contains("--no-cache"), "{}", stderr(&o));
    assert!(cache_entries(&shared).is_empty());
    // --no-cache needs no directory at all.
    let o = answer_with_env(
        &module,
        &["--no-cache", "--cache-dir", shared.to_str().unwrap()],
        &[],
    );
    assert_eq!(stdout(&o), "1\n", "{}", stderr(&o));
}

#[test]
fn the_cache_is_per_user_and_never_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("answer.wat");
    std::fs::write(&module, ANSWER_1).unwrap();
    let shared_tmp = tmp.path().join("tmp");
    std::fs::create_dir(&shared_tmp).unwrap();

    // Neither HOME nor XDG_CACHE_HOME: compiled privately, nothing left in TMPDIR.
    let o = answer_with_env(&module, &[], &[("TMPDIR", &shared_tmp)]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "1\n"),
        "{}",
        stderr(&o)
    );
    let left: Vec<_> = std::fs::read_dir(&shared_tmp).unwrap().collect();
    assert!(
        left.is_empty(),
        "a run without a cache left {left:?} in the shared temporary directory"
    );

    // HOME: ~/.cache/lucet, private.
    let home = tmp.path().join("home");
    let o = answer_with_env(&module, &[], &[("TMPDIR", &shared_tmp), ("HOME", &home)]);
    assert_eq!(stdout(&o), "1\n", "{}", stderr(&o));
    let dir = home.join(".cache/lucet");
    assert_eq!(cache_entries(&dir).len(), 1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // XDG_CACHE_HOME wins over HOME.
    let xdg = tmp.path().join("xdg");
    let o = answer_with_env(
        &module,
        &[],
        &[
            ("TMPDIR", &shared_tmp),
            ("HOME", &home),
            ("XDG_CACHE_HOME", &xdg),
        ],
    );
    assert_eq!(stdout(&o), "1\n", "{}", stderr(&o));
    assert_eq!(cache_entries(&xdg.join("lucet")).len(), 1);
    assert!(std::fs::read_dir(&shared_tmp).unwrap().next().is_none());
}
