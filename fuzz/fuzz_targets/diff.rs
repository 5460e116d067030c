//! `cargo +nightly fuzz run diff --features libfuzzer`: the diff target, with the
//! input bytes as the seed of the generated module and libFuzzer's coverage steering.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lucet_fuzz::diff::{self, MemoryConfig};
use lucet_fuzz::Verdict;
use std::cell::RefCell;

thread_local! {
    static WORKER: RefCell<diff::Worker> = RefCell::new(diff::Worker::new());
}

fuzz_target!(|data: &[u8]| {
    let seed = diff::seed_from_bytes(data);
    let config = MemoryConfig::for_seed(data.get(8).copied().unwrap_or(0) as u64);
    if let Verdict::Fail(msg) = WORKER.with(|w| diff::run_case(&mut w.borrow_mut(), seed, config)) {
        // Findings already on record are counted by the stable runner, not crashes here.
        if lucet_fuzz::known::classify(&msg).is_some() {
            return;
        }
        panic!("seed {seed}, {config:?}: {msg}");
    }
});
