//! Typed calls (`Instance::typed_func`) and the bounds-checked guest-memory helpers.

mod common;
use common::*;
use lucet_runtime::{Error, GuestMemoryError, Region};

const GUEST: &str = r#"(module
  (memory (export "memory") 1)
  (data (i32.const 32) "a string\00")
  (data (i32.const 65530) "abcdef")
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "nothing"))
  (func (export "one") (param i64) (result i64) local.get 0 i64.const 1 i64.add)
  (func (export "mixed") (param i32 i64 f32 f64) (result f64 i32)
    local.get 3 local.get 2 f64.promote_f32 f64.add
    local.get 1 f64.convert_i64_s f64.add
    local.get 0)
  (func (export "trap") (result i32) unreachable)
  (global (export "g") i32 (i32.const 0))
)"#;

fn inst() -> lucet_runtime::InstanceHandle {
    region(1).new_instance(lucet_runtime::DlModule::load(compile_wat(GUEST)).unwrap()).unwrap()
}

#[test]
fn typed_calls_with_checked_signatures() {
    let mut inst = inst();
    let add = inst.typed_func::<(i32, i32), i32>("add").unwrap();
    assert_eq!(add.call(&mut inst, (5, 3)).unwrap(), 8);
    assert_eq!(add.call(&mut inst, (i32::MAX, 1)).unwrap(), i32::MIN);
    let nothing = inst.typed_func::<(), ()>("nothing").unwrap();
    nothing.call(&mut inst, ()).unwrap();
    let one = inst.typed_func::<i64, i64>("one").unwrap();
    assert_eq!(one.call(&mut inst, 41).unwrap(), 42);
    let unsigned = inst.typed_func::<u64, u64>("one").unwrap();
    assert_eq!(unsigned.call(&mut inst, u64::MAX).unwrap(), 0);
    let mixed = inst.typed_func::<(i32, i64, f32, f64), (f64, i32)>("mixed").unwrap();
    assert_eq!(mixed.call(&mut inst, (7, 2, 0.5, 0.25)).unwrap(), (2.75, 7));
    let trap = inst.typed_func::<(), i32>("trap").unwrap();
    assert!(matches!(trap.call(&mut inst, ()), Err(Error::RuntimeFault(_))));
    // A trap ends only that call.
    assert_eq!(add.call(&mut inst, (1, 2)).unwrap(), 3);
}

#[test]
fn signature_mismatch_names_both_signatures() {
    let inst = inst();
    let err = inst.typed_func::<(i32, i64), i32>("add").unwrap_err().to_string();
    assert!(err.contains("(i32, i32) -> (i32)") && err.contains("(i32, i64) -> (i32)"), "{err}");
    let err = inst.typed_func::<(i32, i32), ()>("add").unwrap_err().to_string();
    assert!(err.contains("(i32, i32) -> ()"), "{err}");
    let err = inst.typed_func::<(), ()>("missing").unwrap_err().to_string();
    assert!(err.contains("no exported function `missing`") && err.contains("add"), "{err}");
    let err = inst.typed_func::<(), ()>("g").unwrap_err().to_string();
    assert!(err.contains("not a function"), "{err}");
}

#[test]
fn typed_funcs_refuse_instances_of_other_modules() {
    let mut a = inst();
    let other = region(1)
        .new_instance(
            lucet_runtime::DlModule::load(compile_wat(
                r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0))"#,
            ))
            .unwrap(),
        )
        .unwrap();
    let add = other.typed_func::<(i32, i32), i32>("add").unwrap();
    // The other module's `add` has the same signature: it is found by name.
    assert_eq!(add.call(&mut a, (1, 2)).unwrap(), 3);
    let other_sig = a.typed_func::<(i32, i32), i32>("add").unwrap();
    let mut third = region(1)
        .new_instance(lucet_runtime::DlModule::load(compile_wat(r#"(module (func (export "add") (param i64)))"#)).unwrap())
        .unwrap();
    let err = other_sig.call(&mut third, (1, 2)).unwrap_err().to_string();
    assert!(err.contains("another module") && err.contains("(i64) -> ()"), "{err}");
    // The same module in another instance is fine.
    let mut b = inst();
    let add = a.typed_func::<(i32, i32), i32>("add").unwrap();
    assert_eq!(add.call(&mut b, (2, 2)).unwrap(), 4);
}

#[test]
fn guest_memory_helpers_are_bounds_checked() {
    let mut inst = inst();
    assert_eq!(inst.read_guest_bytes(32, 8).unwrap(), b"a string");
    assert_eq!(inst.read_guest_str(32).unwrap(), "a string");
    assert_eq!(inst.read_guest_cstring(32).unwrap().as_bytes(), b"a string");
    assert_eq!(inst.guest_slice(65530, 6).unwrap(), b"abcdef");
    assert_eq!(inst.guest_slice(65536, 0).unwrap(), b"");
    assert!(matches!(inst.guest_slice(65530, 7), Err(GuestMemoryError::OutOfBounds { .. })));
    assert!(inst.read_guest_bytes(u32::MAX, u32::MAX).is_err());
    // "abcdef" runs into the end of memory without a NUL.
    assert!(matches!(inst.read_guest_str(65530), Err(GuestMemoryError::Unterminated { searched: 6, .. })));
    assert!(matches!(inst.read_guest_str(70000), Err(GuestMemoryError::OutOfBounds { .. })));
    inst.write_guest_bytes(100, b"\xff\xfe\0").unwrap();
    assert!(matches!(inst.read_guest_str(100), Err(GuestMemoryError::NotUtf8 { valid_up_to: 0, .. })));
    assert_eq!(inst.read_guest_cstring(100).unwrap().as_bytes(), b"\xff\xfe");
    let err = inst.write_guest_bytes(65535, b"xy").unwrap_err();
    assert_eq!(err.to_string(), "guest range 0xffff..0xffff+2 is outside the guest's 65536-byte memory");
    // Nothing was written by the failed write.
    assert_eq!(inst.heap()[65535], b'f');
    let e: Error = err.into();
    assert!(matches!(e, Error::InvalidArgument(_)));
}
