//! Active data segments through loading and instantiation: placements the memory image
//! must handle, and segments that must not appear applied after one that traps.

mod common;
use common::*;
use lucet_runtime::{DlModule, Error, Linker, Region};

/// Loads `wat`, instantiates it and returns memory 0.
fn initial_memory(wat: &str) -> Vec<u8> {
    let module = DlModule::load(compile_wat(wat)).unwrap_or_else(|e| panic!("load: {e}"));
    let inst = region(1).new_instance(module).unwrap_or_else(|e| panic!("instantiate: {e}"));
    inst.heap().to_vec()
}

#[test]
fn an_empty_segment_outside_the_pages_of_data_loads() {
    // The empty segment lies below the page-rounded range of the other one.
    let heap = initial_memory(r#"(module (memory 1) (data (i32.const 0) "") (data (i32.const 5501) "3"))"#);
    assert_eq!(heap[5501], b'3');
    assert_eq!(heap.iter().filter(|&&b| b != 0).count(), 1);
    // Above it, at the very end of memory.
    let heap = initial_memory(r#"(module (memory 1) (data (i32.const 9) "ab") (data (i32.const 65536) ""))"#);
    assert_eq!(&heap[8..12], b"\0ab\0");
}

#[test]
fn segments_at_the_end_of_memory_and_overlapping_ones() {
    let heap = initial_memory(
        r#"(module (memory 2)
             (data (i32.const 131070) "zz")
             (data (i32.const 100) "aaaa") (data (i32.const 101) "bb"))"#,
    );
    assert_eq!(heap.len(), 131072);
    assert_eq!(&heap[131070..], b"zz");
    assert_eq!(&heap[100..104], b"abba");
    // A segment one byte past the end traps, and nothing is instantiated.
    let module = DlModule::load(compile_wat(r#"(module (memory 1) (data (i32.const 65535) "zz"))"#)).unwrap();
    let e = region(1).new_instance(module).unwrap_err();
    assert!(matches!(e, Error::InstantiationTrap(_)), "{e}");
}

#[test]
fn data_after_a_trapping_segment_of_another_memory_is_not_applied() {
    let region = region(2);
    let table = compile_wat(
        r#"(module (table (export "tab") 1 funcref) (type $r (func (result i32)))
             (func (export "call") (result i32) i32.const 0 call_indirect (type $r)))"#,
    );
    let mut table = region.new_instance(DlModule::load(table).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("t", &table).unwrap();
    // The element segment succeeds and leaves a function that reads memory 0 callable
    // through the other instance's table; the first data segment traps, so the second
    // must not have been applied.
    let failing = compile_wat(
        r#"(module (import "t" "tab" (table 1 funcref)) (memory 1) (memory 1)
             (func $read (result i32) (i32.load8_u (i32.const 8)))
             (elem (i32.const 0) $read)
             (data (memory 1) (i32.const 65536) "t")
             (data (memory 0) (i32.const 8) "m"))"#,
    );
    let failing = DlModule::load_unresolved(failing).unwrap();
    let e = region.new_instance_builder(failing).with_linker(&linker).build().unwrap_err();
    assert!(matches!(e, Error::InstantiationTrap(_)), "{e}");
    assert_eq!(table.run("call", &[]).unwrap().unwrap_returned().as_i32(), 0);
}
