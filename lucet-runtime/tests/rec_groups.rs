//! Function types in recursion groups (Wasm 3.0): a type's identity is its group and its
//! position there, so equal parameter lists are not enough for `call_indirect`, for a
//! function import, or for a tag import.

mod common;
use common::*;
use lucet_runtime::{DlModule, Error, Linker, Region, TrapCode, Val};

const EXPORTER: &str = r#"(module
  (rec (type $t1 (func)) (type $t2 (func)))
  (type $lone (func))
  (tag (export "tag") (type $t1))
  (func (export "f") (type $t1))
  (func $a (type $t1))
  (func $b (type $t2))
  (func $c (type $lone))
  (table (export "tab") funcref (elem $a $b $c))
  (func (export "call_t1") (param i32) (call_indirect (type $t1) (local.get 0)))
  (func (export "call_t2") (param i32) (call_indirect (type $t2) (local.get 0)))
  (func (export "call_lone") (param i32) (call_indirect (type $lone) (local.get 0)))
)"#;

#[test]
fn call_indirect_tells_group_members_apart() {
    let mut inst = region(1).new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    for (export, good) in [("call_t1", 0), ("call_t2", 1), ("call_lone", 2)] {
        for slot in 0..3 {
            let r = inst.run(export, &[Val::I32(slot)]);
            if slot == good {
                r.unwrap_or_else(|e| panic!("{export}({slot}): {e}"));
            } else {
                match r {
                    Err(Error::RuntimeFault(d)) => assert_eq!(d.trap_code, TrapCode::BadSignature, "{export}({slot})"),
                    other => panic!("{export}({slot}): expected a bad signature, got {other:?}"),
                }
            }
        }
    }
}

/// Links `importer` against the exporter's instance; the error's text if it fails.
fn link(importer: &str) -> Result<(), String> {
    let region = region(2);
    let a = region.new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("M", &a).unwrap();
    let b = DlModule::load_unresolved(compile_wat(importer)).unwrap();
    region.new_instance_builder(b).with_linker(&linker).build().map(drop).map_err(|e| e.to_string())
}

#[test]
fn a_tag_import_needs_the_same_group_and_position() {
    // The same group in another module is the same type.
    link(r#"(module (rec (type $t1 (func)) (type $t2 (func))) (tag (import "M" "tag") (type $t1)))"#).unwrap();
    let e = link(r#"(module (rec (type $t1 (func)) (type $t2 (func))) (tag (import "M" "tag") (type $t2)))"#)
        .unwrap_err();
    assert!(e.contains("another type"), "{e}");
    let e = link(r#"(module (type $t (func)) (tag (import "M" "tag") (type $t)))"#).unwrap_err();
    assert!(e.contains("another type"), "{e}");
}

#[test]
fn a_function_import_needs_the_same_group_and_position() {
    link(r#"(module (rec (type $t1 (func)) (type $t2 (func))) (import "M" "f" (func (type $t1))))"#).unwrap();
    let e = link(r#"(module (rec (type $t1 (func)) (type $t2 (func))) (import "M" "f" (func (type $t2))))"#)
        .unwrap_err();
    assert!(e.contains("another type"), "{e}");
    let e = link(r#"(module (import "M" "f" (func)))"#).unwrap_err();
    assert!(e.contains("another type"), "{e}");
}
