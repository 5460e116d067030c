//! 1,000 traps in a loop leave the resident set flat. Its own test binary, so no
//! other test allocates in the process while it measures.

mod common;
use common::*;
use lucet_runtime::{Error, InstanceHandle, Val};

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
