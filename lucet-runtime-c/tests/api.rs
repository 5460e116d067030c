//! The C API called from Rust the way a C host calls it: runs, traps, yields, kill
//! switches, memory, WASI, and every kind of bad handle and argument.

mod common;

use lucet_runtime_c::*;
use std::ffi::{c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use lucet_error_t::*;

const GUEST: &str = r#"
(module
  (import "host" "twice" (func $twice (param i32) (result i32)))
  (import "host" "pause" (func $pause (param i32) (result i32)))
  (import "host" "reenter" (func $reenter))
  (memory (export "memory") 1)
  (data (i32.const 16) "guest string\00")
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "add64") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "pair") (result i32 f64) (i32.const 7) (f64.const 2.5))
  (func (export "string") (result i32) (i32.const 16))
  (func (export "trap") (unreachable))
  (func (export "spin") (loop $l (br $l)))
  (func (export "twice_plus_one") (param i32) (result i32) (i32.add (call $twice (local.get 0)) (i32.const 1)))
  (func (export "pause_plus_one") (param i32) (result i32) (i32.add (call $pause (local.get 0)) (i32.const 1)))
  (func (export "reenter") (call $reenter))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
)
"#;

fn guest_so() -> &'static Path {
    static SO: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = SO.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let wat = dir.path().join("guest.wat");
        std::fs::write(&wat, GUEST).expect("write the guest");
        let so = common::compile_guest(&wat, dir.path());
        (dir, so)
    });
    path
}

fn message() -> String {
    // SAFETY: lucet_error_message returns a NUL-terminated string valid until the next
    // failing call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(lucet_error_message()) }
        .to_string_lossy()
        .into_owned()
}

#[track_caller]
fn ok(e: lucet_error_t) {
    assert_eq!(e, LUCET_OK, "{}", message());
}

#[track_caller]
fn fails(e: lucet_error_t, code: lucet_error_t, words: &str) -> String {
    assert_eq!(e, code, "expected {code:?}, message: {}", message());
    let m = message();
    assert!(
        m.contains(words),
        "the message {m:?} does not say {words:?}"
    );
    m
}

fn i32v(v: i32) -> lucet_val_t {
    lucet_val_t {
        r#type: LUCET_VAL_I32,
        of: lucet_val_of_t {
            i64: v as u32 as i64,
        },
    }
}

// SAFETY (for the callbacks): the runtime passes arrays of the lengths given.
unsafe extern "C" fn twice(
    user_data: *mut c_void,
    _vmctx: *mut lucet_vmctx_t,
    args: *const lucet_val_t,
    _nargs: usize,
    results: *mut lucet_val_t,
    _nresults: usize,
) -> i32 {
    // SAFETY: one argument and one result, as defined; user_data is a &AtomicUsize.
    unsafe {
        (*(user_data as *const AtomicUsize)).fetch_add(1, Ordering::SeqCst);
        (*results).of.i32 = (*args).of.i32 * 2;
    }
    0
}

unsafe extern "C" fn pause(
    _user_data: *mut c_void,
    vmctx: *mut lucet_vmctx_t,
    args: *const lucet_val_t,
    _nargs: usize,
    results: *mut lucet_val_t,
    _nresults: usize,
) -> i32 {
    let mut resumed = 0u64;
    // SAFETY: one argument, as defined; `resumed` is a valid u64.
    let rc = unsafe { lucet_vmctx_yield(vmctx, (*args).of.i32 as u64, &mut resumed) };
    if rc != LUCET_OK {
        return 1;
    }
    // SAFETY: one result, as defined.
    unsafe { (*results).of.i32 = resumed as i32 };
    0
}

thread_local! {
    /// The instance whose `reenter` export calls back into itself (host functions run
    /// on the thread that called `run`), and what that call returned.
    static REENTER_TARGET: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static REENTER_SEEN: std::cell::RefCell<Option<(lucet_error_t, String)>> = const { std::cell::RefCell::new(None) };
    static LEAKED_VMCTX: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

unsafe extern "C" fn reenter(
    _user_data: *mut c_void,
    vmctx: *mut lucet_vmctx_t,
    _args: *const lucet_val_t,
    _nargs: usize,
    _results: *mut lucet_val_t,
    _nresults: usize,
) -> i32 {
    let inst = REENTER_TARGET.with(|t| t.get()) as *mut lucet_instance_t;
    // SAFETY: valid arguments; the call must refuse because the instance is running.
    let rc =
        unsafe { lucet_instance_run(inst, c"add".as_ptr(), null(), 0, null_mut(), 0, null_mut()) };
    REENTER_SEEN.with(|s| *s.borrow_mut() = Some((rc, message())));
    LEAKED_VMCTX.with(|v| v.set(vmctx as usize));
    0
}

static FINALIZED: AtomicUsize = AtomicUsize::new(0);
unsafe extern "C" fn finalize(_user_data: *mut c_void) {
    FINALIZED.fetch_add(1, Ordering::SeqCst);
}

static CALLS: AtomicUsize = AtomicUsize::new(0);

struct Fixture {
    module: *mut lucet_module_t,
    region: *mut lucet_region_t,
    linker: *mut lucet_linker_t,
    instance: *mut lucet_instance_t,
}

fn fixture() -> Fixture {
    fixture_finalized_by(finalize)
}

/// A fixture whose `twice` import is finalized by `finalizer`.
fn fixture_finalized_by(finalizer: unsafe extern "C" fn(*mut c_void)) -> Fixture {
    let path = CString::new(guest_so().to_str().unwrap()).unwrap();
    let mut f = Fixture {
        module: null_mut(),
        region: null_mut(),
        linker: null_mut(),
        instance: null_mut(),
    };
    let i32s = [LUCET_VAL_I32];
    let host = c"host".as_ptr();
    // SAFETY: every pointer is valid for the call; the callbacks follow the contract.
    unsafe {
        ok(lucet_module_load_unresolved(path.as_ptr(), &mut f.module));
        let mut limits = std::mem::zeroed::<lucet_limits_t>();
        ok(lucet_limits_default(&mut limits));
        limits.heap_memory_size = 1 << 20;
        ok(lucet_region_create(1, &limits, &mut f.region));
        ok(lucet_linker_create(&mut f.linker));
        let calls = &CALLS as *const AtomicUsize as *mut c_void;
        ok(lucet_linker_define_func(
            f.linker,
            host,
            c"twice".as_ptr(),
            i32s.as_ptr(),
            1,
            i32s.as_ptr(),
            1,
            Some(twice),
            calls,
            Some(finalizer),
        ));
        ok(lucet_linker_define_func(
            f.linker,
            host,
            c"pause".as_ptr(),
            i32s.as_ptr(),
            1,
            i32s.as_ptr(),
            1,
            Some(pause),
            null_mut(),
            None,
        ));
        ok(lucet_linker_define_func(
            f.linker,
            host,
            c"reenter".as_ptr(),
            null(),
            0,
            null(),
            0,
            Some(reenter),
            null_mut(),
            None,
        ));
        ok(lucet_region_new_instance(
            f.region,
            f.module,
            f.linker,
            &mut f.instance,
        ));
    }
    f
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = lucet_instance_free(self.instance);
        let _ = lucet_linker_free(self.linker);
        let _ = lucet_region_free(self.region);
        let _ = lucet_module_free(self.module);
    }
}

fn run(
    inst: *mut lucet_instance_t,
    name: &str,
    args: &[lucet_val_t],
    results: &mut [lucet_val_t],
) -> (lucet_error_t, lucet_run_result_t) {
    let name = CString::new(name).unwrap();
    // SAFETY: zero is a valid lucet_run_result_t; every pointer is valid for the call.
    unsafe {
        let mut out = std::mem::zeroed::<lucet_run_result_t>();
        let e = lucet_instance_run(
            inst,
            name.as_ptr(),
            args.as_ptr(),
            args.len(),
            results.as_mut_ptr(),
            results.len(),
            &mut out,
        );
        (e, out)
    }
}

#[test]
fn runs_with_typed_arguments_and_results() {
    let f = fixture();
    let mut r = [i32v(0); 2];
    let (e, out) = run(f.instance, "add", &[i32v(5), i32v(3)], &mut r);
    ok(e);
    assert_eq!(
        (out.state, out.nresults, r[0].r#type),
        (LUCET_RUN_RETURNED, 1, LUCET_VAL_I32)
    );
    // SAFETY: the type says i32.
    assert_eq!(unsafe { r[0].of.i32 }, 8);

    // Several results, of two types.
    let (e, out) = run(f.instance, "pair", &[], &mut r);
    ok(e);
    assert_eq!((out.nresults, r[1].r#type), (2, LUCET_VAL_F64));
    // SAFETY: the types say i32 and f64.
    assert_eq!(unsafe { (r[0].of.i32, r[1].of.f64) }, (7, 2.5));

    // An i32 where an i64 is expected fits, as in Rust's `run`.
    let (e, _) = run(f.instance, "add64", &[i32v(-2), i32v(40)], &mut r);
    ok(e);
    // SAFETY: the result of add64 is an i64.
    assert_eq!(unsafe { r[0].of.i64 }, 38);

    // A host function with user data.
    let before = CALLS.load(Ordering::SeqCst);
    let (e, _) = run(f.instance, "twice_plus_one", &[i32v(20)], &mut r);
    ok(e);
    // SAFETY: i32 result.
    assert_eq!(unsafe { r[0].of.i32 }, 41);
    assert!(CALLS.load(Ordering::SeqCst) > before);
}

#[test]
fn bad_arguments_are_errors_that_say_what_to_do() {
    let f = fixture();
    let mut r = [i32v(0); 1];
    fails(
        run(f.instance, "add", &[i32v(1)], &mut r).0,
        LUCET_ERR_INVALID_ARGUMENT,
        "",
    );
    let f64v = lucet_val_t {
        r#type: LUCET_VAL_F64,
        of: lucet_val_of_t { f64: 1.0 },
    };
    fails(
        run(f.instance, "add", &[f64v, i32v(1)], &mut r).0,
        LUCET_ERR_INVALID_ARGUMENT,
        "",
    );
    let bogus = lucet_val_t {
        r#type: 77,
        of: lucet_val_of_t { i64: 0 },
    };
    fails(
        run(f.instance, "add", &[bogus, i32v(1)], &mut r).0,
        LUCET_ERR_INVALID_ARGUMENT,
        "argument 0 has type 77",
    );
    let (e, out) = run(f.instance, "pair", &[], &mut r);
    fails(
        e,
        LUCET_ERR_BUFFER_TOO_SMALL,
        "`pair` returns 2 values but results has room for 1",
    );
    assert_eq!(out.state, LUCET_RUN_NOT_STARTED);
    fails(
        run(f.instance, "nope", &[], &mut r).0,
        LUCET_ERR_SYMBOL_NOT_FOUND,
        "nope",
    );
    // SAFETY: a NULL entry point is what is being tested; the other pointers are valid.
    let e = unsafe { lucet_instance_run(f.instance, null(), null(), 0, null_mut(), 0, null_mut()) };
    fails(
        e,
        LUCET_ERR_INVALID_ARGUMENT,
        "lucet_instance_run: entrypoint is NULL",
    );
    // SAFETY: NULL args with a non-zero count is what is being tested.
    let e = unsafe {
        lucet_instance_run(
            f.instance,
            c"add".as_ptr(),
            null(),
            2,
            r.as_mut_ptr(),
            1,
            null_mut(),
        )
    };
    fails(
        e,
        LUCET_ERR_INVALID_ARGUMENT,
        "args is NULL but its length is 2",
    );
    // SAFETY: NULL out-parameters are what is being tested.
    unsafe {
        fails(
            lucet_module_load(c"x.so".as_ptr(), null_mut()),
            LUCET_ERR_INVALID_ARGUMENT,
            "out is NULL",
        );
        fails(
            lucet_limits_default(null_mut()),
            LUCET_ERR_INVALID_ARGUMENT,
            "out is NULL",
        );
        fails(
            lucet_module_load(c"/nonexistent.so".as_ptr(), &mut null_mut()),
            LUCET_ERR_INVALID_MODULE,
            "nonexistent",
        );
        let path = CString::new(guest_so().to_str().unwrap()).unwrap();
        fails(
            lucet_module_load(path.as_ptr(), &mut null_mut()),
            LUCET_ERR_UNRESOLVED_IMPORT,
            "lucet_module_load_unresolved",
        );
    }
}

#[test]
fn handles_that_are_null_freed_or_of_another_kind_are_reported() {
    let f = fixture();
    let mut r = [i32v(0); 1];
    fails(
        run(null_mut(), "add", &[], &mut r).0,
        LUCET_ERR_INVALID_HANDLE,
        "the instance handle is NULL",
    );
    fails(
        run(f.region as *mut lucet_instance_t, "add", &[], &mut r).0,
        LUCET_ERR_INVALID_HANDLE,
        "a region handle was passed where an instance handle is expected",
    );
    fails(
        run(0xdead_beef as *mut lucet_instance_t, "add", &[], &mut r).0,
        LUCET_ERR_INVALID_HANDLE,
        "is not an instance handle this library made",
    );

    let mut other: *mut lucet_instance_t = null_mut();
    // SAFETY: valid handles and out-pointer.
    ok(
        unsafe { lucet_region_new_instance(f.region, f.module, f.linker, &mut other) }
            .into_ok_or_region(),
    );
    if !other.is_null() {
        ok(lucet_instance_free(other));
    }
    let mut wasi: *mut lucet_wasi_ctx_t = null_mut();
    // SAFETY: a valid out-pointer.
    ok(unsafe { lucet_wasi_ctx_create(&mut wasi) });
    ok(lucet_wasi_ctx_free(wasi));
    fails(
        lucet_wasi_ctx_free(wasi),
        LUCET_ERR_INVALID_HANDLE,
        "double free",
    );
    fails(
        lucet_wasi_ctx_inherit_stdio(wasi),
        LUCET_ERR_INVALID_HANDLE,
        "already freed",
    );
    fails(
        lucet_module_free(null_mut()),
        LUCET_ERR_INVALID_HANDLE,
        "NULL",
    );
    fails(
        lucet_kill_switch_terminate(f.instance as *const lucet_kill_switch_t),
        LUCET_ERR_INVALID_HANDLE,
        "an instance handle was passed where a kill switch handle is expected",
    );

    // A vmctx outside its host function call.
    let (e, _) = run(f.instance, "reenter", &[], &mut []);
    ok(e);
    let leaked = LEAKED_VMCTX.with(|v| v.get()) as *mut lucet_vmctx_t;
    let mut byte = [0u8; 1];
    // SAFETY: the buffer is valid; the vmctx is stale, which must be detected.
    let e = unsafe { lucet_vmctx_read_memory(leaked, 0, byte.as_mut_ptr(), 1) };
    fails(e, LUCET_ERR_INVALID_HANDLE, "valid only during the call");
}

trait OkOrRegion {
    fn into_ok_or_region(self) -> lucet_error_t;
}
impl OkOrRegion for lucet_error_t {
    /// The fixture's region has one slot, which its instance holds.
    fn into_ok_or_region(self) -> lucet_error_t {
        if self == LUCET_ERR_REGION {
            LUCET_OK
        } else {
            self
        }
    }
}

#[test]
fn a_host_function_calling_back_into_its_running_instance_is_told_it_is_busy() {
    let f = fixture();
    REENTER_TARGET.with(|t| t.set(f.instance as usize));
    ok(run(f.instance, "reenter", &[], &mut []).0);
    let (rc, msg) = REENTER_SEEN
        .with(|s| s.borrow_mut().take())
        .expect("the host function ran");
    assert_eq!(rc, LUCET_ERR_BUSY);
    assert!(msg.contains("lucet_vmctx_"), "{msg}");
}

#[test]
fn traps_are_reported_with_their_code_and_leave_the_instance_usable() {
    let f = fixture();
    let (e, out) = run(f.instance, "trap", &[], &mut []);
    fails(e, LUCET_ERR_RUNTIME_FAULT, "unreachable");
    assert_eq!(
        (out.state, out.trap_code),
        (LUCET_RUN_FAULTED, LUCET_TRAP_UNREACHABLE)
    );
    let (e, out) = run(f.instance, "load", &[i32v(-1)], &mut [i32v(0)]);
    fails(e, LUCET_ERR_RUNTIME_FAULT, "");
    assert_eq!(out.trap_code, LUCET_TRAP_HEAP_OUT_OF_BOUNDS);
    let mut r = [i32v(0)];
    ok(run(f.instance, "add", &[i32v(1), i32v(2)], &mut r).0);
}

#[test]
fn yield_and_resume_on_another_thread_then_reset_abandons_a_yield() {
    let f = fixture();
    let mut r = [i32v(0)];
    let (e, out) = run(f.instance, "pause_plus_one", &[i32v(42)], &mut r);
    ok(e);
    assert_eq!((out.state, out.yielded_value), (LUCET_RUN_YIELDED, 42));
    fails(
        run(f.instance, "add", &[i32v(1), i32v(2)], &mut r).0,
        LUCET_ERR_INSTANCE_NOT_RETURNED,
        "",
    );

    let inst = f.instance as usize;
    let (e, out, value) = std::thread::spawn(move || {
        let mut r = [i32v(0)];
        // SAFETY: zeroed is a valid lucet_run_result_t; the pointers are valid.
        unsafe {
            let mut out = std::mem::zeroed::<lucet_run_result_t>();
            let e = lucet_instance_resume(
                inst as *mut lucet_instance_t,
                99,
                r.as_mut_ptr(),
                1,
                &mut out,
            );
            (e, out, r[0].of.i32)
        }
    })
    .join()
    .unwrap();
    ok(e);
    assert_eq!(
        (out.state, out.nresults, value),
        (LUCET_RUN_RETURNED, 1, 100)
    );
    // SAFETY: valid pointers.
    let e = unsafe { lucet_instance_resume(f.instance, 0, r.as_mut_ptr(), 1, null_mut()) };
    fails(e, LUCET_ERR_INSTANCE_NOT_YIELDED, "not yielded");

    let (_, out) = run(f.instance, "pause_plus_one", &[i32v(1)], &mut r);
    assert_eq!(out.state, LUCET_RUN_YIELDED);
    ok(lucet_instance_reset(f.instance));
    ok(run(f.instance, "add", &[i32v(1), i32v(2)], &mut r).0);
}

#[test]
fn a_kill_switch_stops_a_spinning_guest() {
    let f = fixture();
    let mut ks: *mut lucet_kill_switch_t = null_mut();
    // SAFETY: a valid out-pointer.
    ok(unsafe { lucet_instance_kill_switch(f.instance, &mut ks) });
    fails(
        lucet_kill_switch_terminate(ks),
        LUCET_ERR_NOT_RUNNING,
        "not running",
    );
    let ks_addr = ks as usize;
    let killer = std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(5));
        if lucet_kill_switch_terminate(ks_addr as *const lucet_kill_switch_t) == LUCET_OK {
            break;
        }
    });
    let (e, out) = run(f.instance, "spin", &[], &mut []);
    killer.join().unwrap();
    fails(e, LUCET_ERR_RUNTIME_TERMINATED, "kill switch");
    assert_eq!(out.state, LUCET_RUN_TERMINATED);
    fails(
        run(f.instance, "add", &[i32v(1), i32v(2)], &mut [i32v(0)]).0,
        LUCET_ERR_INSTANCE_NEEDS_RESET,
        "reset",
    );
    ok(lucet_instance_reset(f.instance));
    ok(run(f.instance, "add", &[i32v(1), i32v(2)], &mut [i32v(0)]).0);
    ok(lucet_kill_switch_free(ks));
    fails(
        lucet_kill_switch_free(ks),
        LUCET_ERR_INVALID_HANDLE,
        "double free",
    );
}

#[test]
fn memory_is_read_and_written_with_bounds_checks() {
    let f = fixture();
    let mut buf = [0u8; 32];
    let mut len = 0usize;
    // SAFETY: every buffer is valid for the length given.
    unsafe {
        ok(lucet_instance_read_string(
            f.instance,
            16,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut len,
        ));
        assert_eq!(&buf[..len + 1], b"guest string\0");
        fails(
            lucet_instance_read_string(f.instance, 16, buf.as_mut_ptr().cast(), 4, &mut len),
            LUCET_ERR_BUFFER_TOO_SMALL,
            "13 bytes",
        );
        assert_eq!(len, 12);
        ok(lucet_instance_write_memory(
            f.instance,
            100,
            b"abc".as_ptr(),
            3,
        ));
        ok(lucet_instance_read_memory(
            f.instance,
            99,
            buf.as_mut_ptr(),
            5,
        ));
        assert_eq!(&buf[..5], b"\0abc\0");
        fails(
            lucet_instance_read_memory(f.instance, 65534, buf.as_mut_ptr(), 4),
            LUCET_ERR_OUT_OF_BOUNDS,
            "65536-byte memory",
        );
        fails(
            lucet_instance_write_memory(f.instance, u32::MAX, b"a".as_ptr(), 1),
            LUCET_ERR_OUT_OF_BOUNDS,
            "",
        );
        let (mut base, mut size) = (null_mut(), 0usize);
        ok(lucet_instance_heap(f.instance, &mut base, &mut size));
        assert_eq!(size, 65536);
        assert_eq!(*base.add(101), b'b');
        let mut old = 0u32;
        ok(lucet_instance_grow_memory(f.instance, 2, &mut old));
        assert_eq!(old, 1);
        fails(
            lucet_instance_grow_memory(f.instance, 100, &mut old),
            LUCET_ERR_LIMITS_EXCEEDED,
            "",
        );
    }
    let mut r = [i32v(0)];
    ok(run(f.instance, "load", &[i32v(101)], &mut r).0);
    // SAFETY: i32 result.
    assert_eq!(unsafe { r[0].of.i32 }, i32::from(b'b'));
}

#[test]
fn finalizers_run_once_nothing_can_call_the_function() {
    // A finalizer of its own: the shared one also counts the fixtures of tests running
    // in parallel.
    static OWN_FINALIZED: AtomicUsize = AtomicUsize::new(0);
    unsafe extern "C" fn own_finalize(_user_data: *mut c_void) {
        OWN_FINALIZED.fetch_add(1, Ordering::SeqCst);
    }
    let f = fixture_finalized_by(own_finalize);
    ok(lucet_linker_free(f.linker));
    // The instance still holds the function.
    assert_eq!(OWN_FINALIZED.load(Ordering::SeqCst), 0);
    drop(f);
    assert_eq!(OWN_FINALIZED.load(Ordering::SeqCst), 1);
}

fn wasi_guest(rel: &str) -> CString {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a scratch directory"));
    let so = common::compile_guest(&common::repo_path(rel), dir.path());
    CString::new(so.to_str().unwrap()).unwrap()
}

#[test]
fn wasi_programs_print_to_a_descriptor_and_exit_with_their_code() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("stdout");
    let file = std::fs::File::create(&out_path).unwrap();
    use std::os::fd::AsRawFd;
    for (guest, expected_exit, expected_out) in [
        (
            "examples/hello-rust/hello-rust.wasm",
            None,
            "Hello, world!\n",
        ),
        (
            "examples/hello-c/hello-c.wasm",
            Some(3),
            "Hello, world!\nHello, world from C!\n",
        ),
    ] {
        let path = wasi_guest(guest);
        let (mut module, mut region, mut inst, mut wasi) =
            (null_mut(), null_mut(), null_mut(), null_mut());
        // SAFETY: every pointer is valid for the call.
        unsafe {
            ok(lucet_module_load(path.as_ptr(), &mut module));
            ok(lucet_region_create(1, null(), &mut region));
            ok(lucet_region_new_instance(region, module, null(), &mut inst));
            ok(lucet_wasi_ctx_create(&mut wasi));
            ok(lucet_wasi_ctx_arg(wasi, c"guest".as_ptr()));
            ok(lucet_wasi_ctx_env(wasi, c"K".as_ptr(), c"V".as_ptr()));
            fails(
                lucet_wasi_ctx_env(wasi, c"A=B".as_ptr(), c"V".as_ptr()),
                LUCET_ERR_WASI,
                "contains '='",
            );
            ok(lucet_wasi_ctx_preopen_dir(
                wasi,
                dir.path()
                    .to_str()
                    .map(|s| CString::new(s).unwrap())
                    .unwrap()
                    .as_ptr(),
                c"/data".as_ptr(),
            ));
            fails(
                lucet_wasi_ctx_preopen_dir(wasi, c"/no/such/dir".as_ptr(), c"/x".as_ptr()),
                LUCET_ERR_WASI,
                "not a directory",
            );
            fails(
                lucet_wasi_ctx_set_stdout(wasi, 9999),
                LUCET_ERR_INVALID_ARGUMENT,
                "file descriptor 9999",
            );
            ok(lucet_wasi_ctx_set_stdout(wasi, file.as_raw_fd()));
            ok(lucet_instance_set_wasi_ctx(inst, wasi));
            ok(lucet_wasi_ctx_free(wasi));
        }
        let (e, out) = run(inst, "_start", &[], &mut []);
        ok(e);
        match expected_exit {
            Some(code) => assert_eq!((out.state, out.exit_code), (LUCET_RUN_EXITED, code)),
            None => assert_eq!(out.state, LUCET_RUN_RETURNED),
        }
        assert_eq!(std::fs::read_to_string(&out_path).unwrap(), expected_out);
        ok(lucet_instance_free(inst));
        ok(lucet_region_free(region));
        ok(lucet_module_free(module));
    }
}

#[test]
fn error_names_cover_every_code() {
    for code in lucet_error_t::ALL {
        // SAFETY: lucet_error_name returns a static NUL-terminated string.
        let name = unsafe { CStr::from_ptr(lucet_error_name(code as i32)) }
            .to_str()
            .unwrap();
        assert_eq!(name, format!("{code:?}"));
    }
    // SAFETY: as above.
    assert_eq!(
        unsafe { CStr::from_ptr(lucet_error_name(-3)) }
            .to_str()
            .unwrap(),
        "LUCET_ERR_UNKNOWN"
    );
}

#[test]
fn verified_loads_accept_only_a_module_signed_by_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let secret = dir.path().join("k.key");
    let public = dir.path().join("k.pub");
    std::fs::write(&secret, pair.sk.to_box(None).unwrap().to_string()).unwrap();
    std::fs::write(&public, pair.pk.to_box().unwrap().to_string()).unwrap();
    let other = dir.path().join("other.pub");
    let other_pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    std::fs::write(&other, other_pair.pk.to_box().unwrap().to_string()).unwrap();

    let so = dir.path().join("signed.so");
    lucetc::Lucetc::try_from_bytes(GUEST)
        .unwrap()
        .with_signing_key(lucetc::SigningKey::from_file(&secret).unwrap())
        .shared_object_file(&so)
        .unwrap();
    let unsigned = dir.path().join("unsigned.so");
    std::fs::copy(&so, &unsigned).unwrap();

    let c = |p: &Path| CString::new(p.to_str().unwrap()).unwrap();
    let (so_c, unsigned_c, public_c, other_c) = (c(&so), c(&unsigned), c(&public), c(&other));
    // SAFETY: valid strings and out-parameters; the handles are freed below.
    unsafe {
        let mut module = null_mut();
        ok(lucet_module_load_verified_unresolved(so_c.as_ptr(), public_c.as_ptr(), &mut module));
        ok(lucet_module_free(module));
        fails(
            lucet_module_load_verified_unresolved(so_c.as_ptr(), other_c.as_ptr(), &mut null_mut()),
            LUCET_ERR_SIGNATURE,
            "signed with a different key",
        );
        fails(
            lucet_module_load_verified_unresolved(unsigned_c.as_ptr(), public_c.as_ptr(), &mut null_mut()),
            LUCET_ERR_SIGNATURE,
            "minisig",
        );
        fails(
            lucet_module_load_verified(so_c.as_ptr(), null(), &mut null_mut()),
            LUCET_ERR_INVALID_ARGUMENT,
            "public_key_path is NULL",
        );
        fails(
            lucet_module_load_verified(so_c.as_ptr(), c"/nonexistent.pub".as_ptr(), &mut null_mut()),
            LUCET_ERR_SIGNATURE,
            "nonexistent.pub",
        );
    }
}
