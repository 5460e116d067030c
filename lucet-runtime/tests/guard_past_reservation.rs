//! Code compiled with a small reservation and a guard relies on the guard following
//! the *accessible* memory, which may have grown past the reservation. A region sized
//! to exactly reservation + guard, as the instantiation check allows, must then either
//! refuse the module or still trap every access the code leaves to the guard.
//!
//! Found by the diff fuzz target (`lucet-fuzz diff --config bounds-checked-guard
//! --module lucet-runtime/tests/guests/guard_past_reservation.wat`): the access below
//! lands past the slot's heap reservation, in the guest stack, and returns instead of
//! trapping.

mod common;

use lucet_runtime::{DlModule, Error, Limits, MmapRegion, Region, TrapCode};

const RESERVED: u64 = 64 << 10;
const GUARD: u64 = 2 << 30;

#[test]
fn guard_follows_memory_grown_past_the_reservation() {
    let text = std::fs::read_to_string(common::guest_path("guard_past_reservation.wat")).unwrap();
    let so = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("guard_past_reservation.so");
    lucetc::Lucetc::try_from_bytes(text.as_bytes())
        .unwrap()
        .with_reserved_size(RESERVED)
        .with_guard_size(GUARD)
        .shared_object_file(&so)
        .unwrap();
    let module = DlModule::load(&so).unwrap();
    let limits = Limits::default()
        .with_heap_memory_size(4 << 16)
        .with_heap_address_space_size((RESERVED + GUARD) as usize);
    let region = MmapRegion::create(1, &limits).unwrap();
    let mut inst = match region.new_instance(module) {
        // Refusing the combination, naming it, is a correct answer too.
        Err(Error::LimitsExceeded(msg)) => {
            assert!(msg.contains("guard") || msg.contains("heap"), "{msg}");
            return;
        }
        r => r.unwrap(),
    };
    assert_eq!(inst.run("in_bounds", &[]).unwrap().unwrap_returned().as_i32(), 0);
    for f in ["load_in_guard", "store_in_guard"] {
        match inst.run(f, &[]) {
            Err(Error::RuntimeFault(d)) => assert_eq!(d.trap_code, TrapCode::HeapOutOfBounds, "{f}"),
            Err(e) => panic!("{f} must trap with HeapOutOfBounds, got {e}"),
            Ok(_) => panic!("{f} must trap with HeapOutOfBounds, but it returned"),
        }
    }
}
