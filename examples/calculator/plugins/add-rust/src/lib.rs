//! A calculator plugin written in Rust: `calc` adds its operands.
//!
//! Every plugin exports the same four functions. `name` and `operator` hand the
//! host a pointer to a NUL-terminated string in the plugin's own memory; the host
//! copies it out and gives the pointer back through `release_string`, so the
//! string is freed by the allocator that made it.

use std::ffi::{c_char, CString};

#[no_mangle]
pub extern "C" fn calc(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

#[no_mangle]
pub extern "C" fn name() -> *mut c_char {
    owned_c_string("add")
}

#[no_mangle]
pub extern "C" fn operator() -> *mut c_char {
    owned_c_string("+")
}

/// # Safety
/// `ptr` must come from `name` or `operator` and be released only once.
#[no_mangle]
pub unsafe extern "C" fn release_string(ptr: *mut c_char) {
    if !ptr.is_null() {
        // SAFETY: the caller hands back a pointer made by `CString::into_raw`
        // in `owned_c_string`, exactly once.
        drop(unsafe { CString::from_raw(ptr) });
    }
}

fn owned_c_string(s: &str) -> *mut c_char {
    // The literals passed here contain no NUL byte.
    CString::new(s).map(CString::into_raw).unwrap_or(std::ptr::null_mut())
}
