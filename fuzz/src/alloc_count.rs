//! A global allocator that measures what the code under test allocates.
//!
//! The WASI target must show that no hostcall allocates in proportion to a count the
//! guest chose. Between [`arm`] and [`disarm`], the current thread's allocations are
//! tracked: the largest single request and the peak of live bytes. A request above
//! [`REFUSE_ABOVE`] is refused outright (the process then aborts with Rust's
//! allocation-failure message, and `crash_report` names the seed), so a hostcall that
//! asks for gigabytes cannot make the machine swap before the fuzzer notices.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Requests above this size while armed are refused.
pub const REFUSE_ABOVE: usize = 256 << 20;

pub struct CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// The largest single allocation or reallocation requested.
    pub largest: usize,
    /// The most bytes live at once, counted from [`arm`].
    pub peak: usize,
}

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// Starts measuring this thread's allocations.
pub fn arm() {
    LIVE.set(0);
    PEAK.set(0);
    LARGEST.set(0);
    ARMED.set(true);
}

/// Stops measuring and returns what was seen since [`arm`].
pub fn disarm() -> Usage {
    ARMED.set(false);
    Usage {
        largest: LARGEST.get(),
        peak: PEAK.get().max(0) as usize,
    }
}

/// Accounts for a request; false if it must be refused.
fn note(grow: isize, request: usize) -> bool {
    let armed = ARMED.try_with(Cell::get).unwrap_or(false);
    if !armed {
        return true;
    }
    let _ = LARGEST.try_with(|l| l.set(l.get().max(request)));
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + grow);
        let _ = PEAK.try_with(|p| p.set(p.get().max(live.get())));
    });
    request <= REFUSE_ABOVE
}

fn forget(size: usize) {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = LIVE.try_with(|live| live.set(live.get() - size as isize));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees carry over; refusing a request by returning null is allowed by
// the `GlobalAlloc` contract. The bookkeeping only touches this thread's `Cell`s, which
// no other thread can reach, and allocates nothing.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size() as isize, layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded from our caller, who upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size() as isize, layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        forget(layout.size());
        // SAFETY: `ptr` came from `System` with this layout (every allocation does).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !note(new_size as isize - layout.size() as isize, new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `dealloc`, and `new_size` is the caller's valid request.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_only_while_armed() {
        let _before = vec![0u8; 10 << 20];
        arm();
        let v = vec![0u8; 3 << 20];
        drop(v);
        let w = vec![0u8; 1000];
        let usage = disarm();
        drop(w);
        assert!(
            usage.largest >= 3 << 20 && usage.largest < 10 << 20,
            "{usage:?}"
        );
        assert!(usage.peak >= 3 << 20, "{usage:?}");
    }
}
