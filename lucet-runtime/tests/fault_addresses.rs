//! Which faults of compiled code are traps: accesses past the end of any memory the
//! running code can reach are; a fault anywhere else is a bug of the compiler or the
//! runtime, and aborts the process instead of being reported as a trap.

mod common;
use common::*;
use lucet_module::{MemoryDef, VmctxLayout};
use lucet_runtime::{DlModule, Error, HostcallDef, Linker, Region, RunResult, TrapCode, Val, Vmctx};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn expect_trap(r: Result<RunResult, Error>, code: TrapCode) {
    match r {
        Err(Error::RuntimeFault(d)) => assert_eq!(d.trap_code, code, "{d:?}"),
        other => panic!("expected a {code:?} trap, got {other:?}"),
    }
}

const EXPORTER: &str = r#"(module
  (memory (export "mem") 1)
  (table (export "tab") 2 funcref)
  (type $r (func (param i32) (result i32)))
  (func (export "call") (param i32 i32) (result i32)
    (call_indirect (type $r) (local.get 1) (local.get 0))))"#;

#[test]
fn faults_in_every_memory_the_running_code_reaches_are_traps() {
    let region = region(4);
    let mut ex = region.new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();

    // A memory imported from another instance, and a second memory of our own.
    let importer = compile_wat(
        r#"(module (import "ex" "mem" (memory 1)) (memory 1)
             (func (export "imported") (param i32) (result i32) (i32.load (local.get 0)))
             (func (export "own") (param i32) (result i32) (i32.load 1 (local.get 0))))"#,
    );
    let mut importer =
        region.new_instance_builder(DlModule::load_unresolved(importer).unwrap()).with_linker(&linker).build().unwrap();
    for (f, addr) in [("imported", 65536), ("imported", -1), ("own", 65536), ("own", 1 << 30)] {
        expect_trap(importer.run(f, &[Val::I32(addr)]), TrapCode::HeapOutOfBounds);
    }
    assert_eq!(importer.run("imported", &[Val::I32(0)]).unwrap().unwrap_returned().as_i32(), 0);

    // Code of an instance whose function sits in our table runs on our stack and
    // faults in its own memory.
    let writer = compile_wat(
        r#"(module (import "ex" "tab" (table 2 funcref)) (memory 1)
             (func $read (param i32) (result i32) (i32.load (local.get 0)))
             (elem (i32.const 1) $read))"#,
    );
    let _writer =
        region.new_instance_builder(DlModule::load_unresolved(writer).unwrap()).with_linker(&linker).build().unwrap();
    expect_trap(ex.run("call", &[Val::I32(1), Val::I32(70000)]), TrapCode::HeapOutOfBounds);
    assert_eq!(ex.run("call", &[Val::I32(1), Val::I32(8)]).unwrap().unwrap_returned().as_i32(), 0);
}

// --- A fault outside every memory: run in a child process, which must abort. ---

const CHILD_ENV: &str = "LUCET_FAULT_ADDRESSES_CHILD";

/// Offset of memory 1's `MemoryDef` in the guest's vmctx, and where to point its base.
/// Memory 1, because code finds the first memory's base from the vmctx itself
/// (`VmctxLayout::heap_offset`) and never reads that `MemoryDef`'s base.
static MEMORY_DEF: AtomicUsize = AtomicUsize::new(0);
static NEW_BASE: AtomicUsize = AtomicUsize::new(0);

/// Stands for a runtime bug: moves the guest's heap base somewhere it must never point.
unsafe extern "C" fn redirect_heap(vmctx: &Vmctx) {
    // Through an address, not the `&Vmctx` (which grants no access to the vmctx's bytes),
    // and volatile, so the compiler keeps a write it could otherwise call undefined.
    let def = (vmctx as *const Vmctx as usize + MEMORY_DEF.load(Ordering::SeqCst)) as *mut MemoryDef;
    std::ptr::write_volatile(std::ptr::addr_of_mut!((*def).base), NEW_BASE.load(Ordering::SeqCst) as *mut u8);
}

static HOSTCALLS: [HostcallDef; 1] = [HostcallDef {
    module: "fault_test",
    name: "redirect_heap",
    params: &[],
    results: &[],
    func: redirect_heap as *const u8,
}];

const REDIRECTED: &str = r#"(module (import "fault_test" "redirect_heap" (func $redirect))
  (memory 1) (memory 1)
  (func (export "redirect") call $redirect)
  (func (export "load") (param i32) (result i32) (i32.load 1 (local.get 0))))"#;

/// Runs only when re-executed by `a_fault_outside_every_memory_aborts`.
#[test]
fn redirected_heap_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    lucet_runtime::register_hostcalls(&HOSTCALLS);
    let module = DlModule::load(compile_wat(REDIRECTED)).unwrap();
    let layout = VmctxLayout::new(module.module_data());
    MEMORY_DEF.store(layout.defined_memory(1) as usize, Ordering::SeqCst);
    let region = region(2);
    let mut inst = region.new_instance(module.clone()).unwrap();
    // The inaccessible part of another instance's heap: a trap there would let the
    // host carry on as if the sandbox had held.
    let neighbour = region.new_instance(module).unwrap();
    NEW_BASE.store(neighbour.heap().as_ptr() as usize + (1 << 20), Ordering::SeqCst);
    expect_trap(inst.run("load", &[Val::I32(65536)]), TrapCode::HeapOutOfBounds);
    inst.run("redirect", &[]).unwrap();
    eprintln!("about to fault at {:#x}", NEW_BASE.load(Ordering::SeqCst) + 8);
    let r = inst.run("load", &[Val::I32(8)]);
    eprintln!("survived a fault outside every memory: {r:?}");
    std::process::exit(0);
}

#[test]
fn a_fault_outside_every_memory_aborts() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "redirected_heap_child", "--nocapture", "--test-threads=1"]).env(CHILD_ENV, "1");
    // SAFETY: setrlimit is async-signal-safe; no core file from a deliberate abort.
    unsafe {
        cmd.pre_exec(|| {
            let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let addr = stderr
        .lines()
        .find_map(|l| l.split("about to fault at ").nth(1))
        .unwrap_or_else(|| panic!("the child did not reach the fault: {stderr}"))
        .trim()
        .to_string();
    assert!(!stderr.contains("survived"), "the fault was reported as a trap: {stderr}");
    assert!(
        stderr.contains("lucet-runtime: fatal: compiled guest code at pc ")
            && stderr.contains(&format!("raised SIGSEGV at address {addr}")),
        "no message naming the fault: {stderr}"
    );
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "child exit {:?}: {stderr}", out.status);
}
