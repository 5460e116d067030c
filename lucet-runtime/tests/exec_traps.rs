//! The execution engine with real compiled guests: terminations and yields from
//! hostcalls, trap sites not covered by `trap_codes.rs`, long runs of stack overflows,
//! and traps on several threads at once.

mod common;
use common::*;
use lucet_runtime::{Error, HostcallDef, Region, RunResult, TerminationDetails, TrapCode, ValType, Vmctx};

const TRAPS: &str = r#"(module
  (import "exec_test" "terminate" (func $terminate (param i32)))
  (import "exec_test" "yield_double" (func $yield_double (param i32) (result i32)))
  (memory 1)
  (table 4 funcref)
  (type $v (func))
  (type $ii (func (param i32) (result i32)))
  (elem (i32.const 0) $unreachable $ok)
  (func $unreachable (export "unreachable") unreachable)
  (func $ok (export "ok") (result i32) (i32.const 7))
  (func (export "oob") (result i32) (i32.load (i32.const 65536)))
  (func (export "oob_far") (result i32) (i32.load offset=0x7fffffff (i32.const -1)))
  (func (export "oob_store") (i64.store (i32.const 65532) (i64.const 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "rem64") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1)))
  (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func $recurse (export "recurse") (param i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "call_null") (call_indirect (type $v) (i32.const 2)))
  (func (export "call_oob") (call_indirect (type $v) (i32.const 9)))
  (func (export "call_badsig") (result i32) (call_indirect (type $ii) (i32.const 5) (i32.const 1)))
  (func (export "call_unreachable") (call_indirect (type $v) (i32.const 0)))
  (func (export "terminate") (param i32) (call $terminate (local.get 0)))
  (func (export "yield_twice") (param i32) (result i32)
    (call $yield_double (call $yield_double (local.get 0))))
)"#;

unsafe extern "C" fn hostcall_terminate(vmctx: &Vmctx, code: i32) {
    vmctx.terminate(code)
}

unsafe extern "C" fn hostcall_yield_double(vmctx: &Vmctx, x: i32) -> i32 {
    let factor: i32 = vmctx.yield_val_expecting_val(x);
    x * factor
}

static HOSTCALLS: [HostcallDef; 2] = [
    HostcallDef {
        module: "exec_test",
        name: "terminate",
        params: &[ValType::I32],
        results: &[],
        func: hostcall_terminate as *const u8,
    },
    HostcallDef {
        module: "exec_test",
        name: "yield_double",
        params: &[ValType::I32],
        results: &[ValType::I32],
        func: hostcall_yield_double as *const u8,
    },
];

fn traps_instance() -> lucet_runtime::InstanceHandle {
    lucet_runtime::register_hostcalls(&HOSTCALLS);
    let module = lucet_runtime::DlModule::load(compile_wat(TRAPS)).unwrap_or_else(|e| panic!("load: {e}"));
    region(1).new_instance(module).unwrap_or_else(|e| panic!("instantiate: {e}"))
}

fn expect_trap(r: Result<RunResult, Error>) -> lucet_runtime::FaultDetails {
    match r {
        Err(Error::RuntimeFault(d)) => d,
        Err(e) => panic!("expected a fault, got error {e}"),
        Ok(r) => panic!("expected a fault, got {r:?}"),
    }
}

#[test]
fn less_common_trap_sites() {
    let mut inst = traps_instance();
    let cases: Vec<(&str, Vec<lucet_runtime::Val>, TrapCode)> = vec![
        ("oob_far", vec![], TrapCode::HeapOutOfBounds),
        ("oob_store", vec![], TrapCode::HeapOutOfBounds),
        ("rem64", vec![1i64.into(), 0i64.into()], TrapCode::IntegerDivByZero),
        ("trunc", vec![f64::NAN.into()], TrapCode::BadConversionToInteger),
        ("trunc", vec![1e10f64.into()], TrapCode::IntegerOverflow),
        ("call_unreachable", vec![], TrapCode::Unreachable),
    ];
    let mut mismatches = Vec::new();
    for (name, args, code) in cases {
        let d = expect_trap(inst.run(name, &args));
        if d.trap_code != code {
            mismatches.push(format!("{name}{args:?}: expected {code}, got {} ({d})", d.trap_code));
        }
        inst.reset().unwrap();
        assert_eq!(inst.run("ok", &[]).unwrap().unwrap_returned().as_i32(), 7, "after {name}");
    }
    assert!(mismatches.is_empty(), "wrong trap codes:\n{}", mismatches.join("\n"));
}

#[test]
fn many_traps_and_stack_overflows_in_a_row() {
    let mut inst = traps_instance();
    for i in 0..300 {
        let name = if i % 3 == 0 { "recurse" } else { "oob" };
        let _ = expect_trap(inst.run(name, &[0i32.into()][..(name == "recurse") as usize]));
        inst.reset().unwrap();
    }
    assert_eq!(inst.run("ok", &[]).unwrap().unwrap_returned().as_i32(), 7);
}

#[test]
fn hostcall_terminates_the_run() {
    let mut inst = traps_instance();
    match inst.run("terminate", &[42i32.into()]) {
        Err(Error::RuntimeTerminated(TerminationDetails::Provided(b))) => {
            assert_eq!(b.downcast_ref::<i32>(), Some(&42))
        }
        other => panic!("expected termination, got {other:?}"),
    }
    assert!(inst.is_terminated());
    inst.reset().unwrap();
    assert_eq!(inst.run("ok", &[]).unwrap().unwrap_returned().as_i32(), 7);
}

#[test]
fn hostcall_yields_and_resumes() {
    let mut inst = traps_instance();
    let mut r = inst.run("yield_twice", &[3i32.into()]).unwrap();
    let mut seen = Vec::new();
    while let RunResult::Yielded(v) = r {
        seen.push(*v.0.unwrap().downcast::<i32>().unwrap());
        r = inst.resume_with_val(10i32).unwrap();
    }
    assert_eq!(seen, vec![3, 30]);
    assert_eq!(r.unwrap_returned().as_i32(), 300);

    // A yielded run can be abandoned by a reset.
    assert!(!inst.run("yield_twice", &[1i32.into()]).unwrap().is_returned());
    assert!(inst.is_yielded());
    inst.reset().unwrap();
    assert_eq!(inst.run("ok", &[]).unwrap().unwrap_returned().as_i32(), 7);
}

#[test]
fn instances_trap_independently_on_many_threads() {
    let handles: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(|| {
                let mut inst = traps_instance();
                for _ in 0..50 {
                    assert_eq!(expect_trap(inst.run("recurse", &[0i32.into()])).trap_code, TrapCode::StackOverflow);
                    inst.reset().unwrap();
                    assert_eq!(expect_trap(inst.run("unreachable", &[])).trap_code, TrapCode::Unreachable);
                    inst.reset().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
