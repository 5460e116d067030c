//! The WASI context as a guest sees it: exactly the arguments and environment it
//! was given, captured standard streams, exit codes, EFAULT for bad pointers, and
//! clear errors from the builder and from a missing context.

mod common;

use common::{call, put, SCRATCH};
use lucet_runtime::{Error, TerminationDetails, ValType};
use lucet_wasi::types::Errno;
use lucet_wasi::{ExitCode, OutputCapture, WasiCtxBuilder};

fn strings_at(heap: &[u8], count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let at = 2048 + 4 * i;
            let ptr = u32::from_le_bytes(heap[at..at + 4].try_into().unwrap()) as usize;
            let end = ptr + heap[ptr..].iter().position(|b| *b == 0).unwrap();
            String::from_utf8(heap[ptr..end].to_vec()).unwrap()
        })
        .collect()
}

#[test]
fn args_are_exactly_those_given() {
    let ctx = WasiCtxBuilder::new()
        .arg("prog")
        .args(["a b", "", "ü"])
        .build()
        .unwrap();
    let mut inst = common::instance("basics.wat", ctx);
    assert_eq!(call(&mut inst, "args_count", &[]), 4);
    assert_eq!(
        call(&mut inst, "args_buf_size", &[]),
        ("prog a b  ü".len() + 1) as i32
    );
    assert_eq!(call(&mut inst, "args_get", &[]), 0);
    assert_eq!(strings_at(inst.heap(), 4), ["prog", "a b", "", "ü"]);
}

#[test]
fn environment_is_empty_unless_given() {
    std::env::set_var("LUCET_WASI_TEST_SECRET", "do-not-leak");
    let mut inst = common::instance("basics.wat", WasiCtxBuilder::new().build().unwrap());
    assert_eq!(call(&mut inst, "env_count", &[]), 0);

    let ctx = WasiCtxBuilder::new()
        .env("A", "1")
        .envs([("B", "x=y"), ("A", "2")])
        .build()
        .unwrap();
    let mut inst = common::instance("basics.wat", ctx);
    assert_eq!(call(&mut inst, "env_count", &[]), 2);
    assert_eq!(call(&mut inst, "env_get", &[]), 0);
    assert_eq!(strings_at(inst.heap(), 2), ["B=x=y", "A=2"]);

    let ctx = WasiCtxBuilder::new().inherit_env().build().unwrap();
    let mut inst = common::instance("basics.wat", ctx);
    let n = call(&mut inst, "env_count", &[]) as usize;
    assert_eq!(call(&mut inst, "env_get", &[]), 0);
    assert!(strings_at(inst.heap(), n)
        .iter()
        .any(|e| e == "LUCET_WASI_TEST_SECRET=do-not-leak"));
}

#[test]
fn stdout_and_stderr_can_be_captured_and_stdin_supplied() {
    let out = OutputCapture::new();
    let err = OutputCapture::new();
    let ctx = WasiCtxBuilder::new()
        .stdout(out.clone())
        .stderr(err.clone())
        .stdin(std::io::Cursor::new(b"typed input".to_vec()))
        .build()
        .unwrap();
    let mut inst = common::instance("basics.wat", ctx);
    let (p, l) = put(&mut inst, SCRATCH, "to stdout");
    assert_eq!(call(&mut inst, "write", &[1.into(), p, l]), 0);
    assert_eq!(call(&mut inst, "count", &[]), 9);
    let (p, l) = put(&mut inst, SCRATCH, "to stderr");
    assert_eq!(call(&mut inst, "write", &[2.into(), p, l]), 0);
    assert_eq!(out.contents(), b"to stdout");
    assert_eq!(err.contents(), b"to stderr");
    assert_eq!(call(&mut inst, "read", &[0.into()]), 0);
    assert_eq!(call(&mut inst, "count", &[]), 11);
    assert_eq!(&inst.heap()[4096..4107], b"typed input");
    assert_eq!(call(&mut inst, "read", &[0.into()]), 0);
    assert_eq!(call(&mut inst, "count", &[]), 0, "end of input");
    // Nothing is connected by default: stdin is empty, output is discarded.
    let mut inst = common::instance("basics.wat", WasiCtxBuilder::new().build().unwrap());
    assert_eq!(call(&mut inst, "read", &[0.into()]), 0);
    assert_eq!(call(&mut inst, "count", &[]), 0);
    // Unknown descriptors are EBADF.
    let (p, l) = put(&mut inst, SCRATCH, "x");
    assert_eq!(
        call(&mut inst, "write", &[7.into(), p, l]),
        Errno::BADF.0 as i32
    );
}

#[test]
fn proc_exit_ends_the_run_with_the_code() {
    let mut inst = common::instance("basics.wat", WasiCtxBuilder::new().build().unwrap());
    let err = inst
        .run("exit", &[7.into()])
        .expect_err("proc_exit ends the run");
    assert_eq!(lucet_wasi::exit_code(&err), Some(7));
    match &err {
        Error::RuntimeTerminated(TerminationDetails::Provided(d)) => {
            assert_eq!(d.downcast_ref::<ExitCode>(), Some(&ExitCode(7)));
        }
        other => panic!("unexpected {other}"),
    }
    // The instance runs again after a reset.
    inst.reset().unwrap();
    assert_eq!(call(&mut inst, "clock", &[0.into()]), 0);
}

#[test]
fn bad_pointers_are_efault() {
    let mut inst = common::instance("basics.wat", WasiCtxBuilder::new().build().unwrap());
    assert_eq!(
        call(&mut inst, "write_out_of_bounds", &[]),
        Errno::FAULT.0 as i32
    );
    assert_eq!(
        call(&mut inst, "clock_out_of_bounds", &[]),
        Errno::FAULT.0 as i32
    );
}

#[test]
fn clocks_and_random() {
    let mut inst = common::instance("basics.wat", WasiCtxBuilder::new().build().unwrap());
    assert_eq!(call(&mut inst, "clock", &[0.into()]), 0);
    let wall = inst
        .run("clock_value", &[])
        .unwrap()
        .unwrap_returned()
        .as_u64();
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(
        host.abs_diff(wall) < 60_000_000_000,
        "realtime clock is the host's"
    );
    assert_eq!(call(&mut inst, "clock", &[1.into()]), 0);
    assert_eq!(
        call(&mut inst, "clock", &[99.into()]),
        Errno::INVAL.0 as i32
    );
    assert_eq!(call(&mut inst, "random", &[64.into()]), 0);
    assert!(inst.heap()[4096..4160].iter().any(|b| *b != 0));
    assert_eq!(call(&mut inst, "random", &[0.into()]), 0);
}

#[test]
fn missing_context_terminates_with_a_clear_message() {
    let module = lucet_runtime::DlModule::load(common::compile("basics.wat")).unwrap();
    let region = lucet_runtime::MmapRegion::create(1, &lucet_runtime::Limits::default()).unwrap();
    let mut inst = lucet_runtime::Region::new_instance(&*region, module).unwrap();
    let err = inst.run("args_count", &[]).expect_err("no WasiCtx");
    let msg = err.to_string();
    assert!(matches!(err, Error::RuntimeTerminated(_)), "{msg}");
    assert!(msg.contains("WasiCtxBuilder"), "{msg}");
}

#[test]
fn builder_rejects_bad_input_clearly() {
    let e = WasiCtxBuilder::new()
        .arg("a\0b")
        .build()
        .err()
        .expect("NUL in an argument");
    assert!(
        matches!(e, lucet_wasi::Error::ArgContainsNul { index: 0, .. }),
        "{e}"
    );
    let e = WasiCtxBuilder::new()
        .env("A=B", "c")
        .build()
        .err()
        .expect("= in a name");
    assert!(e.to_string().contains("contains '='"), "{e}");
    let e = WasiCtxBuilder::new()
        .preopened_dir("/no/such/dir", "/")
        .build()
        .err()
        .expect("missing dir");
    let msg = e.to_string();
    assert!(
        msg.contains("/no/such/dir") && msg.contains("exists"),
        "{msg}"
    );
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<lucet_wasi::Error>();
}

#[test]
fn hostcall_signatures_match_the_witx() {
    use ValType::{I32, I64};
    let defs = lucet_wasi::wasi_hostcalls();
    let sig = |module: &str, name: &str| {
        let d = defs
            .iter()
            .find(|d| d.module == module && d.name == name)
            .unwrap_or_else(|| panic!("{module}::{name}"));
        (d.params.to_vec(), d.results.to_vec())
    };
    let p1 = "wasi_snapshot_preview1";
    assert_eq!(defs.iter().filter(|d| d.module == p1).count(), 46);
    assert_eq!(
        sig(p1, "path_open"),
        (vec![I32, I32, I32, I32, I32, I64, I64, I32, I32], vec![I32])
    );
    assert_eq!(sig(p1, "fd_seek"), (vec![I32, I64, I32, I32], vec![I32]));
    assert_eq!(
        sig(p1, "fd_pread"),
        (vec![I32, I32, I32, I64, I32], vec![I32])
    );
    assert_eq!(sig(p1, "clock_time_get"), (vec![I32, I64, I32], vec![I32]));
    assert_eq!(
        sig(p1, "path_filestat_set_times"),
        (vec![I32, I32, I32, I32, I64, I64, I32], vec![I32])
    );
    assert_eq!(
        sig(p1, "fd_fdstat_set_rights"),
        (vec![I32, I64, I64], vec![I32])
    );
    assert_eq!(
        sig(p1, "sock_recv"),
        (vec![I32, I32, I32, I32, I32, I32], vec![I32])
    );
    assert_eq!(sig(p1, "proc_exit"), (vec![I32], vec![]));
    assert_eq!(sig(p1, "sched_yield"), (vec![], vec![I32]));
    assert_eq!(
        sig("wasi_unstable", "fd_seek"),
        (vec![I32, I64, I32, I32], vec![I32])
    );
    assert!(defs
        .iter()
        .all(|d| d.module != "wasi_unstable" || d.name != "sock_accept"));
    // Registered with the runtime without any call beyond building a context.
    let _ = WasiCtxBuilder::new();
    assert!(lucet_runtime::lookup_hostcall(p1, "fd_write").is_some());
    assert!(lucet_runtime::lookup_hostcall("wasi_unstable", "fd_write").is_some());
}

#[test]
fn wasi_unstable_programs_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = OutputCapture::new();
    let ctx = WasiCtxBuilder::new()
        .stdout(out.clone())
        .preopened_dir(tmp.path(), ".")
        .build()
        .unwrap();
    let mut inst = common::instance("unstable.wat", ctx);
    assert_eq!(call(&mut inst, "hello", &[]), 0);
    assert_eq!(out.contents(), b"hello, snapshot 0\n");
    assert_eq!(
        inst.run("seek_end", &[])
            .unwrap()
            .unwrap_returned()
            .as_i64(),
        13
    );
    assert_eq!(
        inst.run("size", &[]).unwrap().unwrap_returned().as_i64(),
        18
    );
    assert_eq!(
        std::fs::read(tmp.path().join("out.txt")).unwrap(),
        b"hello, snapshot 0\n"
    );
    let err = inst.run("_start", &[]).expect_err("exits");
    assert_eq!(lucet_wasi::exit_code(&err), Some(9));
}

#[test]
fn poll_oneoff_waits_for_a_clock() {
    let mut inst = common::instance("basics.wat", WasiCtxBuilder::new().build().unwrap());
    let start = std::time::Instant::now();
    assert_eq!(call(&mut inst, "poll_sleep", &[50_000_000i64.into()]), 0);
    assert!(start.elapsed() >= std::time::Duration::from_millis(50));
    assert_eq!(call(&mut inst, "count", &[]), 1);
    assert_eq!(
        inst.run("event_userdata", &[])
            .unwrap()
            .unwrap_returned()
            .as_u64(),
        0x1234
    );
    assert_eq!(call(&mut inst, "event_type", &[]), 0, "a clock event");
    assert_eq!(
        call(&mut inst, "poll_none", &[]),
        Errno::INVAL.0 as i32,
        "no subscriptions"
    );
}

/// A reader that fails the way a buggy embedder's would.
struct PanickingReader;

impl std::io::Read for PanickingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        panic!("the embedder's reader broke")
    }
}

#[test]
fn a_panicking_hostcall_terminates_the_run_and_the_instance_recovers() {
    let ctx = WasiCtxBuilder::new()
        .stdin(PanickingReader)
        .build()
        .unwrap();
    let mut inst = common::instance("basics.wat", ctx);
    let err = inst
        .run("read", &[0.into()])
        .expect_err("the hostcall panicked");
    match &err {
        Error::RuntimeTerminated(TerminationDetails::HostcallPanic(msg)) => {
            assert!(msg.contains("the embedder's reader broke"), "{msg}")
        }
        other => panic!("unexpected {other}"),
    }
    // No borrow of the heap or the context is left behind.
    assert!(!inst.heap().is_empty());
    inst.reset().unwrap();
    assert_eq!(call(&mut inst, "clock", &[1.into()]), 0);
}
