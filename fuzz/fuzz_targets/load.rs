//! `cargo +nightly fuzz run load --features libfuzzer`: libFuzzer's input selects
//! the base file and the damage (its first eight bytes are the seed). Cases run
//! in-process, so a crash is libFuzzer's to report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lucet_fuzz::{diff::seed_from_bytes, load, Verdict};
use std::cell::RefCell;

thread_local! {
    static WORKER: RefCell<load::Worker> = RefCell::new(load::Worker::with_isolation(load::Isolation::InProcess));
}

fuzz_target!(|data: &[u8]| {
    let seed = seed_from_bytes(data);
    if let Verdict::Fail(msg) = WORKER.with(|w| load::run_case(&mut w.borrow_mut(), seed)) {
        // Findings already on record are counted by the stable runner, not crashes here.
        if lucet_fuzz::known::classify(&msg).is_some() {
            return;
        }
        panic!("seed {seed}: {msg}");
    }
});
