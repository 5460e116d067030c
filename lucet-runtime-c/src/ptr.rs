//! Reading and writing through the pointers C passes in.
//!
//! Every raw pointer from C is turned into a Rust reference or slice here, after a
//! NULL check, so the rest of the crate handles references. What these functions
//! cannot check (that a non-NULL pointer is valid for the access) is each exported
//! function's documented contract with its caller.

use crate::error::{ApiError, ApiResult};
use std::ffi::{c_char, CStr};

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays unchanged during the call.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> ApiResult<&'a str> {
    if p.is_null() {
        return Err(ApiError::invalid_argument(format!(
            "{what} is NULL; pass a NUL-terminated string"
        )));
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string that outlives
    // this call; nothing writes it meanwhile.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| {
        ApiError::invalid_argument(format!(
            "{what} is not valid UTF-8 (invalid byte at offset {}); pass UTF-8 text",
            e.valid_up_to()
        ))
    })
}

/// Stores a result through an out-pointer.
///
/// # Safety
/// `p` is NULL or valid for a write of a `T`.
pub(crate) unsafe fn write_out<T>(p: *mut T, value: T, what: &str) -> ApiResult {
    if p.is_null() {
        return Err(ApiError::invalid_argument(format!(
            "{what} is NULL; pass where to store the result"
        )));
    }
    // SAFETY: non-NULL and valid for a write per the caller; `write` does not read or
    // drop the old contents, which C may have left uninitialised.
    unsafe { p.write(value) };
    Ok(())
}

/// Checks an out-pointer before the work whose result goes there, so a NULL one is
/// reported before anything happens.
pub(crate) fn check_out<T>(p: *mut T, what: &str) -> ApiResult {
    if p.is_null() {
        Err(ApiError::invalid_argument(format!(
            "{what} is NULL; pass where to store the result"
        )))
    } else {
        Ok(())
    }
}

/// An input array of `len` elements; NULL is accepted when `len` is 0.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` elements that stay unchanged during the call.
pub(crate) unsafe fn slice_arg<'a, T>(p: *const T, len: usize, what: &str) -> ApiResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(ApiError::invalid_argument(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    // SAFETY: non-NULL, and the caller promises `len` readable, initialised elements
    // that nothing writes during the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Copies `values` into an output array of `cap` elements; NULL is accepted when
/// nothing is copied. The caller has checked that `values` fits.
///
/// # Safety
/// `p` is NULL or valid for writes of `cap` elements (which may be uninitialised), and
/// no other reference to them is used during the call.
pub(crate) unsafe fn copy_out<T: Copy>(
    p: *mut T,
    cap: usize,
    values: &[T],
    what: &str,
) -> ApiResult {
    if values.is_empty() {
        return Ok(());
    }
    if p.is_null() {
        return Err(ApiError::invalid_argument(format!(
            "{what} is NULL but {} values go there",
            values.len()
        )));
    }
    assert!(values.len() <= cap, "checked by the caller");
    // SAFETY: `p` is valid for `cap >= values.len()` writes per the caller, and cannot
    // overlap `values`, which Rust owns; nothing is read from the destination.
    unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), p, values.len()) };
    Ok(())
}
