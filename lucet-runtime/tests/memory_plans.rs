//! Memories and the code that accesses them: every mapping the runtime makes, and
//! every memory it links to an importer, must cover the reservation and guard the
//! accessing code was compiled for (`lucetc --reserved-size/--guard-size`).

mod common;
use common::*;
use lucet_runtime::{DlModule, Error, InstanceHandle, Limits, Linker, MmapRegion, Region, TrapCode};
use std::sync::Arc;

const SMALL_HEAP: u64 = 64 << 10;
/// What the secret-holding neighbour stores, and where in its heap.
const SECRET: i32 = 0x5ec2_e7ed;
const SECRET_AT: u64 = 100;

/// Slots holding 64 KiB heaps, laid out heap | 64 KiB stack guard | 64 KiB stack.
fn small_slots(n: usize) -> Arc<MmapRegion> {
    let limits = Limits::default()
        .with_heap_address_space_size(SMALL_HEAP as usize)
        .with_heap_memory_size(SMALL_HEAP as usize)
        .with_stack_size(64 << 10)
        .with_hostcall_reservation(16 << 10);
    MmapRegion::create(n, &limits).unwrap()
}
/// The vmctx area, the heap reservation, the stack guard and the stack.
const SLOT_SIZE: u64 = lucet_module::VMCTX_AREA as u64 + SMALL_HEAP + (64 << 10) + (64 << 10);

const READER: &str = r#"(module (import "ex" "mem" (memory 1))
  (func (export "read") (param i32) (result i32) local.get 0 i32.load)
  (func (export "write") (param i32 i32) local.get 0 local.get 1 i32.store))"#;

/// An exporter of one page in slot 0, compiled for its 64 KiB slot, and a neighbour in
/// slot 1 holding the secret.
fn exporter_and_neighbour(region: &Arc<MmapRegion>) -> (InstanceHandle, InstanceHandle) {
    let ex = compile_wat_with_heap(r#"(module (memory (export "mem") 1 1))"#, SMALL_HEAP, 0);
    let ex = region.new_instance(DlModule::load(ex).unwrap()).unwrap();
    let nb = compile_wat_with_heap(
        r#"(module (memory 1 1) (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store))"#,
        SMALL_HEAP,
        0,
    );
    let mut nb = region.new_instance(DlModule::load(nb).unwrap()).unwrap();
    nb.run("store", &[(SECRET_AT as i32).into(), SECRET.into()]).unwrap();
    // The neighbour's heap lies one slot above the exporter's.
    assert_eq!(nb.heap().as_ptr() as u64, ex.heap().as_ptr() as u64 + SLOT_SIZE, "slot layout assumed by this test");
    (ex, nb)
}

#[test]
fn an_importer_compiled_for_a_guard_region_is_not_linked_to_a_small_memory() {
    let region = small_slots(3);
    let (ex, _neighbour) = exporter_and_neighbour(&region);
    let mut linker = Linker::new();
    linker.define("ex", "mem", ex.get_export("mem").unwrap());
    // Compiled with the defaults: a 4 GiB reservation and a 2 GiB guard, no bounds checks.
    let importer = DlModule::load_unresolved(compile_wat(READER)).unwrap();
    match region.new_instance_builder(importer).with_linker(&linker).build() {
        Err(e) => {
            let msg = e.to_string();
            assert!(matches!(e, Error::UnresolvedImport(_)), "{e:?}");
            for part in ["`ex`.`mem`", "4 GiB reservation and a 2 GiB guard", "64 KiB reservation", "--reserved-size"] {
                assert!(msg.contains(part), "{part:?} missing from: {msg}");
            }
        }
        Ok(mut im) => {
            // The escape: unchecked loads past the exporter's page read its stack and the
            // neighbour's heap.
            let at = (SLOT_SIZE + SECRET_AT) as i32;
            let got = im.run("read", &[at.into()]);
            panic!("the importer was linked; its read at {at:#x} gave {got:?} (the neighbour's secret is {SECRET:#x})");
        }
    }
}

#[test]
fn an_importer_compiled_like_the_exporter_links_and_traps_past_the_memory() {
    let region = small_slots(3);
    let (ex, _neighbour) = exporter_and_neighbour(&region);
    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();
    let importer = DlModule::load_unresolved(compile_wat_with_heap(READER, SMALL_HEAP, 0)).unwrap();
    let mut im = region.new_instance_builder(importer).with_linker(&linker).build().unwrap();
    im.run("write", &[8i32.into(), 77i32.into()]).unwrap();
    assert_eq!(ex.heap()[8], 77);
    for at in [SMALL_HEAP - 3, SMALL_HEAP, SLOT_SIZE + SECRET_AT] {
        for (f, args) in [("read", vec![(at as i32).into()]), ("write", vec![(at as i32).into(), 1i32.into()])] {
            match im.run(f, &args) {
                Err(Error::RuntimeFault(d)) => assert_eq!(d.trap_code, TrapCode::HeapOutOfBounds, "{f} at {at:#x}"),
                other => panic!("{f} at {at:#x}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_module_compiled_for_a_guard_region_needs_slots_that_hold_it() {
    let region = small_slots(1);
    let m = DlModule::load(compile_wat(r#"(module (memory 1))"#)).unwrap();
    let e = region.new_instance(m).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::LimitsExceeded(_)) && msg.contains("--reserved-size"), "{msg}");
    assert!(msg.contains("heap_address_space_size") && msg.contains("2 GiB guard"), "{msg}");
}

/// A second memory gets a mapping of its own; code that relies on a guard past the
/// current length finds that guard there even at the memory's largest size.
#[test]
fn a_second_memory_has_the_guard_its_code_relies_on() {
    let limits = Limits::default().with_heap_memory_size(128 << 10);
    let region = MmapRegion::create(1, &limits).unwrap();
    let wat = r#"(module (memory 1) (memory $m 1)
      (func (export "grow") (result i32) i32.const 1 memory.grow $m)
      (func (export "far") (param i32) (result i32) local.get 0 i32.load $m offset=60000))"#;
    let m = DlModule::load(compile_wat_with_heap(wat, SMALL_HEAP, SMALL_HEAP)).unwrap();
    let mut inst = region.new_instance(m).unwrap();
    assert_eq!(inst.run("grow", &[]).unwrap().unwrap_returned().as_i32(), 1);
    assert_eq!(inst.run("grow", &[]).unwrap().unwrap_returned().as_i32(), -1, "limited to 128 KiB");
    assert_eq!(inst.run("far", &[0i32.into()]).unwrap().unwrap_returned().as_i32(), 0);
    // The index equals the length, so only the guard stops this access.
    match inst.run("far", &[(128i32 << 10).into()]) {
        Err(Error::RuntimeFault(d)) => assert_eq!(d.trap_code, TrapCode::HeapOutOfBounds),
        other => panic!("{other:?}"),
    }
}
