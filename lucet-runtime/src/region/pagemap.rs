//! Which pages of a heap hold private copies, from the kernel's page map.
//!
//! Resetting a heap only needs to look at pages that may differ from their clean value:
//! pages that were never touched, only read (the shared zero page), or are an untouched
//! page of a memory image (the file's page) cannot differ. `/proc/self/pagemap` tells
//! them apart, in one `PAGEMAP_SCAN` ioctl on Linux 6.7 and later, or one 8-byte entry
//! per page before that.
//!
//! # After `fork`
//!
//! An open `/proc/self/pagemap` describes the address space of the process that opened
//! it, not of whoever holds the descriptor later. A child that forks without `exec`
//! inherits the descriptor, and would read its parent's page map: pages its own guests
//! wrote would look untouched, and a reset would leave them dirty for the next instance.
//! So the descriptor is opened once per process, and a `pthread_atfork` child handler
//! opens the child's own map and puts it in place under the same descriptor number.
//! If that fails, the child forgets the descriptor and resets heaps without it (with
//! `madvise`, or by looking at every page). A child made with a raw `clone` system
//! call, which skips the `atfork` handlers, must `exec` before it resets a heap.

use crate::limits::HOST_PAGE_SIZE;
use libc::c_int;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

// Bits of a `/proc/self/pagemap` entry (see the kernel's admin-guide/mm/pagemap).
const PAGEMAP_PRESENT: u64 = 1 << 63;
const PAGEMAP_SWAPPED: u64 = 1 << 62;
/// The page is the file's (or shared anonymous memory), not a private copy.
const PAGEMAP_FILE: u64 = 1 << 61;

/// Whether the kernel has the `PAGEMAP_SCAN` ioctl (Linux 6.7); cleared on first failure.
static SCAN_SUPPORTED: AtomicBool = AtomicBool::new(true);

// The `PAGEMAP_SCAN` interface of linux/fs.h.
const PAGE_IS_FILE: u64 = 1 << 2;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
const PAGE_IS_PFNZERO: u64 = 1 << 5;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

#[repr(C)]
#[derive(Default)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<PmScanArg>() as libc::c_ulong) << 16) | ((b'f' as libc::c_ulong) << 8) | 16;

/// This process's open page map.
#[derive(Clone, Copy)]
pub(crate) struct Pagemap(c_int);

/// `PAGEMAP_FD` before the first use.
const NOT_OPENED: c_int = -2;
/// `PAGEMAP_FD` while one thread opens the map; others do without it meanwhile.
const OPENING: c_int = -3;
/// `PAGEMAP_FD` where there is no page map to read.
const UNAVAILABLE: c_int = -1;

/// The descriptor of this process's `/proc/self/pagemap`, or one of the values above.
/// An atomic rather than a `Once` or a lock: a child forked while another thread opens
/// the map must not wait for a thread it does not have.
static PAGEMAP_FD: AtomicI32 = AtomicI32::new(NOT_OPENED);

fn open_pagemap() -> c_int {
    // SAFETY: `open` with a NUL-terminated path; async-signal-safe, so the fork child
    // handler may call this too.
    let fd = unsafe { libc::open(c"/proc/self/pagemap".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    fd.max(UNAVAILABLE)
}

/// Runs in the child of every `fork`, before `fork` returns there, on the only thread
/// the child has. Uses only async-signal-safe calls.
extern "C" fn reopen_in_child() {
    let inherited = PAGEMAP_FD.load(Ordering::Relaxed);
    if inherited == OPENING {
        // The parent's opening thread does not exist here: open afresh on first use.
        PAGEMAP_FD.store(NOT_OPENED, Ordering::Relaxed);
        return;
    }
    if inherited < 0 {
        return;
    }
    let own = open_pagemap();
    // SAFETY: plain descriptor system calls on descriptors this module opened; no other
    // thread exists in the child yet, and no caller holds a `Pagemap` across a fork.
    unsafe {
        if own >= 0 && libc::dup3(own, inherited, libc::O_CLOEXEC) >= 0 {
            libc::close(own);
        } else {
            // Never keep reading the parent's map.
            if own >= 0 {
                libc::close(own);
            }
            libc::close(inherited);
            PAGEMAP_FD.store(UNAVAILABLE, Ordering::Relaxed);
        }
    }
}

/// Opens the map for the first time; `OPENING` if another thread is doing it.
#[cold]
fn open_first() -> c_int {
    if PAGEMAP_FD.compare_exchange(NOT_OPENED, OPENING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return PAGEMAP_FD.load(Ordering::Acquire);
    }
    // The handler is in place before the descriptor is published, so no child can
    // inherit a published descriptor without replacing it. (A child forked again later
    // runs it again: handlers stay registered.)
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    let registered = REGISTERED.load(Ordering::Relaxed)
        // SAFETY: registers a handler that only makes async-signal-safe calls.
        || unsafe { libc::pthread_atfork(None, None, Some(reopen_in_child)) } == 0;
    REGISTERED.store(registered, Ordering::Relaxed);
    // Without the handler a forked child would read our map: do without it.
    let fd = if registered { open_pagemap() } else { UNAVAILABLE };
    PAGEMAP_FD.store(fd, Ordering::Release);
    fd
}

impl Pagemap {
    /// This process's page map, opened on first use; `None` where it is unavailable.
    pub(crate) fn get() -> Option<Pagemap> {
        let mut fd = PAGEMAP_FD.load(Ordering::Acquire);
        if fd == NOT_OPENED {
            fd = open_first();
        }
        (fd >= 0).then_some(Pagemap(fd))
    }

    /// Whether `private_ranges` may be used (the kernel has `PAGEMAP_SCAN`).
    pub(crate) fn can_scan() -> bool {
        SCAN_SUPPORTED.load(Ordering::Relaxed)
    }

    /// Finds the page ranges (as page indices from `base`) in `[base, base + len)` that
    /// hold a private page of their own — written, or copied on write — rather than
    /// nothing, the shared zero page or the image file's page. One system call in the
    /// usual case, returning ranges instead of one entry per page; `found` gets each
    /// range. `false` if the kernel lacks the call (ranges already reported stay
    /// reported); later calls to `can_scan` then say so.
    pub(crate) fn private_ranges(self, base: usize, len: usize, mut found: impl FnMut(usize, usize)) -> bool {
        let mut regions = [PageRegion::default(); 32];
        let end = (base + len) as u64;
        let mut start = base as u64;
        while start < end {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                start,
                end,
                vec: regions.as_mut_ptr() as u64,
                vec_len: regions.len() as u64,
                // Present or swapped out, and neither the file's page nor the zero page.
                category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                category_mask: PAGE_IS_FILE | PAGE_IS_PFNZERO,
                category_inverted: PAGE_IS_FILE | PAGE_IS_PFNZERO,
                return_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                ..Default::default()
            };
            // SAFETY: the ioctl reads `arg` and writes at most `vec_len` regions into
            // `regions`, which outlives the call; it only inspects our page tables.
            let n = unsafe { libc::ioctl(self.0, PAGEMAP_SCAN, &mut arg as *mut PmScanArg) };
            if n < 0 || arg.walk_end <= start {
                SCAN_SUPPORTED.store(false, Ordering::Relaxed);
                return false;
            }
            for r in &regions[..(n as usize).min(regions.len())] {
                found((r.start as usize - base) / HOST_PAGE_SIZE, (r.end as usize - base) / HOST_PAGE_SIZE);
            }
            start = arg.walk_end;
        }
        true
    }

    /// `private_ranges` from the per-page entries, for kernels without `PAGEMAP_SCAN`:
    /// calls `found` with the index of each of the `pages` pages from `base` that holds
    /// a private copy. Returns how many pages it could look at (all of them, unless
    /// reading the map failed part-way).
    pub(crate) fn private_pages_by_entry(self, base: usize, pages: usize, mut found: impl FnMut(usize)) -> usize {
        let mut entries = [0u64; 512];
        let mut first = 0;
        while first < pages {
            let n = (pages - first).min(entries.len());
            let vpn = (base + first * HOST_PAGE_SIZE) / HOST_PAGE_SIZE;
            // SAFETY: `entries` is a writable buffer of at least `n * 8` bytes.
            let got = unsafe { libc::pread(self.0, entries.as_mut_ptr() as *mut _, n * 8, (vpn * 8) as libc::off_t) };
            if got != (n * 8) as isize {
                return first;
            }
            for (k, e) in entries[..n].iter().enumerate() {
                if e & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED) != 0 && e & PAGEMAP_FILE == 0 {
                    found(first + k);
                }
            }
            first += n;
        }
        pages
    }
}
