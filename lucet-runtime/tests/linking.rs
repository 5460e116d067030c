//! Cross-instance linking: functions, memories, tables and globals shared between
//! instances, and host closures as imports.

mod common;
use common::*;
use lucet_runtime::{DlModule, Error, FuncType, Global, Linker, Region, Trap, Val, ValType};

const EXPORTER: &str = r#"(module
  (memory (export "mem") 1 10)
  (table (export "tab") 4 funcref)
  (global (export "g") (mut i32) (i32.const 5))
  (global (export "base") i32 (i32.const 32))
  (func $seven (export "seven") (result i32) i32.const 7)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "read") (param i32) (result i32) local.get 0 i32.load8_u)
  (func (export "get_g") (result i32) global.get 0)
  (elem (i32.const 0) $seven)
)"#;

const IMPORTER: &str = r#"(module
  (import "ex" "mem" (memory 1))
  (import "ex" "tab" (table 1 funcref))
  (import "ex" "g" (global $g (mut i32)))
  (import "ex" "base" (global $base i32))
  (import "ex" "seven" (func $seven (result i32)))
  (import "host" "add3" (func $add3 (param i32 i32 i32) (result i32)))
  (import "host" "fail" (func $fail))
  (import "host" "k" (global $k i64))
  (type $r (func (result i32)))
  (global $derived i32 (global.get $base))
  (data (global.get $base) "linked")
  (elem (i32.const 1) $eight)
  (func $eight (result i32) i32.const 8)
  (func (export "call_seven") (result i32) call $seven)
  (func (export "via_table") (param i32) (result i32) local.get 0 call_indirect (type $r))
  (func (export "set_g") (param i32) local.get 0 global.set $g)
  (func (export "size") (result i32) memory.size)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "add3") (param i32 i32 i32) (result i32) local.get 0 local.get 1 local.get 2 call $add3)
  (func (export "fail") call $fail)
  (func (export "k") (result i64) global.get $k)
  (func (export "derived") (result i32) global.get $derived)
)"#;

#[test]
fn instances_share_functions_memory_tables_and_globals() {
    let region = region(3);
    let ex_mod = DlModule::load(compile_wat(EXPORTER)).unwrap();
    let mut ex = region.new_instance(ex_mod).unwrap();

    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();
    let ty = FuncType { params: vec![ValType::I32; 3], results: vec![ValType::I32] };
    linker.func_new("host", "add3", ty, |args| {
        let s: i32 = args.iter().map(|a| if let Val::I32(v) = a { *v } else { 0 }).sum();
        Ok(vec![Val::I32(s)])
    });
    linker.func_new("host", "fail", FuncType::default(), |_| Err(Trap::new("nope")));
    linker.define("host", "k", Global::new(Val::I64(-3), false));

    let im_mod = DlModule::load_unresolved(compile_wat(IMPORTER)).unwrap();
    let mut im = region.new_instance_builder(im_mod).with_linker(&linker).build().unwrap();

    // The data segment landed in the exporter's memory.
    assert_eq!(&ex.heap()[32..38], b"linked");
    assert_eq!(im.run("call_seven", &[]).unwrap().unwrap_returned().as_i32(), 7);
    assert_eq!(im.run("via_table", &[0i32.into()]).unwrap().unwrap_returned().as_i32(), 7);
    assert_eq!(im.run("via_table", &[1i32.into()]).unwrap().unwrap_returned().as_i32(), 8);
    im.run("set_g", &[42i32.into()]).unwrap();
    assert_eq!(ex.run("get_g", &[]).unwrap().unwrap_returned().as_i32(), 42);
    assert_eq!(ex.get_global("g").unwrap(), Val::I32(42));
    assert_eq!(im.run("derived", &[]).unwrap().unwrap_returned().as_i32(), 32);
    assert_eq!(im.run("k", &[]).unwrap().unwrap_returned().as_i64(), -3);

    // Growing the shared memory from either side is seen by both.
    assert_eq!(im.run("grow", &[2i32.into()]).unwrap().unwrap_returned().as_i32(), 1);
    assert_eq!(ex.run("grow", &[1i32.into()]).unwrap().unwrap_returned().as_i32(), 3);
    assert_eq!(im.run("size", &[]).unwrap().unwrap_returned().as_i32(), 4);
    assert_eq!(ex.heap().len(), 4 * 65536);

    // Host closures.
    assert_eq!(im.run("add3", &[1i32.into(), 2i32.into(), 3i32.into()]).unwrap().unwrap_returned().as_i32(), 6);
    let e = im.run("fail", &[]).unwrap_err();
    assert!(matches!(e, Error::RuntimeTerminated(_)) && e.to_string().contains("nope"), "{e}");
    im.reset().unwrap();
    assert_eq!(im.run("call_seven", &[]).unwrap().unwrap_returned().as_i32(), 7);

    // The importer keeps the exporter alive (and its slot in use).
    drop(ex);
    drop(linker);
    assert_eq!(region.free_slots(), 1);
    assert_eq!(im.run("call_seven", &[]).unwrap().unwrap_returned().as_i32(), 7);
    // The importer filled the exporter's table, so they keep each other alive; once
    // nothing outside holds either, both are freed.
    drop(im);
    assert_eq!(region.free_slots(), 3);
}

#[test]
fn importers_keep_exporters_alive_and_release_them() {
    let region = region(2);
    let ex = region.new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();
    let so = compile_wat(
        r#"(module (import "ex" "mem" (memory 1)) (import "ex" "seven" (func $s (result i32)))
             (func (export "f") (result i32) call $s i32.const 0 i32.load8_u i32.add))"#,
    );
    let mut im =
        region.new_instance_builder(DlModule::load_unresolved(so).unwrap()).with_linker(&linker).build().unwrap();
    drop(ex);
    drop(linker);
    assert_eq!(region.free_slots(), 0);
    assert_eq!(im.run("f", &[]).unwrap().unwrap_returned().as_i32(), 7);
    drop(im);
    assert_eq!(region.free_slots(), 2);
}

#[test]
fn link_errors_name_the_import() {
    let region = region(2);
    let ex = region.new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();
    // "seven" is a function: importing it as a global fails with a clear message.
    let so = compile_wat(r#"(module (import "ex" "seven" (global i32)))"#);
    let e =
        region.new_instance_builder(DlModule::load_unresolved(so).unwrap()).with_linker(&linker).build().unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::UnresolvedImport(_)) && msg.contains("`ex`.`seven`") && msg.contains("a function"),
        "{msg}"
    );
    // Wrong function type.
    let so = compile_wat(r#"(module (import "ex" "seven" (func (result i64))))"#);
    let e =
        region.new_instance_builder(DlModule::load_unresolved(so).unwrap()).with_linker(&linker).build().unwrap_err();
    assert!(e.to_string().contains("() -> (i64)"), "{e}");
}

#[test]
fn elements_written_by_a_failed_instantiation_stay_callable() {
    let region = region(3);
    let mt = compile_wat(
        r#"(module (table (export "tab") 10 funcref) (type $r (func (result i32)))
             (func (export "call") (param i32) (result i32) local.get 0 call_indirect (type $r)))"#,
    );
    let mut mt = region.new_instance(DlModule::load(mt).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("Mt", &mt).unwrap();
    let bad = compile_wat(
        r#"(module (table (import "Mt" "tab") 10 funcref) (func $f (result i32) i32.const 0)
             (func $g (result i32) unreachable)
             (elem (i32.const 7) $f) (elem (i32.const 6) $g) (elem (i32.const 8) $f $f $f $f $f))"#,
    );
    let e =
        region.new_instance_builder(DlModule::load_unresolved(bad).unwrap()).with_linker(&linker).build().unwrap_err();
    assert!(matches!(e, Error::InstantiationTrap(_)), "{e}");
    assert_eq!(mt.run("call", &[7i32.into()]).unwrap().unwrap_returned().as_i32(), 0);
    // A trap in the other module's code, reached through the table, is still a trap.
    let e = mt.run("call", &[6i32.into()]).unwrap_err();
    assert!(matches!(e, Error::RuntimeFault(ref d) if d.trap_code == lucet_runtime::TrapCode::Unreachable), "{e}");
    let tab = mt.get_export("tab");
    drop(mt);
    drop(linker);
    assert_eq!(region.free_slots(), 1, "an export handle still holds the table's owner");
    drop(tab);
    assert_eq!(region.free_slots(), 3);
}

struct Nested(lucet_runtime::InstanceHandle);

unsafe extern "C" fn run_nested(vmctx: &lucet_runtime::Vmctx) -> i32 {
    let mut n = vmctx.get_embed_ctx_mut::<Nested>();
    n.0.run("depth", &[100i32.into()]).unwrap().unwrap_returned().as_i32()
}

static NESTED: [lucet_runtime::HostcallDef; 1] = [lucet_runtime::HostcallDef {
    module: "nesting",
    name: "run_nested",
    params: &[],
    results: &[ValType::I32],
    func: run_nested as *const u8,
}];

#[test]
fn a_nested_run_restores_the_outer_stack_limits() {
    lucet_runtime::register_hostcalls(&NESTED);
    // Created first, so (with top-down mmap) above the importer's region: its own stack
    // limit is above the importer's stack, and a stale limit would trap at once.
    let ex_region = region(1);
    let im_region = region(1);
    let ex_so = compile_wat(
        r#"(module (func $d (export "depth") (param i32) (result i32)
             local.get 0 i32.eqz if (result i32) i32.const 0 else
             local.get 0 i32.const 1 i32.sub call $d i32.const 1 i32.add end))"#,
    );
    let ex = ex_region.new_instance(DlModule::load(ex_so).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();
    let im_so = compile_wat(
        r#"(module (import "ex" "depth" (func $d (param i32) (result i32)))
             (import "nesting" "run_nested" (func $n (result i32)))
             (func (export "go") (result i32) call $n i32.const 50 call $d i32.add))"#,
    );
    let mut im = im_region
        .new_instance_builder(DlModule::load_unresolved(im_so).unwrap())
        .with_linker(&linker)
        .with_embed_ctx(Nested(ex))
        .build()
        .unwrap();
    assert_eq!(im.run("go", &[]).unwrap().unwrap_returned().as_i32(), 150);
}

#[test]
fn import_types_are_described_readably() {
    let region = region(2);
    let ex = region.new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();
    let so = compile_wat(r#"(module (import "ex" "g" (global i64)))"#);
    let msg = region
        .new_instance_builder(DlModule::load_unresolved(so).unwrap())
        .with_linker(&linker)
        .build()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("as global i64, but the linker provides global (mut i32)"), "{msg}");
    let so = compile_wat(r#"(module (import "ex" "mem" (memory 2 5)))"#);
    let msg = region
        .new_instance_builder(DlModule::load_unresolved(so).unwrap())
        .with_linker(&linker)
        .build()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("memory 2..5 pages") && msg.contains("memory 1..10 pages currently of 1 pages"), "{msg}");
}

/// A and B keep each other alive (B wrote into A's table); B also imports from C. A
/// trap in C's code, reached from A, is named by walking the linked instances, which
/// must visit each once rather than go round the A-B cycle.
#[test]
fn a_trap_is_named_across_a_cycle_of_linked_instances() {
    let region = region(3);
    let a = compile_wat(
        r#"(module (table (export "tab") 2 funcref) (type $v (func))
             (func (export "call") (param i32) local.get 0 call_indirect (type $v)))"#,
    );
    let mut a = region.new_instance(DlModule::load(a).unwrap()).unwrap();
    let c = compile_wat(r#"(module (func $boom (export "boom") unreachable))"#);
    let c = region.new_instance(DlModule::load(c).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("a", &a).unwrap();
    linker.instance("c", &c).unwrap();
    let b = compile_wat(
        r#"(module (import "a" "tab" (table 2 funcref)) (import "c" "boom" (func $boom))
             (func $via_b call $boom) (elem (i32.const 0) $via_b))"#,
    );
    let b = region.new_instance_builder(DlModule::load_unresolved(b).unwrap()).with_linker(&linker).build().unwrap();
    match a.run("call", &[0i32.into()]) {
        Err(Error::RuntimeFault(d)) => {
            assert_eq!(d.trap_code, lucet_runtime::TrapCode::Unreachable);
            assert!(d.function.as_deref().is_some_and(|f| f.contains("boom")), "{:?}", d.function);
        }
        other => panic!("{other:?}"),
    }
    drop((b, c, linker));
    drop(a);
    assert_eq!(region.free_slots(), 3, "the cycle is collected");
}

/// Each instance imports a function from the one before; only the last handle and an
/// export of the first are kept. Dropping the last frees every instance but the first
/// without recursing once per instance.
#[test]
fn a_long_chain_of_importers_is_freed_without_deep_recursion() {
    let n: usize = 1000;
    let first = compile_wat(r#"(module (func (export "f") (result i32) i32.const 1))"#);
    let next = compile_wat(r#"(module (import "p" "f" (func $f (result i32))) (export "f" (func $f)))"#);
    // On a thread with a small stack, so that a recursive drop would overflow it.
    std::thread::Builder::new()
        .stack_size(64 << 10)
        .spawn(move || {
            let limits = lucet_runtime::Limits::default()
                .with_heap_address_space_size(64 << 10)
                .with_heap_memory_size(64 << 10)
                .with_stack_size(64 << 10)
                .with_hostcall_reservation(16 << 10);
            let region = lucet_runtime::MmapRegion::create(n, &limits).unwrap();
            let next = DlModule::load_unresolved(next).unwrap();
            let first = region.new_instance(DlModule::load(first).unwrap()).unwrap();
            let first_f = first.get_export("f").unwrap();
            let mut last = first;
            for _ in 1..n {
                let mut linker = Linker::new();
                linker.define("p", "f", last.get_export("f").unwrap());
                last = region.new_instance_builder(next.clone()).with_linker(&linker).build().unwrap();
            }
            assert_eq!(last.run("f", &[]).unwrap().unwrap_returned().as_i32(), 1);
            assert_eq!(region.free_slots(), 0);
            drop(last);
            assert_eq!(region.free_slots(), n - 1);
            drop(first_f);
            assert_eq!(region.free_slots(), n);
        })
        .unwrap()
        .join()
        .unwrap();
}
