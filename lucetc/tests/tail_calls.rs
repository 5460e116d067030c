//! Tail calls replace the caller's frame whatever the callee is: a defined function, a
//! table entry, a typed reference, another instance's function or a host function.
//! Each chain below is far deeper than the guest stack could hold with one frame per
//! call.

use lucet_module::{FuncType, ValType};
use lucet_runtime::{register_hostcalls, DlModule, Error, HostcallDef, Limits, Linker, MmapRegion, Region, TrapCode, Val, Vmctx};
use lucetc::Lucetc;
use std::sync::Arc;

const DEPTH: i32 = 10_000_000;

struct Compiled {
    _dir: tempfile::TempDir,
    module: Arc<DlModule>,
}

fn compile(wat: &str) -> Compiled {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("m.so");
    Lucetc::try_from_bytes(wat).unwrap().shared_object_file(&so).unwrap();
    let module = DlModule::load_unresolved(&so).unwrap_or_else(|e| panic!("load: {e}"));
    Compiled { _dir: dir, module }
}

fn instance(region: &Arc<MmapRegion>, c: &Compiled, linker: &Linker) -> lucet_runtime::InstanceHandle {
    region.new_instance_builder(c.module.clone()).with_linker(linker).build().unwrap_or_else(|e| panic!("instantiate: {e}"))
}

fn region(slots: usize) -> Arc<MmapRegion> {
    MmapRegion::create(slots, &Limits::default()).unwrap()
}

fn run(inst: &mut lucet_runtime::InstanceHandle, f: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
    inst.run(f, args).map(|r| r.unwrap_returned().values().to_vec())
}

#[test]
fn mutual_tail_calls_through_a_table_run_in_constant_stack() {
    let c = compile(
        r#"(module
          (type $t (func (param i32) (result i32)))
          (table funcref (elem $even $odd))
          (func $even (type $t)
            local.get 0 i32.eqz if (result i32) i32.const 44 else
            local.get 0 i32.const 1 i32.sub i32.const 1 return_call_indirect (type $t) end)
          (func $odd (type $t)
            local.get 0 i32.eqz if (result i32) i32.const 99 else
            local.get 0 i32.const 1 i32.sub i32.const 0 return_call_indirect (type $t) end)
          (func (export "even") (param i32) (result i32) local.get 0 i32.const 0 return_call_indirect (type $t))
          (func $r_even (export "ref_even") (param i32) (result i32)
            local.get 0 i32.eqz if (result i32) i32.const 1 else
            local.get 0 i32.const 1 i32.sub ref.func $r_odd return_call_ref $t end)
          (func $r_odd (param i32) (result i32)
            local.get 0 i32.eqz if (result i32) i32.const 0 else
            local.get 0 i32.const 1 i32.sub ref.func $r_even return_call_ref $t end)
          (elem declare func $r_even $r_odd))"#,
    );
    let region = region(1);
    let mut inst = instance(&region, &c, &Linker::new());
    assert_eq!(run(&mut inst, "even", &[Val::I32(DEPTH)]).unwrap(), vec![Val::I32(44)]);
    assert_eq!(run(&mut inst, "even", &[Val::I32(DEPTH + 1)]).unwrap(), vec![Val::I32(99)]);
    assert_eq!(run(&mut inst, "ref_even", &[Val::I32(DEPTH)]).unwrap(), vec![Val::I32(1)]);
    assert_eq!(run(&mut inst, "ref_even", &[Val::I32(DEPTH + 1)]).unwrap(), vec![Val::I32(0)]);
}

#[test]
fn tail_calls_between_different_signatures_and_stack_arguments() {
    // `$wide` takes more arguments than fit in registers and returns more results than
    // fit in the host's return registers; `$narrow` takes one. Each tail-calls the
    // other, so the incoming argument area changes size on every call.
    let c = compile(
        r#"(module
          (type $wide (func (param i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64)
                            (result i64 i64 i64 f64)))
          (type $narrow (func (param i64) (result i64 i64 i64 f64)))
          (table funcref (elem $w $n))
          (func $w (type $wide)
            local.get 0 i64.eqz if (result i64 i64 i64 f64)
              local.get 11 local.get 1 local.get 6 local.get 21
            else
              local.get 0 i64.const 1 i64.sub i32.const 1 return_call_indirect (type $narrow)
            end)
          (func $n (type $narrow)
            local.get 0
            i64.const 1 i64.const 2 i64.const 3 i64.const 4 i64.const 5 i64.const 6
            i64.const 7 i64.const 8 i64.const 9 i64.const 10 i64.const 11
            f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5 f64.const 6 f64.const 7
            f64.const 8 f64.const 9 f64.const 10.5
            i32.const 0 return_call_indirect (type $wide))
          (func (export "start") (param i64) (result i64 i64 i64 f64) local.get 0 return_call $n))"#,
    );
    let region = region(1);
    let mut inst = instance(&region, &c, &Linker::new());
    assert_eq!(
        run(&mut inst, "start", &[Val::I64(2_000_000)]).unwrap(),
        vec![Val::I64(11), Val::I64(1), Val::I64(6), Val::F64(10.5)]
    );
}

#[test]
fn tail_calls_across_instances_run_in_constant_stack() {
    // `b.loop` tail-calls `a.bounce` through an import, and `a.bounce` tail-calls
    // `b.loop` through `a`'s table, in which `b` placed it.
    let a = compile(
        r#"(module
          (type $t (func (param i32) (result i32)))
          (table (export "t") 1 funcref)
          (func (export "bounce") (param i32) (result i32) local.get 0 i32.const 0 return_call_indirect (type $t)))"#,
    );
    let b = compile(
        r#"(module
          (type $t (func (param i32) (result i32)))
          (import "a" "bounce" (func $bounce (type $t)))
          (import "a" "t" (table 1 funcref))
          (elem (i32.const 0) func $loop)
          (func $loop (export "loop") (type $t)
            local.get 0 i32.eqz if (result i32) i32.const 7 else
            local.get 0 i32.const 1 i32.sub return_call $bounce end))"#,
    );
    let region = region(2);
    let a_inst = instance(&region, &a, &Linker::new());
    let mut linker = Linker::new();
    linker.instance("a", &a_inst).unwrap();
    let mut b_inst = instance(&region, &b, &linker);
    assert_eq!(run(&mut b_inst, "loop", &[Val::I32(DEPTH)]).unwrap(), vec![Val::I32(7)]);
}

unsafe extern "C" fn triple(_vmctx: &Vmctx, x: i32) -> i32 {
    x * 3
}

unsafe extern "C" fn add_heap_byte(vmctx: &Vmctx, x: i32) -> i32 {
    x + i32::from(vmctx.heap()[0])
}

static HOSTCALLS: [HostcallDef; 2] = [
    HostcallDef {
        module: "tail_calls_test",
        name: "triple",
        params: &[ValType::I32],
        results: &[ValType::I32],
        func: triple as *const u8,
    },
    HostcallDef {
        module: "tail_calls_test",
        name: "add_heap_byte",
        params: &[ValType::I32],
        results: &[ValType::I32],
        func: add_heap_byte as *const u8,
    },
];

#[test]
fn tail_calls_to_host_functions() {
    register_hostcalls(&HOSTCALLS);
    let c = compile(
        r#"(module
          (type $t (func (param i32) (result i32)))
          (import "tail_calls_test" "triple" (func $triple (type $t)))
          (import "tail_calls_test" "add_heap_byte" (func $add (type $t)))
          (import "env" "negate" (func $negate (type $t)))
          (memory 1)
          (data (i32.const 0) "\05")
          (table funcref (elem $triple $add $negate))
          (func (export "native") (param i32) (result i32) local.get 0 return_call $triple)
          (func (export "native_vmctx") (param i32) (result i32) local.get 0 return_call $add)
          (func (export "closure") (param i32) (result i32) local.get 0 return_call $negate)
          (func (export "via_table") (param i32 i32) (result i32) local.get 0 local.get 1 return_call_indirect (type $t))
          (func (export "call_native") (param i32) (result i32) local.get 0 call $triple i32.const 1 i32.add))"#,
    );
    let mut linker = Linker::new();
    linker.func_new(
        "env",
        "negate",
        FuncType { params: vec![ValType::I32], results: vec![ValType::I32] },
        |args| {
            let Val::I32(x) = args[0] else { panic!("bad args {args:?}") };
            Ok(vec![Val::I32(-x)])
        },
    );
    let region = region(1);
    let mut inst = instance(&region, &c, &linker);
    assert_eq!(run(&mut inst, "native", &[Val::I32(5)]).unwrap(), vec![Val::I32(15)]);
    assert_eq!(run(&mut inst, "native_vmctx", &[Val::I32(5)]).unwrap(), vec![Val::I32(10)]);
    assert_eq!(run(&mut inst, "closure", &[Val::I32(5)]).unwrap(), vec![Val::I32(-5)]);
    assert_eq!(run(&mut inst, "call_native", &[Val::I32(5)]).unwrap(), vec![Val::I32(16)]);
    for (i, want) in [(0, 21), (1, 12), (2, -7)] {
        assert_eq!(run(&mut inst, "via_table", &[Val::I32(7), Val::I32(i)]).unwrap(), vec![Val::I32(want)]);
    }
}

#[test]
fn traps_and_stack_overflow_after_tail_calls() {
    let c = compile(
        r#"(module
          (type $t (func (param i32) (result i32)))
          (table funcref (elem $div $deep))
          (func $div (type $t) i32.const 100 local.get 0 i32.div_u)
          (func $deep (type $t) local.get 0 i32.const 1 i32.add call $deep)
          (func (export "div") (param i32) (result i32) local.get 0 i32.const 0 return_call_indirect (type $t))
          (func (export "deep") (param i32) (result i32) local.get 0 i32.const 1 return_call_indirect (type $t)))"#,
    );
    let region = region(1);
    let mut inst = instance(&region, &c, &Linker::new());
    assert_eq!(run(&mut inst, "div", &[Val::I32(4)]).unwrap(), vec![Val::I32(25)]);
    match run(&mut inst, "div", &[Val::I32(0)]) {
        Err(Error::RuntimeFault(d)) => {
            assert_eq!(d.trap_code, TrapCode::IntegerDivByZero);
            assert!(d.function.is_some(), "{d:?}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    match run(&mut inst, "deep", &[Val::I32(0)]) {
        Err(Error::RuntimeFault(d)) => assert_eq!(d.trap_code, TrapCode::StackOverflow),
        other => panic!("expected a stack overflow, got {other:?}"),
    }
    // The instance still works after both.
    assert_eq!(run(&mut inst, "div", &[Val::I32(5)]).unwrap(), vec![Val::I32(20)]);
}
