//! Every trap code from a `.wat` guest, recovery by reset, and independence of
//! instances after a trap.

mod common;
use common::*;
use lucet_runtime::{Error, InstanceHandle, Region, TrapCode, Val};

fn expect_trap(inst: &mut InstanceHandle, func: &str, args: &[Val], code: TrapCode) {
    match inst.run(func, args) {
        Err(Error::RuntimeFault(d)) => {
            assert_eq!(d.trap_code, code, "{func}: {d}");
            // Faults in compiled code name their function.
            assert!(d.function.is_some(), "{func}: {d}");
        }
        other => panic!("{func}: expected a {code} trap, got {other:?}"),
    }
    // As in WebAssembly, a trap ends only the call: the instance runs again as is.
    assert_eq!(inst.run("ok", &[]).unwrap().unwrap_returned().as_i32(), 42, "right after {func}");
    inst.reset().unwrap();
    assert_eq!(inst.run("ok", &[]).unwrap().unwrap_returned().as_i32(), 42, "after {func}");
}

#[test]
fn each_trap_code_then_reset() {
    let mut inst = instance("traps.wat");
    expect_trap(&mut inst, "heap_oob", &[], TrapCode::HeapOutOfBounds);
    expect_trap(&mut inst, "heap_oob_far", &[], TrapCode::HeapOutOfBounds);
    expect_trap(&mut inst, "stack_overflow", &[Val::I32(0)], TrapCode::StackOverflow);
    expect_trap(&mut inst, "div_zero", &[Val::I32(0)], TrapCode::IntegerDivByZero);
    expect_trap(&mut inst, "overflow", &[], TrapCode::IntegerOverflow);
    expect_trap(&mut inst, "bad_conversion", &[Val::F32(f32::NAN)], TrapCode::BadConversionToInteger);
    // Out of range (not NaN) is "integer overflow", as the spec tests word it.
    expect_trap(&mut inst, "bad_conversion", &[Val::F32(3e9)], TrapCode::IntegerOverflow);
    expect_trap(&mut inst, "unreachable", &[], TrapCode::Unreachable);
    expect_trap(&mut inst, "null_call", &[], TrapCode::IndirectCallToNull);
    expect_trap(&mut inst, "bad_sig", &[], TrapCode::BadSignature);
    expect_trap(&mut inst, "table_oob", &[], TrapCode::TableOutOfBounds);
    assert_eq!(inst.run("div_zero", &[Val::I32(1)]).unwrap().unwrap_returned().as_i32(), 1);
}

#[test]
fn fault_details_are_descriptive() {
    let mut inst = instance("traps.wat");
    let e = inst.run("unreachable", &[]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("Unreachable") && msg.contains("unreachable executed"), "{msg}");
    assert!(msg.contains("wasm offset"), "{msg}");
}

#[test]
fn state_survives_a_trap_until_reset() {
    let mut inst = instance("traps.wat");
    inst.run("store", &[Val::I32(77)]).unwrap();
    assert!(inst.run("unreachable", &[]).is_err());
    assert!(inst.is_faulted());
    assert_eq!(inst.run("load", &[]).unwrap().unwrap_returned().as_i32(), 77);
    assert!(inst.run("stack_overflow", &[Val::I32(0)]).is_err());
    assert_eq!(inst.run("load", &[]).unwrap().unwrap_returned().as_i32(), 77);
    inst.reset().unwrap();
    assert_eq!(inst.run("load", &[]).unwrap().unwrap_returned().as_i32(), 0);
}

#[test]
fn instances_are_independent_after_a_trap() {
    let r1 = region(2);
    let r2 = region(1);
    let module = load("traps.wat");
    let mut a = r1.new_instance(module.clone()).unwrap();
    let mut b = r1.new_instance(module.clone()).unwrap();
    let mut c = r2.new_instance(module).unwrap();
    b.run("store", &[Val::I32(5)]).unwrap();
    c.run("store", &[Val::I32(6)]).unwrap();
    assert!(a.run("heap_oob", &[]).is_err());
    assert!(a.run("stack_overflow", &[Val::I32(0)]).is_err());
    assert_eq!(b.run("load", &[]).unwrap().unwrap_returned().as_i32(), 5);
    assert_eq!(c.run("load", &[]).unwrap().unwrap_returned().as_i32(), 6);
    assert!(c.run("unreachable", &[]).is_err());
    assert_eq!(b.run("ok", &[]).unwrap().unwrap_returned().as_i32(), 42);
    a.reset().unwrap();
    assert_eq!(a.run("load", &[]).unwrap().unwrap_returned().as_i32(), 0);
}

#[test]
fn traps_on_other_threads() {
    let module = load("traps.wat");
    let region = region(4);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let mut inst = region.new_instance(module.clone()).unwrap();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    assert!(inst.run("heap_oob", &[]).is_err());
                    inst.reset().unwrap();
                    assert_eq!(inst.run("ok", &[]).unwrap().unwrap_returned().as_i32(), 42);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
