//! Regions and their limits.

use crate::error::{guard, lucet_error_t, ApiResult};
use crate::handles::{Kind, Table};
use crate::ptr::{check_out, write_out};
use lucet_runtime::{Limits, MmapRegion, Region};

/// Address space reserved for a fixed number of instances. Opaque: see `handles.rs`.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct lucet_region_t {
    _opaque: [u8; 0],
}

pub(crate) static REGIONS: Table<MmapRegion> = Table::new(Kind::Region);

pub(crate) fn handle(region: *const lucet_region_t) -> u64 {
    region as usize as u64
}

/// What each instance of a region may use, in bytes. Sizes that are not a multiple of
/// the page size are rounded up.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lucet_limits_t {
    /// Most linear memory an instance may have (initial plus grown).
    pub heap_memory_size: usize,
    /// Address space reserved per heap, guard included; must cover what the module
    /// was compiled for (4 GiB + 2 GiB by default).
    pub heap_address_space_size: usize,
    pub stack_size: usize,
    pub globals_size: usize,
    pub signal_stack_size: usize,
    /// The part of the stack kept for host functions.
    pub hostcall_reservation: usize,
}

impl From<Limits> for lucet_limits_t {
    fn from(l: Limits) -> lucet_limits_t {
        lucet_limits_t {
            heap_memory_size: l.heap_memory_size,
            heap_address_space_size: l.heap_address_space_size,
            stack_size: l.stack_size,
            globals_size: l.globals_size,
            signal_stack_size: l.signal_stack_size,
            hostcall_reservation: l.hostcall_reservation,
        }
    }
}

impl From<lucet_limits_t> for Limits {
    fn from(l: lucet_limits_t) -> Limits {
        Limits {
            heap_memory_size: l.heap_memory_size,
            heap_address_space_size: l.heap_address_space_size,
            stack_size: l.stack_size,
            globals_size: l.globals_size,
            signal_stack_size: l.signal_stack_size,
            hostcall_reservation: l.hostcall_reservation,
        }
    }
}

/// Fills `out` with the default limits: a heap that may grow to 4 GiB in an 8 GiB
/// reservation, a 2 MiB stack. Change fields from there.
///
/// # Safety
/// `out` is NULL or valid for writing a `lucet_limits_t`.
#[no_mangle]
pub unsafe extern "C" fn lucet_limits_default(out: *mut lucet_limits_t) -> lucet_error_t {
    guard("lucet_limits_default", || {
        // SAFETY: the caller passes NULL or a writable `lucet_limits_t`.
        unsafe { write_out(out, Limits::default().into(), "out") }
    })
}

/// Reserves address space for `slots` instances, each bounded by `limits` (NULL for
/// the defaults).
///
/// # Safety
/// `limits` is NULL or points to a readable `lucet_limits_t`; `out` is NULL or valid
/// for writing a handle.
#[no_mangle]
pub unsafe extern "C" fn lucet_region_create(
    slots: usize,
    limits: *const lucet_limits_t,
    out: *mut *mut lucet_region_t,
) -> lucet_error_t {
    guard("lucet_region_create", || {
        check_out(out, "out")?;
        let limits: Limits = if limits.is_null() {
            Limits::default()
        } else {
            // SAFETY: non-NULL, and the caller promises a readable `lucet_limits_t`;
            // it holds only integers, so any contents are a valid value.
            unsafe { limits.read() }.into()
        };
        let region = MmapRegion::create(slots, &limits)?;
        let h = REGIONS.insert(region)?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(out, h as usize as *mut lucet_region_t, "out") }
    })
}

/// How many of the region's slots are free.
///
/// # Safety
/// `out` is NULL or valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn lucet_region_free_slots(
    region: *const lucet_region_t,
    out: *mut usize,
) -> lucet_error_t {
    guard("lucet_region_free_slots", || -> ApiResult {
        let r = REGIONS.get(handle(region))?;
        // SAFETY: the caller passes NULL or a writable `size_t`.
        unsafe { write_out(out, r.free_slots(), "out") }
    })
}

/// Frees a region handle. Its address space is released once the instances made in
/// it are freed too.
/// A stale, NULL or foreign handle is reported as `LUCET_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn lucet_region_free(region: *mut lucet_region_t) -> lucet_error_t {
    guard("lucet_region_free", || {
        REGIONS.remove(handle(region)).map(drop)
    })
}
