//! 1,000 traps in a loop leave the resident set flat. Its own test binary, so no
//! other test allocates in the process while it measures.

mod common;
use common::*;
use lucet_runtime::{Error, InstanceHandle, Val};

/// The measurements are process-wide, so the tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rss_pages() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    s.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn trap_some(inst: &mut InstanceHandle, n: usize) {
    for i in 0..n {
        let f = ["heap_oob", "unreachable", "null_call", "table_oob"][i % 4];
        assert!(matches!(inst.run(f, &[]), Err(Error::RuntimeFault(_))));
        inst.reset().unwrap();
    }
    for _ in 0..(n / 50).max(1) {
        assert!(matches!(inst.run("stack_overflow", &[Val::I32(0)]), Err(Error::RuntimeFault(_))));
        inst.reset().unwrap();
    }
}

#[test]
fn thousand_traps_keep_rss_flat() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut inst = instance("traps.wat");
    // Warm up so lazily-allocated state (signal stacks, the touched guest stack) is
    // part of the baseline.
    trap_some(&mut inst, 100);
    let before = rss_pages();
    trap_some(&mut inst, 1000);
    let after = rss_pages();
    eprintln!("RSS before {before} pages, after {after} pages");
    assert!(after <= before + before / 10, "RSS grew from {before} to {after} pages");
    assert_eq!(inst.run("ok", &[]).unwrap().unwrap_returned().as_i32(), 42);
}

#[test]
fn thousand_instantiations_keep_rss_flat() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let region = region(1);
    let module = load("traps.wat");
    let cycle = |n: usize| {
        for _ in 0..n {
            let mut inst = lucet_runtime::Region::new_instance(&*region, module.clone()).unwrap();
            assert!(inst.run("heap_oob", &[]).is_err());
        }
    };
    cycle(100);
    let before = rss_pages();
    cycle(1000);
    let after = rss_pages();
    eprintln!("RSS before {before} pages, after {after} pages");
    assert!(after <= before + before / 10, "RSS grew from {before} to {after} pages");
}
