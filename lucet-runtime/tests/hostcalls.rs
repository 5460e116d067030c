//! Native hostcalls registered with `register_hostcalls` (no lucet-wasi), reaching
//! the instance's heap and embedder contexts through `Vmctx`.

mod common;
use common::*;
use lucet_runtime::{
    register_hostcalls, DlModule, Error, HostcallDef, Region, RunResult, TerminationDetails, ValType, Vmctx,
};

const GUEST: &str = r#"(module
  (import "custom" "double" (func $double (param i32) (result i32)))
  (import "custom" "sum_bytes" (func $sum_bytes (param i32 i32) (result i64)))
  (import "custom" "bump_counter" (func $bump (param i64)))
  (import "custom" "write_hello" (func $write_hello (param i32)))
  (import "custom" "borrow_and_stop" (func $borrow_and_stop))
  (import "custom" "ask_host" (func $ask (param i32) (result i32)))
  (import "custom" "panics" (func $panics))
  (memory (export "memory") 1)
  (data (i32.const 8) "\01\02\03\04")
  (func (export "double") (param i32) (result i32) local.get 0 call $double)
  (func (export "sum") (result i64) i32.const 8 i32.const 4 call $sum_bytes)
  (func (export "bump") (param i64) local.get 0 call $bump)
  (func (export "hello") i32.const 100 call $write_hello)
  (func (export "stop") call $borrow_and_stop)
  (func (export "panic") call $panics)
  (func (export "ask") (param i32) (result i32) local.get 0 call $ask i32.const 1 i32.add)
)"#;

struct Counter(i64);

unsafe extern "C" fn double(_vmctx: &Vmctx, x: i32) -> i32 {
    x * 2
}

unsafe extern "C" fn sum_bytes(vmctx: &Vmctx, ptr: u32, len: u32) -> i64 {
    let heap = vmctx.heap();
    heap[ptr as usize..(ptr + len) as usize].iter().map(|b| *b as i64).sum()
}

unsafe extern "C" fn bump_counter(vmctx: &Vmctx, by: i64) {
    vmctx.get_embed_ctx_mut::<Counter>().0 += by;
}

unsafe extern "C" fn write_hello(vmctx: &Vmctx, ptr: u32) {
    vmctx.heap_mut()[ptr as usize..ptr as usize + 5].copy_from_slice(b"hello");
}

unsafe extern "C" fn borrow_and_stop(vmctx: &Vmctx) {
    // Deliberately leave borrows behind: terminating abandons this frame, and the
    // instance must not stay "borrowed" afterwards.
    std::mem::forget(vmctx.heap_mut());
    std::mem::forget(vmctx.get_embed_ctx_mut::<Counter>());
    vmctx.terminate(99u32)
}

unsafe extern "C" fn ask_host(vmctx: &Vmctx, q: i32) -> i32 {
    vmctx.yield_val_expecting_val::<i32, i32>(q)
}

unsafe extern "C" fn panics(vmctx: &Vmctx) {
    vmctx.catch_panics(|_| panic!("hostcall bug"))
}

static HOSTCALLS: [HostcallDef; 7] = [
    HostcallDef { module: "custom", name: "panics", params: &[], results: &[], func: panics as *const u8 },
    HostcallDef {
        module: "custom",
        name: "double",
        params: &[ValType::I32],
        results: &[ValType::I32],
        func: double as *const u8,
    },
    HostcallDef {
        module: "custom",
        name: "sum_bytes",
        params: &[ValType::I32, ValType::I32],
        results: &[ValType::I64],
        func: sum_bytes as *const u8,
    },
    HostcallDef {
        module: "custom",
        name: "bump_counter",
        params: &[ValType::I64],
        results: &[],
        func: bump_counter as *const u8,
    },
    HostcallDef {
        module: "custom",
        name: "write_hello",
        params: &[ValType::I32],
        results: &[],
        func: write_hello as *const u8,
    },
    HostcallDef {
        module: "custom",
        name: "borrow_and_stop",
        params: &[],
        results: &[],
        func: borrow_and_stop as *const u8,
    },
    HostcallDef {
        module: "custom",
        name: "ask_host",
        params: &[ValType::I32],
        results: &[ValType::I32],
        func: ask_host as *const u8,
    },
];

fn guest() -> lucet_runtime::InstanceHandle {
    register_hostcalls(&HOSTCALLS);
    let module = DlModule::load(compile_wat(GUEST)).unwrap();
    let mut inst = region(1).new_instance_builder(module).with_embed_ctx(Counter(0)).build().unwrap();
    assert!(inst.contains_embed_ctx::<Counter>());
    inst.insert_embed_ctx(Counter(1));
    inst
}

#[test]
fn hostcalls_reach_heap_and_embed_ctx() {
    let mut inst = guest();
    assert_eq!(inst.run("double", &[21i32.into()]).unwrap().unwrap_returned().as_i32(), 42);
    assert_eq!(inst.run("sum", &[]).unwrap().unwrap_returned().as_i64(), 10);
    inst.run("bump", &[5i64.into()]).unwrap();
    inst.run("bump", &[5i64.into()]).unwrap();
    assert_eq!(inst.get_embed_ctx::<Counter>().unwrap().unwrap().0, 11);
    inst.run("hello", &[]).unwrap();
    assert_eq!(&inst.heap()[100..105], b"hello");
    inst.get_embed_ctx_mut::<Counter>().unwrap().unwrap().0 = 0;
    assert_eq!(inst.remove_embed_ctx::<Counter>().map(|c| c.0), Some(0));
    assert!(inst.get_embed_ctx::<Counter>().is_none());
}

#[test]
fn terminate_leaves_clean_borrows() {
    let mut inst = guest();
    match inst.run("stop", &[]) {
        Err(Error::RuntimeTerminated(TerminationDetails::Provided(b))) => {
            assert_eq!(b.downcast_ref::<u32>(), Some(&99))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(inst.run("double", &[1i32.into()]), Err(Error::InstanceNeedsReset(_))));
    inst.reset().unwrap();
    // Borrows left behind by the abandoned hostcall are gone.
    assert!(inst.get_embed_ctx::<Counter>().unwrap().is_ok());
    inst.run("bump", &[1i64.into()]).unwrap();
    inst.run("hello", &[]).unwrap();
    assert_eq!(inst.get_embed_ctx::<Counter>().unwrap().unwrap().0, 2);
}

#[test]
fn yield_and_resume_with_value() {
    let mut inst = guest();
    let q = match inst.run("ask", &[6i32.into()]).unwrap() {
        RunResult::Yielded(v) => *v.0.unwrap().downcast::<i32>().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(q, 6);
    assert!(matches!(inst.run("double", &[1i32.into()]), Err(Error::InstanceNotReturned)));
    let r = inst.resume_with_val(q * 7).unwrap().unwrap_returned();
    assert_eq!(r.as_i32(), 43);
    assert!(matches!(inst.resume(), Err(Error::InstanceNotYielded)));
    // A yielded run can be abandoned by reset.
    assert!(!inst.run("ask", &[1i32.into()]).unwrap().is_returned());
    inst.reset().unwrap();
    assert_eq!(inst.run("double", &[4i32.into()]).unwrap().unwrap_returned().as_i32(), 8);
}

#[test]
fn signature_mismatch_is_an_unresolved_import() {
    register_hostcalls(&HOSTCALLS);
    let so = compile_wat(r#"(module (import "custom" "double" (func (param i64) (result i32))))"#);
    let msg = DlModule::load(so).unwrap_err().to_string();
    assert!(msg.contains("(i64) -> (i32)") && msg.contains("(i32) -> (i32)"), "{msg}");
    let _ = region(1).free_slots();
}

#[test]
fn a_panicking_hostcall_terminates_the_run() {
    let mut inst = guest();
    match inst.run("panic", &[]) {
        Err(Error::RuntimeTerminated(TerminationDetails::HostcallPanic(m))) => assert!(m.contains("hostcall bug")),
        other => panic!("{other:?}"),
    }
    inst.reset().unwrap();
    assert_eq!(inst.run("double", &[2i32.into()]).unwrap().unwrap_returned().as_i32(), 4);
}

#[test]
fn a_missing_field_of_a_registered_module_is_named() {
    register_hostcalls(&HOSTCALLS);
    let so = compile_wat(r#"(module (import "custom" "triple" (func (param i32) (result i32))))"#);
    let msg = DlModule::load(so).unwrap_err().to_string();
    assert!(msg.contains("registered for `custom`, but none named `triple`"), "{msg}");
}
