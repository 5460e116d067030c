//! The Rust guest of the examples: an ordinary `println!` program for
//! wasm32-wasip1 that also exports `add`, so a host can call into the same
//! instance after `_start` has run (see docs/lucet-runtime-example).

fn main() {
    println!("Hello, world!");
}

/// Exported from the binary by `-C link-arg=--export=add` in
/// scripts/build-guests.sh: a command module exports only `_start` otherwise.
#[no_mangle]
pub extern "C" fn add(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}
