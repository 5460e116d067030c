//! Slots keep their heap, image and stack between instances; these tests check that
//! nothing one instance wrote is visible to the next one or after a reset, whatever
//! path the reset takes (page-by-page for small heaps, the kernel's page tables for
//! larger ones, `madvise` past the resident window).

mod common;
use common::*;
use lucet_runtime::{DlModule, Region, Val};
use std::sync::Arc;

/// 40 wasm pages (2.5 MiB: past the 2 MiB window that is cleaned page by page), data
/// at both ends of the first page and in page 20, and a function that writes `n`
/// bytes of 0xff, one every 4 KiB, from `start`.
const DATA_WAT: &str = r#"
(module
  (memory (export "memory") 40)
  (data (i32.const 0) "head")
  (data (i32.const 65530) "tail!!")
  (data (i32.const 1310720) "page twenty")
  (func (export "scribble") (param $start i32) (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store8 (local.get $start) (i32.const 255))
        (local.set $start (i32.add (local.get $start) (i32.const 4096)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
"#;

const SMALL_WAT: &str = r#"
(module
  (memory (export "memory") 1)
  (data (i32.const 100) "small")
  (func (export "scribble") (param $start i32) (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store8 (local.get $start) (i32.const 255))
        (local.set $start (i32.add (local.get $start) (i32.const 4096)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))))
"#;

const NO_DATA_WAT: &str = r#"(module (memory (export "memory") 40))"#;

fn module(wat: &str) -> Arc<DlModule> {
    DlModule::load(compile_wat(wat)).unwrap()
}

fn expected_data_heap(pages: usize) -> Vec<u8> {
    let mut v = vec![0u8; pages * 65536];
    v[0..4].copy_from_slice(b"head");
    v[65530..65536].copy_from_slice(b"tail!!");
    v[1310720..1310731].copy_from_slice(b"page twenty");
    v
}

fn assert_heap(heap: &[u8], want: &[u8]) {
    assert_eq!(heap.len(), want.len(), "heap size");
    if let Some(i) = heap.iter().zip(want).position(|(a, b)| a != b) {
        panic!("heap byte {i:#x} is {:#x}, expected {:#x}", heap[i], want[i]);
    }
}

#[test]
fn reset_restores_every_written_page() {
    let m = module(DATA_WAT);
    let region = region(1);
    let mut inst = region.new_instance(m).unwrap();
    assert_heap(inst.heap(), &expected_data_heap(40));
    // Every page, image pages included, then growth past the initial size.
    inst.run("scribble", &[Val::I32(1), Val::I32(640)]).unwrap();
    assert_eq!(inst.run("grow", &[Val::I32(4)]).unwrap().unwrap_returned().as_i32(), 40);
    inst.run("scribble", &[Val::I32(40 * 65536 + 7), Val::I32(64)]).unwrap();
    inst.reset().unwrap();
    assert_heap(inst.heap(), &expected_data_heap(40));
    // Only a few pages this time: the resident path.
    inst.run("scribble", &[Val::I32(3), Val::I32(3)]).unwrap();
    inst.run("scribble", &[Val::I32(1310725), Val::I32(1)]).unwrap();
    inst.reset().unwrap();
    assert_heap(inst.heap(), &expected_data_heap(40));
    // Memory grown again starts out zeroed.
    assert_eq!(inst.run("grow", &[Val::I32(4)]).unwrap().unwrap_returned().as_i32(), 40);
    assert!(inst.heap()[40 * 65536..].iter().all(|&b| b == 0));
}

#[test]
fn the_next_instance_in_a_slot_starts_clean() {
    let data = module(DATA_WAT);
    let small = module(SMALL_WAT);
    let plain = module(NO_DATA_WAT);
    let region = region(1);
    for _ in 0..3 {
        let mut a = region.new_instance(data.clone()).unwrap();
        assert_heap(a.heap(), &expected_data_heap(40));
        a.run("scribble", &[Val::I32(0), Val::I32(600)]).unwrap();
        a.heap_mut()[2_000_000] = 9;
        drop(a);

        let mut b = region.new_instance(small.clone()).unwrap();
        let mut want = vec![0u8; 65536];
        want[100..105].copy_from_slice(b"small");
        assert_heap(b.heap(), &want);
        b.run("scribble", &[Val::I32(50), Val::I32(16)]).unwrap();
        drop(b);

        // Where the other modules' images were there are zeroes now.
        let c = region.new_instance(plain.clone()).unwrap();
        assert_heap(c.heap(), &vec![0u8; 40 * 65536]);
        drop(c);
    }
    assert_eq!(region.free_slots(), 1);
}

#[test]
fn a_writable_heap_never_outlasts_its_memory() {
    // A slot keeps its protections; a module with a smaller memory must still fault
    // just past its own end.
    let region = region(1);
    let mut big = region.new_instance(module(DATA_WAT)).unwrap();
    big.run("scribble", &[Val::I32(65536 * 2), Val::I32(1)]).unwrap();
    drop(big);
    let mut small = region.new_instance(module(SMALL_WAT)).unwrap();
    assert!(small.run("scribble", &[Val::I32(65536), Val::I32(1)]).is_err());
}

const EXPORTER_WAT: &str = r#"
(module
  (memory 1)
  (data (i32.const 0) "e")
  (table (export "tab") 10 funcref)
  (type $r (func (result i32)))
  (func (export "call7") (result i32) (call_indirect (type $r) (i32.const 7)))
  (func (export "grow") (result i32) (table.grow (ref.null func) (i32.const 10))))
"#;

/// Puts a function reading its own memory at table index 7, and fails (its second
/// segment is out of bounds) unless the imported table has grown to 20 elements.
const IMPORTER_WAT: &str = r#"
(module
  (import "ex" "tab" (table 10 funcref))
  (memory 1)
  (data (i32.const 0) "\2a")
  (func $f (result i32) (i32.load8_u (i32.const 0)))
  (elem (i32.const 7) $f)
  (elem (i32.const 15) $f))
"#;

#[test]
fn a_failed_instantiation_shows_no_data_even_in_a_warm_slot() {
    let exporter = module(EXPORTER_WAT);
    let importer = DlModule::load_unresolved(compile_wat(IMPORTER_WAT)).unwrap();
    let region = region(2);
    // First a successful pair, so both slots are left holding their module's image.
    {
        let mut ex = region.new_instance(exporter.clone()).unwrap();
        ex.run("grow", &[]).unwrap();
        let mut linker = lucet_runtime::Linker::new();
        linker.instance("ex", &ex).unwrap();
        let _im = region.new_instance_builder(importer.clone()).with_linker(&linker).build().unwrap();
        assert_eq!(ex.run("call7", &[]).unwrap().unwrap_returned().as_i32(), 42);
    }
    assert_eq!(region.free_slots(), 2);
    // Now the importer's element segments fail: Wasm 2.0 keeps the first one, so its
    // function is reachable, but no data segment ran, so it must read zero.
    let mut ex = region.new_instance(exporter).unwrap();
    let mut linker = lucet_runtime::Linker::new();
    linker.instance("ex", &ex).unwrap();
    assert!(region.new_instance_builder(importer).with_linker(&linker).build().is_err());
    assert_eq!(ex.run("call7", &[]).unwrap().unwrap_returned().as_i32(), 0);
}
