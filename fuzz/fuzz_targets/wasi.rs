//! `cargo +nightly fuzz run wasi --features libfuzzer`: one hostcall call per input,
//! chosen and filled from the input's first eight bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lucet_fuzz::{diff::seed_from_bytes, wasi, Verdict};
use std::cell::RefCell;

thread_local! {
    static WORKER: RefCell<wasi::Worker> = RefCell::new(wasi::Worker::new(&[]));
}

fuzz_target!(|data: &[u8]| {
    let seed = seed_from_bytes(data);
    if let Verdict::Fail(msg) = WORKER.with(|w| wasi::run_case(&mut w.borrow_mut(), seed)) {
        // Findings already on record are counted by the stable runner, not crashes here.
        if lucet_fuzz::known::classify(&msg).is_some() {
            return;
        }
        panic!("seed {seed}: {msg}");
    }
});
