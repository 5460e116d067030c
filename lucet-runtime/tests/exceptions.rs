//! WebAssembly exceptions: throwing and catching across frames and instances, host
//! functions that throw, uncaught exceptions, tags, reset, and deep recursion.

mod common;
use common::*;
use lucet_runtime::{DlModule, Error, Extern, FuncType, Linker, Region, Tag, TrapCode, Val, ValType};

/// Throws 10 frames down and catches with a payload of every scalar type, while the
/// catching function keeps values live across the call (they must survive the throw).
const FRAMES: &str = r#"(module
  (tag $e (export "e") (param i32 i64 f32 f64))
  (tag $other (param i32))
  (func $down (param $n i32) (result i32)
    (if (i32.eqz (local.get $n))
      (then (throw $e (i32.const 7) (i64.const -8) (f32.const 1.5) (f64.const 2.25))))
    (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "ten_up") (param $x i32) (result i32)
    (local $keep i32)
    (local.set $keep (i32.mul (local.get $x) (i32.const 3)))
    (block $h (result i32 i64 f32 f64)
      (try_table (catch $e $h)
        (drop (call $down (i32.const 10))))
      (return (i32.const -1)))
    (drop) (drop) (drop)
    (i32.add (local.get $keep)))
  (func (export "same_function") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $other $h)
        (throw $other (local.get 0)))
      (i32.const -1)))
  (func (export "uncaught") (throw $other (i32.const 1)))
  (func (export "not_matching") (result i32)
    (block $h (result i32)
      (try_table (catch $other $h) (drop (call $down (i32.const 2))))
      (return (i32.const 0)))
    (drop)
    (i32.const 1))
  (func $deep (export "deep") (param $n i32) (result i32)
    (block $h
      (try_table (catch_all $h)
        (return (i32.add (call $deep (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))))
    (i32.const 0))
)"#;

#[test]
fn a_throw_lands_ten_frames_up_with_its_payload_and_the_callers_values() {
    let mut inst = region(1).new_instance(DlModule::load(compile_wat(FRAMES)).unwrap()).unwrap();
    let r = inst.run("ten_up", &[Val::I32(5)]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I32(7 + 15)]);
    let r = inst.run("same_function", &[Val::I32(42)]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I32(42)]);
}

#[test]
fn an_uncaught_exception_names_its_tag_and_the_instance_runs_again() {
    let mut inst = region(1).new_instance(DlModule::load(compile_wat(FRAMES)).unwrap()).unwrap();
    match inst.run("uncaught", &[]) {
        Err(Error::UncaughtException { tag }) => assert!(tag.contains("tag 1"), "{tag}"),
        other => panic!("expected an uncaught exception, got {other:?}"),
    }
    match inst.run("not_matching", &[]) {
        Err(Error::UncaughtException { tag }) => assert!(tag.contains("`e`"), "{tag}"),
        other => panic!("expected an uncaught exception, got {other:?}"),
    }
    let r = inst.run("same_function", &[Val::I32(3)]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I32(3)]);
}

#[test]
fn deep_recursion_with_handlers_at_every_level_is_a_stack_overflow() {
    let mut inst = region(1).new_instance(DlModule::load(compile_wat(FRAMES)).unwrap()).unwrap();
    match inst.run("deep", &[Val::I32(0)]) {
        Err(Error::RuntimeFault(d)) => assert_eq!(d.trap_code, TrapCode::StackOverflow),
        other => panic!("expected a stack overflow, got {other:?}"),
    }
    // The instance is still usable.
    let r = inst.run("same_function", &[Val::I32(9)]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I32(9)]);
}

const THROWER: &str = r#"(module
  (tag $t (export "t") (param i32))
  (func (export "throw") (param i32) (throw $t (local.get 0)))
  (func (export "catch_from") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (call_indirect (param i32) (local.get 0) (i32.const 0)))
      (i32.const -1)))
  (table (export "tab") 1 funcref)
)"#;

const CATCHER: &str = r#"(module
  (import "a" "t" (tag $t (param i32)))
  (import "a" "throw" (func $throw (param i32)))
  (import "a" "tab" (table 1 funcref))
  (tag $mine (param i32))
  (func $throw_mine (param i32) (throw $mine (local.get 0)))
  (elem (i32.const 0) $throw_mine)
  (func (export "catch_imported") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (call $throw (local.get 0)))
      (i32.const -1)))
  (func (export "mine_is_not_theirs") (result i32)
    (block $h (result i32)
      (try_table (catch $mine $h) (call $throw (i32.const 5)))
      (i32.const -1)))
)"#;

#[test]
fn exceptions_cross_instances_and_tags_are_compared_by_identity() {
    let region = region(2);
    let a = region.new_instance(DlModule::load(compile_wat(THROWER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("a", &a).unwrap();
    let b_mod = DlModule::load_unresolved(compile_wat(CATCHER)).unwrap();
    let mut b = region.new_instance_builder(b_mod).with_linker(&linker).build().unwrap();
    let r = b.run("catch_imported", &[Val::I32(11)]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I32(11)]);
    // `$mine` is another tag than the exporter's `$t`: nothing catches it here.
    assert!(matches!(b.run("mine_is_not_theirs", &[]), Err(Error::UncaughtException { .. })));
    // B's own tag, thrown by B's code through A's table, is not A's `$t` either.
    let mut a = a;
    assert!(matches!(a.run("catch_from", &[Val::I32(4)]), Err(Error::UncaughtException { .. })));
    match a.get_export("t") {
        Some(Extern::Tag(t)) => assert_eq!(t.ty().params, vec![ValType::I32]),
        _ => panic!("the tag export is a tag"),
    }
}

const HOST_THROW: &str = r#"(module
  (import "host" "tag" (tag $t (param i32 i64)))
  (import "host" "fail" (func $fail (param i32)))
  (func (export "call_host") (param i32) (result i64)
    (local $keep i64) (local $y i64)
    (local.set $keep (i64.const 1000))
    (block $h (result i32 i64)
      (try_table (catch $t $h) (call $fail (local.get 0)))
      (return (i64.const -1)))
    (local.set $y)
    (i64.extend_i32_u)
    (i64.add (local.get $y))
    (i64.add (local.get $keep)))
)"#;

#[test]
fn a_host_function_throws_into_the_guest() {
    let tag = Tag::new(FuncType { params: vec![ValType::I32, ValType::I64], results: vec![] });
    let mut linker = Linker::new();
    linker.define("host", "tag", tag.clone());
    let thrown = tag.clone();
    let ty = FuncType { params: vec![ValType::I32], results: vec![] };
    linker.func_new("host", "fail", ty, move |args| {
        // Something with a destructor, which must run.
        let owned = vec![0u8; 64];
        let Val::I32(x) = args[0] else { unreachable!() };
        drop(owned);
        Err(lucet_runtime::Trap::exception(thrown.clone(), vec![Val::I32(x), Val::I64(20)]))
    });
    let module = DlModule::load_unresolved(compile_wat(HOST_THROW)).unwrap();
    let mut inst = region(1).new_instance_builder(module).with_linker(&linker).build().unwrap();
    let r = inst.run("call_host", &[Val::I32(3)]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I64(1023)]);
}

const KEEP: &str = r#"(module
  (tag $t (param i32))
  (global $saved (mut exnref) (ref.null exn))
  (func (export "catch_and_keep") (param i32)
    (block $h (result i32 exnref)
      (try_table (catch_ref $t $h) (throw $t (local.get 0)))
      (unreachable))
    (global.set $saved)
    (drop))
  (func (export "rethrow_kept") (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (throw_ref (global.get $saved)))
      (i32.const -1)))
  (func (export "kept_is_null") (result i32) (ref.is_null (global.get $saved)))
  (func (export "throw_in_a_loop") (param $n i32) (result i32)
    (local $sum i32)
    (loop $again
      (block $h (result i32)
        (try_table (catch $t $h) (throw $t (local.get $n)))
        (unreachable))
      (local.set $sum (i32.add (local.get $sum)))
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $sum))
)"#;

#[test]
fn exnrefs_live_until_reset() {
    let mut inst = region(1).new_instance(DlModule::load(compile_wat(KEEP)).unwrap()).unwrap();
    inst.run("catch_and_keep", &[Val::I32(77)]).unwrap();
    for _ in 0..3 {
        let r = inst.run("rethrow_kept", &[]).unwrap().returned().unwrap();
        assert_eq!(r.values(), &[Val::I32(77)]);
    }
    // Catching without keeping the object, many times, leaves the kept one intact.
    let r = inst.run("throw_in_a_loop", &[Val::I32(100_000)]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I32((100_000i64 * 100_001 / 2) as i32)]);
    let r = inst.run("rethrow_kept", &[]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I32(77)]);
    inst.reset().unwrap();
    let r = inst.run("kept_is_null", &[]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I32(1)]);
    // A null exnref from the guest's point of view traps.
    match inst.run("rethrow_kept", &[]) {
        Err(Error::RuntimeFault(d)) => assert_eq!(d.trap_code, TrapCode::NullReference),
        other => panic!("expected a null reference trap, got {other:?}"),
    }
}

const MAKER: &str = r#"(module
  (tag $t (export "t") (param i32))
  (func (export "make") (result exnref)
    (local $x exnref)
    (block $h (result i32 exnref)
      (try_table (catch_ref $t $h) (throw $t (i32.const 5)))
      (unreachable))
    (local.set $x)
    (drop)
    (local.get $x))
)"#;

const HOLDER: &str = r#"(module
  (import "a" "make" (func $make (result exnref)))
  (import "a" "t" (tag $t (param i32)))
  (global $g (mut exnref) (ref.null exn))
  (func (export "keep") (global.set $g (call $make)))
  (func (export "rethrow") (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (throw_ref (global.get $g)))
      (i32.const -1)))
)"#;

#[test]
fn an_exnref_that_outlived_its_object_is_refused_not_read() {
    let region = region(2);
    let mut a = region.new_instance(DlModule::load(compile_wat(MAKER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("a", &a).unwrap();
    let b_mod = DlModule::load_unresolved(compile_wat(HOLDER)).unwrap();
    let mut b = region.new_instance_builder(b_mod).with_linker(&linker).build().unwrap();
    b.run("keep", &[]).unwrap();
    let r = b.run("rethrow", &[]).unwrap().returned().unwrap();
    assert_eq!(r.values(), &[Val::I32(5)]);
    // Resetting the instance that caught it discards the object B still points at.
    a.reset().unwrap();
    match b.run("rethrow", &[]) {
        Err(Error::RuntimeTerminated(d)) => assert!(d.to_string().contains("no longer exists"), "{d}"),
        other => panic!("expected the run to end, got {other:?}"),
    }
}
