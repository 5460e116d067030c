//! `cargo +nightly fuzz run compile --features libfuzzer`: the input itself goes to
//! lucetc, so libFuzzer's mutations work on the module bytes directly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lucet_fuzz::{compile, Verdict};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir();
    let out = dir.join(format!("lucet-fuzz-compile-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&out);
    if let Verdict::Fail(msg) = compile::check_bytes(&out, data, compile::Output::Object, "input") {
        // Findings already on record are counted by the stable runner, not crashes here.
        if lucet_fuzz::known::classify(&msg).is_some() {
            return;
        }
        panic!("{msg}");
    }
});
