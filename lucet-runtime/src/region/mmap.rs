//! The `mmap`-backed region.
//!
//! One `mmap(PROT_NONE, MAP_NORESERVE)` at creation reserves every slot. Each slot looks
//! like this (addresses grow to the right):
//!
//! ```text
//!  slot base                                                                 slot base + slot_size
//!  | vmctx area | heap reservation: heap_address_space_size                 | guard | stack      |
//!  | [vmctx]    | [accessible: current memory size, RW][PROT_NONE .........] | NONE  | stack_size |
//!  ^ vmctx      ^ MemoryDef::base = vmctx + VMCTX_AREA                               ^ stack bottom
//!                                                                       (stack grows down
//!                                                                        from the slot end)
//! ```
//!
//! The vmctx area ([`VMCTX_AREA`] bytes) holds the instance's vmctx when its module's
//! code addresses the heap from the vmctx (`VmctxLayout::heap_offset`); only the pages
//! the vmctx covers are ever made accessible, and they stay so while the slot is free.
//!
//! The heap reservation covers the reservation + guard the code was compiled for, so a
//! 32-bit access can never leave it; past it, the stack guard separates the heap from
//! the stack.
//!
//! # Keeping slots warm
//!
//! System calls that change mappings are the dominant cost of creating and discarding
//! instances (an `mprotect` or `madvise` costs microseconds, and `madvise` also forces
//! the next run to fault its pages in again). So a slot keeps its state when it is
//! freed, and the next instance only pays for what differs:
//!
//! - The heap stays accessible as the last instance left it; instantiation `mprotect`s
//!   only the difference to the new memory's initial size.
//! - The module's copy-on-write [`MemoryImage`] stays mapped; an instance of the same
//!   module finds its data already in place, and the region prefers handing a module a
//!   free slot that already holds its image.
//! - Resetting a heap (on `reset()` and when a slot is freed) looks at the first
//!   `KEEP_RESIDENT_BYTES`: for small heaps every page, otherwise only the pages that
//!   `/proc/self/pagemap` shows to have a private copy (written, or read as zeroes). It
//!   compares each against what it should contain (the image, or zeroes) and rewrites
//!   only the pages that differ, so the cost follows the number of dirty pages; they
//!   stay resident and the next run does not fault. Anything beyond the window is
//!   returned to the kernel with `madvise(MADV_DONTNEED)`, which also restores the
//!   image's pages there.
//! - Stacks keep their pages. Guest code never reads stack memory it has not written in
//!   the same call, so what a previous instance left there is unobservable to wasm.
//!
//! The invariant that makes this sound: every byte of a free slot's heap reservation
//! holds its clean value (the image's byte inside the image, zero elsewhere), and
//! everything past `accessible` is `PROT_NONE`.

use super::pagemap::Pagemap;
use crate::error::Error;
use crate::limits::Limits;
use crate::limits::HOST_PAGE_SIZE as HOST_PAGE;
use std::sync::{Arc, Mutex, Weak};

use super::image::MemoryImage;
use lucet_module::VMCTX_AREA;

/// The vmctx area at the start of every slot, in bytes.
const VMCTX_AREA_SIZE: usize = VMCTX_AREA as usize;
const _: () = assert!(VMCTX_AREA_SIZE % HOST_PAGE == 0, "the vmctx area is made accessible page by page");

/// Address space between a slot's heap reservation and its stack.
pub(crate) const STACK_GUARD_SIZE: usize = 64 * 1024;

/// How much of a heap a reset cleans page by page (kept resident) instead of with
/// `madvise`. Finding the written pages costs a few nanoseconds per page and rewriting
/// one well under a microsecond, whereas one `madvise` costs several microseconds plus
/// a page fault for every page touched afterwards.
pub(crate) const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// How many free slots `take_slot` looks through for one that already holds the
/// module's memory image.
const AFFINITY_SCAN: usize = 64;

/// A free slot and the state its heap was left in.
struct FreeSlot {
    index: usize,
    accessible: usize,
    /// Bytes at the start of the vmctx area that are readable and writable.
    vmctx_accessible: usize,
    image: Option<Arc<MemoryImage>>,
}

/// A region of `slots` instance slots, each sized by `Limits`.
pub struct MmapRegion {
    base: *mut u8,
    total: usize,
    slot_size: usize,
    capacity: usize,
    limits: Limits,
    free: Mutex<Vec<FreeSlot>>,
    weak: Weak<MmapRegion>,
}

// SAFETY: the reservation is owned by the region; slots are handed out under the
// `free` mutex, so each slot's memory is used by exactly one instance at a time.
unsafe impl Send for MmapRegion {}
// SAFETY: as above; shared access only touches the mutex-protected free list.
unsafe impl Sync for MmapRegion {}

impl std::fmt::Debug for MmapRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapRegion").field("capacity", &self.capacity).field("limits", &self.limits).finish()
    }
}

impl MmapRegion {
    /// Reserves address space for `slots` instances.
    pub fn create(slots: usize, limits: &Limits) -> Result<Arc<MmapRegion>, Error> {
        let limits = limits.validated()?;
        if slots == 0 {
            return Err(Error::Region("a region needs at least one slot".into()));
        }
        let slot_size = limits
            .heap_address_space_size
            .checked_add(VMCTX_AREA_SIZE)
            .and_then(|s| s.checked_add(STACK_GUARD_SIZE))
            .and_then(|s| s.checked_add(limits.stack_size))
            .ok_or_else(|| Error::Region("the slot size overflows the address space".into()))?;
        let total = slot_size.checked_mul(slots).filter(|t| *t < (1usize << 46)).ok_or_else(|| {
            Error::Region(format!(
                "{slots} slots of {slot_size} bytes do not fit in the address space; use fewer slots or a \
                     smaller Limits::heap_address_space_size"
            ))
        })?;
        // SAFETY: an anonymous PROT_NONE reservation; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::Region(format!(
                "cannot reserve {total} bytes of address space for {slots} slots: {}",
                std::io::Error::last_os_error()
            )));
        }
        let base = base as *mut u8;
        for i in 0..slots {
            let stack = i * slot_size + VMCTX_AREA_SIZE + limits.heap_address_space_size + STACK_GUARD_SIZE;
            // SAFETY: the range lies inside the reservation made above, which nothing
            // refers to yet.
            let made = unsafe { protect(base.add(stack), limits.stack_size, libc::PROT_READ | libc::PROT_WRITE) };
            if let Err(err) = made {
                // SAFETY: unmapping our own fresh reservation.
                unsafe { libc::munmap(base as *mut _, total) };
                return Err(Error::Region(format!("cannot make the stack of slot {i} writable: {err}")));
            }
        }
        Ok(Arc::new_cyclic(|weak| MmapRegion {
            base,
            total,
            slot_size,
            capacity: slots,
            limits,
            free: Mutex::new(
                (0..slots).rev().map(|index| FreeSlot { index, accessible: 0, vmctx_accessible: 0, image: None }).collect(),
            ),
            weak: weak.clone(),
        }))
    }

    /// The limits every slot was sized with (rounded to whole pages).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes a free slot, preferably one whose heap already holds `image` (or holds
    /// no image, when `image` is `None`).
    pub(crate) fn take_slot(&self, image: Option<&Arc<MemoryImage>>) -> Result<Slot, Error> {
        let free = {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            let n = free.len();
            // A slot holding the same image (or none, for a module without one) needs
            // no mapping changes.
            let warm = (n.saturating_sub(AFFINITY_SCAN)..n).rev().find(|&i| match (&free[i].image, image) {
                (Some(have), Some(want)) => Arc::ptr_eq(have, want),
                (None, None) => true,
                _ => false,
            });
            match warm {
                Some(i) => Some(free.swap_remove(i)),
                None => free.pop(),
            }
        };
        let free = free.ok_or_else(|| {
            Error::Region(format!(
                "no free slot: all {} slots of the region are in use; drop an instance or create the region \
                 with more slots",
                self.capacity
            ))
        })?;
        let region = self.weak.upgrade().expect("a region is alive while it hands out slots");
        let index = free.index;
        // SAFETY: index < capacity, so the slot lies inside the reservation.
        let slot_base = unsafe { self.base.add(index * self.slot_size) };
        // SAFETY: the heap follows the vmctx area inside the same slot.
        let heap_base = unsafe { slot_base.add(VMCTX_AREA_SIZE) };
        let stack_guard = self.limits.heap_address_space_size;
        // SAFETY: offsets inside this slot.
        let (guard_start, stack_bottom) =
            unsafe { (heap_base.add(stack_guard), heap_base.add(stack_guard + STACK_GUARD_SIZE)) };
        let heap = HeapArea {
            base: heap_base,
            reservation: self.limits.heap_address_space_size,
            // The stack guard is never made accessible.
            guard: STACK_GUARD_SIZE,
            accessible: free.accessible,
            owned: false,
            image: free.image,
        };
        Ok(Slot { region, index, vmctx_area: slot_base, vmctx_accessible: free.vmctx_accessible, heap, guard_start, stack_bottom })
    }

    fn give_back(&self, slot: FreeSlot) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(slot);
    }
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        // SAFETY: every slot holds an Arc of the region, so no instance uses the
        // reservation any more.
        unsafe { libc::munmap(self.base as *mut _, self.total) };
    }
}

impl MmapRegion {
    /// Slots not currently used by an instance.
    pub(crate) fn free_slot_count(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Total number of slots.
    pub(crate) fn slot_count(&self) -> usize {
        self.capacity
    }

    /// The `Arc` this region lives in.
    pub(crate) fn arc(&self) -> Arc<MmapRegion> {
        self.weak.upgrade().expect("regions are only created inside an Arc")
    }
}

/// One slot, owned by one instance; returned to the region on drop.
pub(crate) struct Slot {
    region: Arc<MmapRegion>,
    index: usize,
    /// The start of the slot: [`VMCTX_AREA`] bytes below the heap.
    vmctx_area: *mut u8,
    /// Bytes from `vmctx_area` that are readable and writable.
    vmctx_accessible: usize,
    /// The heap of the first defined memory, [`VMCTX_AREA`] bytes into the slot.
    pub heap: HeapArea,
    pub guard_start: *mut u8,
    pub stack_bottom: *mut u8,
}

impl Slot {
    pub fn limits(&self) -> &Limits {
        &self.region.limits
    }

    /// A zeroed vmctx block of `size` bytes at the start of the slot, exactly
    /// [`VMCTX_AREA`] bytes below the heap base, for modules whose code addresses the
    /// heap from the vmctx.
    pub fn vmctx_block(&mut self, size: usize) -> Result<*mut u8, Error> {
        if size > VMCTX_AREA_SIZE {
            return Err(Error::Internal(format!(
                "a vmctx of {size} bytes does not fit in the slot's {VMCTX_AREA_SIZE}-byte vmctx area; \
                 VmctxLayout::heap_offset should have kept such a module's vmctx out of the slot (a bug)"
            )));
        }
        let needed = size.next_multiple_of(HOST_PAGE);
        if needed > self.vmctx_accessible {
            // SAFETY: the range lies inside this slot's vmctx area, which only this slot's
            // owner uses; nothing else is mapped there, and access is only added.
            let made = unsafe {
                protect(
                    self.vmctx_area.add(self.vmctx_accessible),
                    needed - self.vmctx_accessible,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            made.map_err(|e| Error::Region(format!("cannot make a vmctx of {size} bytes accessible: {e}")))?;
            self.vmctx_accessible = needed;
        }
        // SAFETY: `size` bytes from the area's start are now readable and writable, and
        // no reference into them exists: the slot was free until this instance took it.
        // What an earlier instance left past `size` is never read: compiled code and the
        // runtime only reach the vmctx's own fields.
        unsafe { std::ptr::write_bytes(self.vmctx_area, 0, size) };
        Ok(self.vmctx_area)
    }

    pub fn stack_top(&self) -> *mut u8 {
        // SAFETY: the stack is the last `stack_size` bytes of the slot.
        unsafe { self.stack_bottom.add(self.region.limits.stack_size) }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // A heap that cannot be brought back to its clean state is never handed out
        // again: the slot is retired rather than risk showing one instance's data to
        // the next.
        if self.heap.restore().is_ok() {
            let image = self.heap.image.take();
            self.region.give_back(FreeSlot {
                index: self.index,
                accessible: self.heap.accessible,
                vmctx_accessible: self.vmctx_accessible,
                image,
            });
        }
    }
}

/// A heap reservation whose accessible prefix is the memory's current size.
pub(crate) struct HeapArea {
    pub base: *mut u8,
    /// Bytes from `base` the memory may grow into.
    reservation: usize,
    /// `PROT_NONE` bytes after the reservation that nothing ever makes accessible.
    guard: usize,
    /// Bytes currently readable and writable.
    accessible: usize,
    /// Whether this area owns its mapping (extra memories) or lives in a slot.
    owned: bool,
    /// The memory image mapped at its offset in this heap, if any.
    image: Option<Arc<MemoryImage>>,
}

impl HeapArea {
    /// A separate reservation, for memories beyond the first one of an instance: room
    /// to grow to `reservation` bytes, followed by `guard` bytes that stay inaccessible.
    pub fn reserve(reservation: usize, guard: usize) -> Result<HeapArea, Error> {
        let reservation = reservation.next_multiple_of(HOST_PAGE).max(HOST_PAGE);
        let guard = guard.next_multiple_of(HOST_PAGE);
        let total = reservation.checked_add(guard).ok_or_else(|| {
            Error::Region(format!("a heap of {reservation} bytes plus a {guard}-byte guard overflows"))
        })?;
        // SAFETY: an anonymous PROT_NONE reservation; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::Region(format!(
                "cannot reserve {total} bytes for an additional memory: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(HeapArea { base: base as *mut u8, reservation, guard, accessible: 0, owned: true, image: None })
    }

    /// Bytes from the base the memory may grow into.
    pub fn reservation(&self) -> usize {
        self.reservation
    }

    /// Inaccessible bytes that follow the reservation for as long as the heap exists.
    pub fn guard(&self) -> usize {
        self.guard
    }

    /// The whole reservation, accessible part and guard: where compiled code for this
    /// heap may fault.
    pub fn reservation_range(&self) -> std::ops::Range<usize> {
        // The guard belongs to the range: compiled code relies on it to fault.
        self.base as usize..self.base as usize + self.reservation + self.guard
    }

    /// Makes the first `len` bytes accessible. Growing only changes protections;
    /// shrinking (reset) makes the rest inaccessible again.
    pub fn set_accessible(&mut self, len: usize) -> Result<(), Error> {
        let len = len.next_multiple_of(HOST_PAGE);
        if len > self.reservation {
            return Err(Error::LimitsExceeded(format!(
                "a heap of {len} bytes does not fit its reservation of {} bytes (Limits::heap_address_space_size)",
                self.reservation
            )));
        }
        let (start, size, prot) = if len > self.accessible {
            (self.accessible, len - self.accessible, libc::PROT_READ | libc::PROT_WRITE)
        } else {
            (len, self.accessible - len, libc::PROT_NONE)
        };
        if size > 0 {
            // SAFETY: the range is inside this heap's reservation (checked above), which
            // only its instance uses. Access is taken away only when instantiation or
            // reset (`Instance::init`, holding `&mut Instance`, no guest running) puts a
            // memory back to its initial size, so no heap view borrowed from the
            // instance is alive then.
            let made = unsafe { protect(self.base.add(start), size, prot) };
            made.map_err(|e| Error::Internal(format!("mprotect of the heap failed: {e}")))?;
        }
        self.accessible = len;
        Ok(())
    }

    /// Whether `image` is what this heap has mapped.
    pub fn has_image(&self, image: Option<&Arc<MemoryImage>>) -> bool {
        match (&self.image, image) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// Replaces a mapped image by zeroes. The heap must be clean except, possibly,
    /// inside the image (which this discards).
    pub fn remove_image(&mut self) -> Result<(), Error> {
        let Some(old) = self.image.take() else { return Ok(()) };
        // SAFETY: the image's range lies inside this heap's reservation, which only
        // its instance uses; a fresh anonymous mapping replaces exactly that range.
        let p = unsafe {
            libc::mmap(
                self.base.add(old.offset) as *mut _,
                old.len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        let mut result = if p == libc::MAP_FAILED { Err(std::io::Error::last_os_error()) } else { Ok(()) };
        // Keep the protections in step with `accessible`.
        let rw_end = (old.offset + old.len).min(self.accessible);
        if result.is_ok() && rw_end > old.offset {
            // SAFETY: as above; part of the range just mapped, and access is only added.
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            result = unsafe { protect(self.base.add(old.offset), rw_end - old.offset, rw) };
        }
        result.map_err(|e| Error::Internal(format!("cannot remove a memory image from a heap: {e}")))
    }

    /// Maps `image` (copy-on-write) unless it is already mapped. The heap must be clean,
    /// carry no other image, and have the image's whole range accessible.
    pub fn install_image(&mut self, image: &Arc<MemoryImage>) -> Result<(), Error> {
        if self.has_image(Some(image)) {
            return Ok(());
        }
        debug_assert!(self.image.is_none(), "remove the old image first");
        if image.offset + image.len > self.accessible {
            return Err(Error::Internal("a memory image was installed past the accessible heap".into()));
        }
        // SAFETY: the range is inside the accessible part of this heap (checked above),
        // which only its instance uses.
        unsafe { image.map_into(self.base) }
            .map_err(|e| Error::Internal(format!("cannot map a memory image into a heap: {e}")))?;
        self.image = Some(image.clone());
        Ok(())
    }

    /// Brings every accessible byte back to its clean value: the image's byte inside the
    /// image, zero elsewhere. In the first `KEEP_RESIDENT_BYTES`, only pages that may
    /// have been written are looked at, and only those that differ are rewritten; the
    /// rest of the heap goes back to the kernel.
    pub fn restore(&mut self) -> Result<(), Error> {
        let window = self.accessible.min(KEEP_RESIDENT_BYTES);
        let pages = window / HOST_PAGE;
        // Which pages hold memory of their own: a page never touched, or only read (the
        // shared zero page), or an untouched image page (the file's page) has no private
        // copy, so it cannot differ from its clean value. The kernel's `PAGEMAP_SCAN`
        // answers that in one call, cheaper than reading even a few pages ourselves.
        let mut restored = false;
        if pages > 0 && Pagemap::can_scan() {
            if let Some(pagemap) = Pagemap::get() {
                let base = self.base as usize;
                restored = pagemap.private_ranges(base, window, |a, b| (a..b).for_each(|p| self.restore_page(p)));
            }
        }
        let kept = if restored { window } else { self.restore_without_scan(pages) };
        if self.accessible > kept {
            // SAFETY: MADV_DONTNEED on our own private mapping: anonymous pages read back
            // as zeroes and the image's pages as the image.
            let rc =
                unsafe { libc::madvise(self.base.add(kept) as *mut _, self.accessible - kept, libc::MADV_DONTNEED) };
            if rc != 0 {
                return Err(Error::Internal(format!(
                    "cannot reset the heap: madvise failed: {}",
                    std::io::Error::last_os_error()
                )));
            }
        }
        Ok(())
    }

    /// `restore` for kernels without `PAGEMAP_SCAN`: looks at every page of small heaps
    /// and at the pagemap entries of larger ones. Returns how many bytes from the start
    /// it restored; the caller gives the rest back to the kernel.
    fn restore_without_scan(&mut self, pages: usize) -> usize {
        if pages <= DIRECT_SCAN_PAGES {
            (0..pages).for_each(|p| self.restore_page(p));
        } else if let Some(pagemap) = Pagemap::get() {
            // Pages it could not look at are given back to the kernel by the caller.
            let base = self.base as usize;
            return pagemap.private_pages_by_entry(base, pages, |p| self.restore_page(p)) * HOST_PAGE;
        } else {
            return 0;
        }
        pages * HOST_PAGE
    }

    /// Restores accessible page number `page` if it differs from its clean value.
    fn restore_page(&mut self, page: usize) {
        let at = page * HOST_PAGE;
        // SAFETY: the page is inside the accessible heap, which only this heap's instance
        // uses, and no guest runs while it is restored.
        let mem = unsafe { std::slice::from_raw_parts_mut(self.base.add(at), HOST_PAGE) };
        match &self.image {
            Some(image) if at >= image.offset && at < image.offset + image.len => {
                let want = &image.bytes()[at - image.offset..at - image.offset + HOST_PAGE];
                if mem != want {
                    mem.copy_from_slice(want);
                }
            }
            _ => {
                if !is_zero(mem) {
                    mem.fill(0);
                }
            }
        }
    }
}

/// Without `PAGEMAP_SCAN`, heaps of at most this many pages are reset by looking at
/// every page, which is cheaper than reading their pagemap entries.
const DIRECT_SCAN_PAGES: usize = 16;

/// Whether a page-sized, page-aligned block is all zeroes. Reads it in 256-byte steps
/// so a dirty page is usually recognised after its first step.
fn is_zero(page: &[u8]) -> bool {
    // SAFETY: any bytes are valid u64s; the block is page-aligned.
    let (pre, words, post) = unsafe { page.align_to::<u64>() };
    if !pre.is_empty() || !post.is_empty() {
        return page.iter().all(|&b| b == 0);
    }
    words.chunks(32).all(|c| c.iter().fold(0, |acc, w| acc | w) == 0)
}

impl Drop for HeapArea {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: our own reservation; the instance using it is being dropped.
            unsafe { libc::munmap(self.base as *mut _, self.reservation + self.guard) };
        }
    }
}

/// `mprotect(2)` of `len` bytes at `addr`.
///
/// # Safety
///
/// `addr..addr + len` must lie inside a mapping this region made, and no reference may
/// point into a part of it that loses access.
unsafe fn protect(addr: *mut u8, len: usize, prot: libc::c_int) -> std::io::Result<()> {
    // SAFETY: the caller's contract; `mprotect` itself only changes page protections.
    match unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dirties every third page and reads every fifth, restores, and checks zeroes.
    fn dirty_then_check(h: &mut HeapArea, pages: usize, restore: impl Fn(&mut HeapArea) -> usize) {
        for p in (0..pages).step_by(3) {
            // SAFETY: inside the accessible part of our own heap.
            unsafe { *h.base.add(p * HOST_PAGE + 5) = 7 };
        }
        for p in (1..pages).step_by(5) {
            // SAFETY: as above.
            let _ = unsafe { std::ptr::read_volatile(h.base.add(p * HOST_PAGE)) };
        }
        let kept = restore(h);
        // SAFETY: the accessible part of our own heap.
        let heap = unsafe { std::slice::from_raw_parts(h.base, kept) };
        assert!(heap.iter().all(|&b| b == 0), "a restored heap of {pages} pages still holds data");
    }

    #[test]
    fn every_restore_path_zeroes_written_pages() {
        for pages in [4, DIRECT_SCAN_PAGES, 100, 700] {
            let mut h = HeapArea::reserve(1024 * HOST_PAGE, 0).unwrap();
            h.set_accessible(pages * HOST_PAGE).unwrap();
            // The fallbacks for kernels without PAGEMAP_SCAN.
            dirty_then_check(&mut h, pages, |h| h.restore_without_scan(pages.min(KEEP_RESIDENT_BYTES / HOST_PAGE)));
            // Whatever `restore` picks here, madvise past the window included.
            dirty_then_check(&mut h, pages, |h| {
                h.restore().unwrap();
                h.accessible
            });
        }
    }
}
