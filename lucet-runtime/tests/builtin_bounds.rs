//! Hostile counts, lengths and indices passed to the runtime's builtins (memory.grow,
//! memory.fill/copy/init, data.drop, table.grow/fill/copy/init, elem.drop): each one
//! fails the way WebAssembly says (-1 from a grow, a trap from the rest), and the host
//! never allocates by a count it has not checked. `table.grow` by 0xffffffff with an
//! init value, in particular, is refused before any element is allocated.

mod common;

#[path = "common/alloc_watch.rs"]
mod alloc_watch;

use alloc_watch::{measure, Watch};
use common::instance;
use lucet_runtime::{Error, InstanceHandle, TrapCode, Val};

#[global_allocator]
static ALLOC: Watch = Watch;

/// Most bytes any one call may allocate on the host.
const LIMIT: usize = 1 << 20;
const MAX: u32 = u32::MAX;

fn i(v: u32) -> Val {
    Val::I32(v as i32)
}

/// Runs `func` with the allocation watch on and checks the bound.
fn run(inst: &mut InstanceHandle, func: &str, args: &[Val]) -> Result<Option<i32>, TrapCode> {
    let (r, usage) = measure(|| inst.run(func, args));
    assert!(usage.largest < LIMIT && usage.peak_live < LIMIT as isize, "{func}{args:?} allocated {usage:?}");
    match r {
        Ok(r) => Ok(r.unwrap_returned().values().first().map(|v| match v {
            Val::I32(x) => *x,
            other => panic!("{func} returned {other:?}"),
        })),
        Err(Error::RuntimeFault(d)) => Err(d.trap_code),
        Err(e) => panic!("{func}{args:?}: {e}"),
    }
}

fn traps(inst: &mut InstanceHandle, func: &str, args: &[Val], code: TrapCode) {
    assert_eq!(run(inst, func, args), Err(code), "{func}{args:?}");
    // A trap ends only the call.
    assert_eq!(run(inst, "ok", &[]), Ok(Some(42)));
}

fn returns(inst: &mut InstanceHandle, func: &str, args: &[Val], value: Option<i32>) {
    assert_eq!(run(inst, func, args), Ok(value), "{func}{args:?}");
}

#[test]
fn memory_builtins_check_every_length() {
    let mut inst = instance("bulk.wat");
    let oob = TrapCode::HeapOutOfBounds;
    for (dst, len) in [(0, MAX), (MAX, 1), (65535, 2), (65537, 0), (1, 65536)] {
        traps(&mut inst, "memory_fill", &[i(dst), i(len)], oob);
    }
    returns(&mut inst, "memory_fill", &[i(65535), i(1)], None);
    returns(&mut inst, "memory_fill", &[i(65536), i(0)], None);

    for (dst, src, len) in [(0, 1, MAX), (MAX, 0, 1), (0, MAX, 1), (65535, 0, 2), (0, 65535, 2), (0, 0, 65537)] {
        traps(&mut inst, "memory_copy", &[i(dst), i(src), i(len)], oob);
    }
    returns(&mut inst, "memory_copy", &[i(1), i(0), i(65535)], None);

    // The segment holds 10 bytes.
    for (dst, src, len) in [(0, 0, MAX), (0, MAX, 1), (MAX, 0, 1), (0, 5, 6), (65535, 0, 2), (0, 11, 0)] {
        traps(&mut inst, "memory_init", &[i(dst), i(src), i(len)], oob);
    }
    returns(&mut inst, "memory_init", &[i(0), i(0), i(10)], None);
    returns(&mut inst, "data_drop", &[], None);
    traps(&mut inst, "memory_init", &[i(0), i(0), i(1)], oob);
    returns(&mut inst, "memory_init", &[i(0), i(0), i(0)], None);

    // The memory's maximum is 2 pages.
    for delta in [MAX, 0x8000_0000, 0x10000, 2] {
        returns(&mut inst, "memory_grow", &[i(delta)], Some(-1));
    }
    returns(&mut inst, "memory_grow", &[i(1)], Some(1));
    returns(&mut inst, "memory_grow", &[i(1)], Some(-1));
}

#[test]
fn table_grow_checks_the_limits_before_allocating() {
    let mut inst = instance("bulk.wat");
    for delta in [MAX, 0x8000_0000, 0x7fff_ffff, 100_000_000] {
        returns(&mut inst, "table_grow", &[i(delta)], Some(-1));
        returns(&mut inst, "table_grow_extern", &[i(delta)], Some(-1));
    }
    returns(&mut inst, "table_size", &[], Some(1));
    // Table $m has a maximum of 10 elements.
    returns(&mut inst, "table_grow_max", &[i(10)], Some(-1));
    returns(&mut inst, "table_grow_max", &[i(9)], Some(1));
    returns(&mut inst, "table_grow_max", &[i(1)], Some(-1));
    returns(&mut inst, "table_grow", &[i(3)], Some(1));
    returns(&mut inst, "table_size", &[], Some(4));
}

#[test]
fn table_builtins_check_every_length() {
    let mut inst = instance("bulk.wat");
    let oob = TrapCode::TableOutOfBounds;
    // Table $t has one element.
    for (dst, len) in [(0, MAX), (MAX, 1), (1, 1), (2, 0)] {
        traps(&mut inst, "table_fill", &[i(dst), i(len)], oob);
    }
    returns(&mut inst, "table_fill", &[i(0), i(1)], None);

    for (dst, src, len) in [(0, 0, MAX), (MAX, 0, 1), (0, MAX, 1), (0, 1, 1), (2, 0, 0)] {
        traps(&mut inst, "table_copy", &[i(dst), i(src), i(len)], oob);
    }
    returns(&mut inst, "table_copy", &[i(0), i(0), i(1)], None);

    // The segment holds 3 functions.
    for (dst, src, len) in [(0, 0, MAX), (0, MAX, 1), (MAX, 0, 1), (0, 2, 2), (1, 0, 1), (0, 4, 0)] {
        traps(&mut inst, "table_init", &[i(dst), i(src), i(len)], oob);
    }
    returns(&mut inst, "table_init", &[i(0), i(2), i(1)], None);
    returns(&mut inst, "elem_drop", &[], None);
    traps(&mut inst, "table_init", &[i(0), i(0), i(1)], oob);
    returns(&mut inst, "table_init", &[i(0), i(0), i(0)], None);
}
