//! A global allocator for tests that must show the host's allocations stay bounded
//! whatever a guest asks for.
//!
//! [`measure`] runs a closure and reports, for the calling thread only (guest code and
//! its hostcalls run on the thread that called `run`), the largest single allocation
//! and the peak of bytes allocated and not yet freed. Other tests running on other
//! threads do not disturb the figures.
//!
//! Requests above [`HUGE`] are served by `MAP_NORESERVE` mappings, which cost no
//! memory until touched. A runaway request (say 100 GB sized by a guest's count) is
//! then recorded and the test fails on its assertion, where the system allocator
//! would have made the whole process abort.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Allocations above this size bypass the system allocator.
pub const HUGE: usize = 256 << 20;
const PAGE: usize = 4096;

pub struct Watch;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

// The thread locals have constant initialisers and no destructors, so touching them
// allocates nothing; `try_with` keeps a thread in teardown from failing.
fn note_alloc(size: usize) {
    let _ = ON.try_with(|on| {
        if on.get() {
            LARGEST.set(LARGEST.get().max(size));
            let live = LIVE.get().saturating_add(size as isize);
            LIVE.set(live);
            PEAK.set(PEAK.get().max(live));
        }
    });
}

fn note_free(size: usize) {
    let _ = ON.try_with(|on| {
        if on.get() {
            LIVE.set(LIVE.get().saturating_sub(size as isize));
        }
    });
}

fn is_huge(layout: Layout) -> bool {
    layout.size() > HUGE && layout.align() <= PAGE
}

fn map(size: usize) -> *mut u8 {
    // SAFETY: a fresh anonymous private mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

// SAFETY: every block is served either by `System` or by its own mapping, chosen by
// `is_huge(layout)`, which the caller repeats exactly on `dealloc` (the allocator
// contract requires the same layout), so each block goes back to where it came from.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        if is_huge(layout) {
            map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's own guarantees.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        if is_huge(layout) {
            // Anonymous mappings start zeroed.
            map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's own guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        if is_huge(layout) {
            // SAFETY: `ptr` is the start of a mapping of this size made by `map`, and the
            // caller gives up the block.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !is_huge(layout) && !is_huge(new_layout) {
            note_free(layout.size());
            note_alloc(new_size);
            // SAFETY: `ptr` came from `System` with `layout`; forwarded.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a valid layout, as above.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least this long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated by `self` with `layout` and is no longer used.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

/// What the calling thread allocated while a closure ran.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// The largest single allocation, in bytes.
    pub largest: usize,
    /// The most bytes allocated and not yet freed at any moment.
    pub peak_live: isize,
}

/// Runs `f` and reports the allocations it made on this thread.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    LARGEST.set(0);
    LIVE.set(0);
    PEAK.set(0);
    ON.set(true);
    let r = f();
    ON.set(false);
    (r, Usage { largest: LARGEST.get(), peak_live: PEAK.get() })
}
