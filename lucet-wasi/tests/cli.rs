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
fn everything_after_the_module_goes_to_the_guest() {
    // Options of lucet-wasi's own, after the module, are the guest's arguments.
    let o = run_guest(&["--entrypoint", "exit_args_count"], &["--version", "--help", "--dir", "x"]);
    assert_eq!(o.status.code(), Some(5), "argv[0] plus four: {}", stderr(&o));
    // A `--` right after the module only marks where they begin.
    let o = run_guest(&["--entrypoint", "exit_args_count"], &["--", "--version"]);
    assert_eq!(o.status.code(), Some(2), "argv[0] plus one: {}", stderr(&o));
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
fn dir_accepts_wasmtime_forms() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("data.txt"), "file contents").unwrap();
    let host = tmp.path().to_str().unwrap().to_owned();
    for (spec, name) in [
        (format!("{host}::/sandbox"), "/sandbox"),
        (host.clone(), host.as_str()),
    ] {
        let o = run_guest(&["--dir", &spec, "--entrypoint", "read_file"], &[]);
        assert_eq!(o.status.code(), Some(0), "--dir {spec}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{name}\nfile contents"), "--dir {spec}");
    }
    // Lucet's HOST:GUEST: as in Wasmtime, a single `:` is part of the path, and the
    // error says how to write what was probably meant.
    let spec = format!("{host}:guest");
    let o = run_guest(&["--dir", &spec, "--entrypoint", "read_file"], &[]);
    assert_eq!(o.status.code(), Some(2), "--dir {spec}: {}", stderr(&o));
    assert_one_line_error(&o, &format!("--dir {host}::guest"));
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

fn listing() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/listing.wat")
}

/// Runs `listing.wat` in `dir` with `opts`, with the host environment `env` only.
fn run_listing(dir: &Path, opts: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(opts)
        .arg(listing())
        .stdin(Stdio::null())
        .output()
        .expect("run lucet-wasi")
}

/// `--dir` splits at `::` only, as Wasmtime 49 does: `a::b` shows `a` as `b`, and
/// `we:ird` is a directory of that name.
#[test]
fn dir_splits_only_at_a_double_colon() {
    let tmp = tempfile::tempdir().unwrap();
    for d in ["a", "we:ird", "data:ro", "a:"] {
        std::fs::create_dir(tmp.path().join(d)).unwrap();
    }
    for (spec, seen) in [
        ("a::b", "b"),
        ("we:ird", "we:ird"),
        ("data:ro", "data:ro"),
        ("a::/x", "/x"),
        ("a:::b", ":b"),
        ("we:ird::c:d", "c:d"),
    ] {
        let o = run_listing(tmp.path(), &["--dir", spec], &[]);
        assert_eq!(o.status.code(), Some(0), "--dir {spec}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("preopen {seen}\n"), "--dir {spec}");
    }
    let o = run_listing(tmp.path(), &["--dir", "a::b", "--dir", "we:ird"], &[]);
    assert_eq!(stdout(&o), "preopen b\npreopen we:ird\n");

    let o = run_listing(tmp.path(), &["--dir", "a::"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "empty");
    let o = run_listing(tmp.path(), &["--dir", "nosuch:guest"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "write --dir nosuch::guest");
    assert_eq!(
        stderr(&o).matches("os error 2").count(),
        1,
        "the cause is said once: {}",
        stderr(&o)
    );
}

/// `--env K=V` sets a variable; `--env K` passes the host's K, and nothing when the
/// host has no K (as Wasmtime 49 does).
#[test]
fn env_sets_or_inherits_one_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run_listing(
        tmp.path(),
        &[
            "--env", "FOO", "--env", "X=1", "--env", "EMPTY=", "--env", "Z=a=b", "--env", "UNSET",
        ],
        &[("FOO", "from host"), ("OTHER", "not passed")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "env FOO=from host\nenv X=1\nenv EMPTY=\nenv Z=a=b\n"
    );
    assert_eq!(stderr(&o), "");
    let o = run_listing(tmp.path(), &["--env", "K=1", "--env", "K=2"], &[]);
    assert_eq!(stdout(&o), "env K=2\n", "the last value wins");
    let o = run_listing(tmp.path(), &["--env", "=v"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, "name is empty");
}

/// `--invoke` prints each result on its own line, integers signed, floats as Rust
/// (and Wasmtime) print them.
#[test]
fn invoke_prints_results_as_wasmtime_does() {
    let tmp = tempfile::tempdir().unwrap();
    let invoke = |args: &[&str]| {
        let mut opts = vec!["--invoke"];
        opts.extend_from_slice(&args[..1]);
        let o = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
            .current_dir(tmp.path())
            .arg("--cache-dir")
            .arg(cache_dir())
            .args(&opts)
            .arg(listing())
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(invoke(&["two"]), "-1\n7\n");
    assert_eq!(invoke(&["none"]), "");
    assert_eq!(invoke(&["f32", "0.1"]), "0.1\n");
    assert_eq!(invoke(&["f32", "nan"]), "NaN\n");
    assert_eq!(invoke(&["f32", "-inf"]), "-inf\n");
}

/// Every exit status the README and `--help` promise.
#[test]
fn exit_statuses_are_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let status = |opts: &[&str], module: &Path, args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
            .arg("--cache-dir")
            .arg(cache_dir())
            .args(opts)
            .arg(module)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (o.status.code(), stderr(&o))
    };
    // The entry point returns: 0.
    assert_eq!(status(&[], &listing(), &[]).0, Some(0));
    // proc_exit(code): the code, of which the operating system keeps the low 8 bits.
    for (code, expected) in [("0", 0), ("3", 3), ("200", 200), ("300", 44)] {
        let (got, err) = status(&["--invoke", "exit"], &listing(), &[code]);
        assert_eq!(got, Some(expected), "proc_exit({code}): {err}");
        assert_eq!(err, "", "a guest's exit is not an error");
    }
    // A trap, in the entry point or in the start function: 125.
    assert_eq!(
        status(&["--entrypoint", "trap"], &guest(), &[]).0,
        Some(125)
    );
    let start_trap = tmp.path().join("start_trap.wat");
    std::fs::write(
        &start_trap,
        "(module (func $s unreachable) (start $s) (func (export \"_start\")))",
    )
    .unwrap();
    let (code, err) = status(&[], &start_trap, &[]);
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.starts_with("error:") && err.contains("trapped"),
        "{err}"
    );
    // --timeout: 124.
    assert_eq!(
        status(
            &["--timeout", "200ms", "--entrypoint", "spin"],
            &guest(),
            &[]
        )
        .0,
        Some(124)
    );
    // Usage, and modules that cannot be read, compiled, loaded or instantiated: 2.
    assert_eq!(status(&["--bogus"], &listing(), &[]).0, Some(2));
    assert_eq!(status(&[], &tmp.path().join("missing.so"), &[]).0, Some(2));
    assert_eq!(status(&["--invoke", "nope"], &listing(), &[]).0, Some(2));
    assert_eq!(
        status(&["--max-heap-size", "1KiB"], &listing(), &[]).0,
        Some(2)
    );
    let (code, err) = status(&["--stack-size", "200000GiB"], &listing(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--stack-size"), "{err}");
    // --help and --version: 0.
    assert_eq!(status(&["--help"], &listing(), &[]).0, Some(0));
}

/// The options listed by `--help`, each with the text that describes it.
fn options_of(help: &str) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with("--") || (t.starts_with('-') && t.get(2..4) == Some(", ")) {
            let name = t
                .split(|c: char| c.is_whitespace() || c == '<')
                .find(|w| w.starts_with("--"))
                .unwrap_or(t)
                .trim_end_matches(',')
                .to_owned();
            options.push((name, t.to_owned()));
        } else if let Some(last) = options.last_mut() {
            last.1.push(' ');
            last.1.push_str(t);
        }
    }
    options
}

/// Every option of `--help` says its default.
#[test]
fn help_gives_every_option_its_default() {
    let o = lucet_wasi(&["--help"]);
    let help = stdout(&o);
    let options = options_of(&help);
    assert!(options.len() >= 10, "{help}");
    for (name, text) in &options {
        if name == "--help" || name == "--version" {
            continue;
        }
        assert!(
            text.contains("[default: "),
            "{name} gives no default: {text}"
        );
    }
    for expected in [
        "[default: _start]",
        "[default: 4GiB]",
        "[default: 2MiB]",
        "HOST::GUEST",
    ] {
        assert!(help.contains(expected), "{expected} in {help}");
    }
}

/// `--invoke` runs a reactor's `_initialize` first, as Wasmtime does.
#[test]
fn invoke_initializes_a_reactor_first() {
    let tmp = tempfile::tempdir().unwrap();
    let reactor = tmp.path().join("reactor.wat");
    std::fs::write(
        &reactor,
        r#"(module
  (global $ready (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $ready (i32.const 1)))
  (func (export "ready") (result i32) (global.get $ready)))"#,
    )
    .unwrap();
    let o = lucet_wasi(&["--invoke", "ready", reactor.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1\n");
    let o = lucet_wasi(&["--invoke", "_initialize", reactor.to_str().unwrap()]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), ""));
}
