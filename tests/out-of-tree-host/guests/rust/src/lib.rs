//! The Rust guest of the Lucet-style host (`src/bin/lucet-style.rs`): the exports a
//! plugin of the original Lucet's era offered. `alloc_string` returns the guest
//! address of a string it allocated; the host reads it out of guest memory and hands
//! the address back to `release_string`, which frees it.

use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicU32, Ordering};

static LIVE: AtomicU32 = AtomicU32::new(0);

/// Prints through WASI, so the host must give the instance a `WasiCtx`.
#[no_mangle]
pub extern "C" fn hello() {
    println!("Hello from the Rust guest");
}

#[no_mangle]
pub extern "C" fn alloc_string() -> *mut c_char {
    LIVE.fetch_add(1, Ordering::Relaxed);
    CString::new("a string the Rust guest allocated").expect("no NUL inside").into_raw()
}

/// # Safety
/// `s` came from `alloc_string` and was not released before.
#[no_mangle]
pub unsafe extern "C" fn release_string(s: *mut c_char) {
    // SAFETY: per the contract, `s` is a `CString` this module leaked.
    drop(unsafe { CString::from_raw(s) });
    LIVE.fetch_sub(1, Ordering::Relaxed);
}

/// How many strings are allocated and not yet released.
#[no_mangle]
pub extern "C" fn live_strings() -> u32 {
    LIVE.load(Ordering::Relaxed)
}
