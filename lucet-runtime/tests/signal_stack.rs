//! `Limits::signal_stack_size` is the size of the alternate signal stack the thread
//! running the guest has, for the fault handler to run on.

mod common;

use common::compile_wat;
use lucet_runtime::{DlModule, Limits, Linker, MmapRegion, Region};

const GUEST: &str = r#"(module
  (import "host" "altstack" (func $altstack (result i64)))
  (func (export "altstack") (result i64) call $altstack)
)"#;

/// The size of the calling thread's alternate signal stack, 0 if it has none.
fn altstack_size() -> i64 {
    // SAFETY: only reads the thread's signal stack settings into a local.
    unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut current) != 0 || current.ss_flags & libc::SS_DISABLE != 0 {
            return 0;
        }
        current.ss_size as i64
    }
}

fn altstack_during_a_run(signal_stack_size: usize) -> i64 {
    let mut linker = Linker::new();
    linker.func_wrap("host", "altstack", altstack_size);
    let module = DlModule::load_unresolved(compile_wat(GUEST)).unwrap();
    let region = MmapRegion::create(1, &Limits::default().with_signal_stack_size(signal_stack_size)).unwrap();
    let mut inst = region.new_instance_builder(module).with_linker(&linker).build().unwrap();
    i64::from(inst.run("altstack", &[]).unwrap().unwrap_returned())
}

#[test]
fn the_signal_stack_has_the_size_the_limits_ask_for() {
    // A fresh thread each, so one run's stack does not serve the other.
    let big = std::thread::spawn(|| altstack_during_a_run(1 << 20)).join().unwrap();
    assert!(big >= 1 << 20, "a 1 MiB signal stack was asked for, the thread has {big} bytes");
    let small = std::thread::spawn(|| altstack_during_a_run(4096)).join().unwrap();
    assert!(small >= 64 << 10, "the signal stack is never below 64 KiB, the thread has {small} bytes");
}
