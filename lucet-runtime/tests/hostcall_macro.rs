//! Hostcalls declared with `#[lucet_hostcall]` (registered before `main`, no linker
//! flags, no registration call) and host closures given to `Linker::func_wrap`.

mod common;
use common::*;
use lucet_runtime::{
    lucet_hostcall, DlModule, Error, KillSuccess, Linker, Region, RunResult, TerminationDetails, Trap, Vmctx,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const GUEST: &str = r#"(module
  (import "env" "add_one" (func $add_one (param i32) (result i32)))
  (import "ffi" "print" (func $print (param i32 i32)))
  (import "ffi" "renamed_import" (func $renamed (param i64 f64) (result f64)))
  (import "env" "safe_panics" (func $panics (param i32)))
  (import "env" "ask" (func $ask (param i32) (result i32)))
  (import "env" "stop_with" (func $stop (param i32)))
  (import "env" "wait_for_kill" (func $wait))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from the guest")
  (func (export "add_one") (param i32) (result i32) local.get 0 call $add_one)
  (func (export "print") i32.const 16 i32.const 20 call $print)
  (func (export "print_oob") i32.const 65530 i32.const 20 call $print)
  (func (export "renamed") (result f64) i64.const 3 f64.const 0.5 call $renamed)
  (func (export "panic") (param i32) local.get 0 call $panics)
  (func (export "ask") (param i32) (result i32) local.get 0 call $ask i32.const 1 i32.add)
  (func (export "stop") (param i32) local.get 0 call $stop)
  (func (export "wait_then_return") (result i32) call $wait i32.const 5)
)"#;

#[lucet_hostcall]
pub unsafe extern "C" fn add_one(_vmctx: &Vmctx, x: i32) -> i32 {
    x.wrapping_add(1)
}

struct Printed(Vec<String>);

#[lucet_hostcall(module = "ffi")]
pub fn print(vmctx: &Vmctx, ptr: u32, len: u32) {
    let text = vmctx.read_guest_str_len(ptr, len).unwrap_or_else(|e| format!("<{e}>"));
    vmctx.get_embed_ctx_mut::<Printed>().0.push(text);
}

#[lucet_hostcall(module = "ffi", name = "renamed_import")]
pub fn scaled(_vmctx: &Vmctx, a: i64, b: f64) -> f64 {
    a as f64 * b
}

#[lucet_hostcall]
pub fn safe_panics(_vmctx: &Vmctx, code: i32) {
    if code != 0 {
        panic!("hostcall panicked with {code}");
    }
}

#[lucet_hostcall]
pub fn ask(vmctx: &Vmctx, question: i32) -> i32 {
    vmctx.yield_val_expecting_val::<i32, i32>(question)
}

#[lucet_hostcall]
pub fn stop_with(vmctx: &Vmctx, code: i32) {
    vmctx.terminate(code)
}

static WAITING: AtomicU32 = AtomicU32::new(0);

/// Waits (cooperatively) until the run is asked to stop, then returns normally: the
/// wrapper must stop the guest right there.
#[lucet_hostcall]
pub fn wait_for_kill(vmctx: &Vmctx) {
    WAITING.store(1, Ordering::SeqCst);
    let start = Instant::now();
    while !vmctx.is_kill_pending() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn load() -> std::sync::Arc<DlModule> {
    DlModule::load(compile_wat(GUEST)).expect("macro hostcalls are registered before main")
}

#[test]
fn macro_hostcalls_resolve_without_registration() {
    let region = region(1);
    let mut inst = region.new_instance_builder(load()).with_embed_ctx(Printed(Vec::new())).build().unwrap();
    assert_eq!(i32::from(inst.run("add_one", &[41i32.into()]).unwrap().unwrap_returned()), 42);
    assert_eq!(i32::from(inst.run("add_one", &[i32::MAX.into()]).unwrap().unwrap_returned()), i32::MIN);
    inst.run("print", &[]).unwrap();
    inst.run("print_oob", &[]).unwrap();
    assert_eq!(f64::from(inst.run("renamed", &[]).unwrap().unwrap_returned()), 1.5);
    let printed = inst.get_embed_ctx::<Printed>().unwrap().unwrap().0.clone();
    assert_eq!(printed[0], "hello from the guest");
    assert!(printed[1].contains("outside the guest's 65536-byte memory"), "{}", printed[1]);
    // Still directly callable from Rust, with the C ABI.
    let f: unsafe extern "C" fn(&Vmctx, i32) -> i32 = add_one;
    let _ = f;
}

#[test]
fn a_panicking_macro_hostcall_terminates_the_instance() {
    let mut inst = region(1).new_instance_builder(load()).with_embed_ctx(Printed(Vec::new())).build().unwrap();
    inst.run("panic", &[0i32.into()]).unwrap();
    match inst.run("panic", &[7i32.into()]) {
        Err(Error::RuntimeTerminated(TerminationDetails::HostcallPanic(m))) => {
            assert!(m.contains("hostcall panicked with 7"), "{m}")
        }
        other => panic!("expected a hostcall panic, got {other:?}"),
    }
    inst.reset().unwrap();
    assert_eq!(i32::from(inst.run("add_one", &[1i32.into()]).unwrap().unwrap_returned()), 2);
}

#[test]
fn macro_hostcalls_can_yield_and_terminate() {
    let mut inst = region(1).new_instance_builder(load()).with_embed_ctx(Printed(Vec::new())).build().unwrap();
    match inst.run("ask", &[6i32.into()]).unwrap() {
        RunResult::Yielded(v) => assert_eq!(*v.0.unwrap().downcast::<i32>().unwrap(), 6),
        RunResult::Returned(_) => panic!("expected a yield"),
    }
    let r = inst.resume_with_val(36i32).unwrap().unwrap_returned();
    assert_eq!(i32::from(r), 37);
    match inst.run("stop", &[3i32.into()]) {
        Err(Error::RuntimeTerminated(d)) => assert_eq!(d.provided_details().unwrap().downcast_ref::<i32>(), Some(&3)),
        other => panic!("expected a termination, got {other:?}"),
    }
}

#[test]
fn a_kill_during_a_macro_hostcall_stops_the_guest_when_it_returns() {
    let mut inst = region(1).new_instance_builder(load()).with_embed_ctx(Printed(Vec::new())).build().unwrap();
    let switch = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        while WAITING.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        switch.terminate()
    });
    let r = inst.run("wait_then_return", &[]);
    assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
    assert!(matches!(r, Err(Error::RuntimeTerminated(TerminationDetails::Remote))), "{r:?}");
}

const LINKED: &str = r#"(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "mem_size" (func $mem_size (result i32)))
  (import "host" "pair" (func $pair (param i64) (result i64 f32)))
  (import "host" "fails" (func $fails))
  (memory 2)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 call $add)
  (func (export "mem_size") (result i32) call $mem_size)
  (func (export "pair") (result i64 f32) i64.const 9 call $pair)
  (func (export "fails") call $fails)
)"#;

#[test]
fn func_wrap_derives_the_signature_from_the_closure() {
    let mut linker = Linker::new();
    linker
        .func_wrap("host", "add", |a: i32, b: i32| a.wrapping_add(b))
        .func_wrap("host", "mem_size", |vmctx: &Vmctx| vmctx.heap().len() as u32)
        .func_wrap("host", "pair", |x: i64| (x * 2, 0.25f32))
        .func_wrap("host", "fails", || -> Result<(), Trap> { Err(Trap::new("refused")) });
    let module = DlModule::load_unresolved(compile_wat(LINKED)).unwrap();
    let mut inst = region(1).new_instance_builder(module).with_linker(&linker).build().unwrap();
    assert_eq!(i32::from(inst.run("add", &[5i32.into(), 3i32.into()]).unwrap().unwrap_returned()), 8);
    assert_eq!(i32::from(inst.run("mem_size", &[]).unwrap().unwrap_returned()), 2 * 65536);
    let pair = inst.run("pair", &[]).unwrap().unwrap_returned();
    assert_eq!(pair.values(), &[lucet_runtime::Val::I64(18), lucet_runtime::Val::F32(0.25)]);
    match inst.run("fails", &[]) {
        Err(Error::RuntimeTerminated(d)) => assert!(d.to_string().contains("refused"), "{d}"),
        other => panic!("expected a termination, got {other:?}"),
    }
}

#[test]
fn func_wrap_signature_mismatch_is_a_link_error() {
    let mut linker = Linker::new();
    linker
        .func_wrap("host", "add", |a: i64| a)
        .func_wrap("host", "mem_size", || 0u32)
        .func_wrap("host", "pair", |x: i64| (x, 0f32))
        .func_wrap("host", "fails", || ());
    let module = DlModule::load_unresolved(compile_wat(LINKED)).unwrap();
    let err = region(1).new_instance_builder(module).with_linker(&linker).build().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("add"), "{msg}");
}
