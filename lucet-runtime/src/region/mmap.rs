//! The `mmap`-backed region.
//!
//! One `mmap(PROT_NONE, MAP_NORESERVE)` at creation reserves every slot; nothing is
//! mapped again afterwards. Each slot looks like this (addresses grow to the right):
//!
//! ```text
//!  slot base                                                     slot base + slot_size
//!  | heap reservation: heap_address_space_size                 | guard  | stack       |
//!  | [accessible: current memory size, RW][PROT_NONE .........] | NONE   | stack_size  |
//!  ^ MemoryDef::base                                                     ^ stack bottom
//!                                                                        (stack grows down
//!                                                                         from the slot end)
//! ```
//!
//! The heap reservation covers the reservation + guard the code was compiled for, so a
//! 32-bit access can never leave it; past it, the stack guard separates the heap from
//! the stack. Instantiation only changes protections (`mprotect`), reset and release
//! return pages to the kernel (`madvise(MADV_DONTNEED)`), which also zeroes them.

use super::Region;
use crate::instance::{InstanceBuilder, HOST_PAGE};
use crate::limits::Limits;
use crate::module::Module;
use crate::Error;
use std::sync::{Arc, Mutex, Weak};

/// Address space between a slot's heap reservation and its stack.
const STACK_GUARD_SIZE: usize = 64 * 1024;

/// A region of `slots` instance slots, each sized by `Limits`.
pub struct MmapRegion {
    base: *mut u8,
    total: usize,
    slot_size: usize,
    capacity: usize,
    limits: Limits,
    free: Mutex<Vec<usize>>,
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
            .checked_add(STACK_GUARD_SIZE)
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
            let stack = i * slot_size + limits.heap_address_space_size + STACK_GUARD_SIZE;
            // SAFETY: the range lies inside the reservation made above.
            let rc = unsafe {
                libc::mprotect(base.add(stack) as *mut _, limits.stack_size, libc::PROT_READ | libc::PROT_WRITE)
            };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
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
            free: Mutex::new((0..slots).rev().collect()),
            weak: weak.clone(),
        }))
    }

    /// The limits every slot was sized with (rounded to whole pages).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn take_slot(&self) -> Result<Slot, Error> {
        let index = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop().ok_or_else(|| {
            Error::Region(format!(
                "no free slot: all {} slots of the region are in use; drop an instance or create the region \
                 with more slots",
                self.capacity
            ))
        })?;
        let region = self.weak.upgrade().expect("a region is alive while it hands out slots");
        // SAFETY: index < capacity, so the slot lies inside the reservation.
        let slot_base = unsafe { self.base.add(index * self.slot_size) };
        let stack_guard = self.limits.heap_address_space_size;
        // SAFETY: offsets inside this slot.
        let (guard_start, stack_bottom) =
            unsafe { (slot_base.add(stack_guard), slot_base.add(stack_guard + STACK_GUARD_SIZE)) };
        let heap =
            HeapArea { base: slot_base, reservation: self.limits.heap_address_space_size, accessible: 0, owned: false };
        Ok(Slot { region, index, heap, guard_start, stack_bottom })
    }

    fn give_back(&self, index: usize) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(index);
    }
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        // SAFETY: every slot holds an Arc of the region, so no instance uses the
        // reservation any more.
        unsafe { libc::munmap(self.base as *mut _, self.total) };
    }
}

impl Region for MmapRegion {
    fn new_instance_builder(&self, module: Arc<dyn Module>) -> InstanceBuilder {
        let region = self.weak.upgrade().expect("regions are only created inside an Arc");
        InstanceBuilder::new(region, module)
    }

    fn free_slots(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

/// One slot, owned by one instance; returned to the region on drop.
pub(crate) struct Slot {
    region: Arc<MmapRegion>,
    index: usize,
    /// The heap of memory 0, at the start of the slot.
    pub heap: HeapArea,
    pub guard_start: *mut u8,
    pub stack_bottom: *mut u8,
}

impl Slot {
    pub fn limits(&self) -> &Limits {
        &self.region.limits
    }

    pub fn stack_top(&self) -> *mut u8 {
        // SAFETY: the stack is the last `stack_size` bytes of the slot.
        unsafe { self.stack_bottom.add(self.region.limits.stack_size) }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.heap.release();
        // SAFETY: the stack belongs to this slot and no guest runs on it any more.
        unsafe {
            libc::madvise(self.stack_bottom as *mut _, self.region.limits.stack_size, libc::MADV_DONTNEED);
        }
        self.region.give_back(self.index);
    }
}

/// A heap reservation whose accessible prefix is the memory's current size.
pub(crate) struct HeapArea {
    pub base: *mut u8,
    reservation: usize,
    /// Bytes currently readable and writable.
    accessible: usize,
    /// Whether this area owns its mapping (extra memories) or lives in a slot.
    owned: bool,
}

impl HeapArea {
    /// A separate reservation, for memories beyond the first one of an instance.
    pub fn reserve(reservation: usize) -> Result<HeapArea, Error> {
        let reservation = reservation.next_multiple_of(HOST_PAGE).max(HOST_PAGE);
        // SAFETY: an anonymous PROT_NONE reservation; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reservation,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::Region(format!(
                "cannot reserve {reservation} bytes for an additional memory: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(HeapArea { base: base as *mut u8, reservation, accessible: 0, owned: true })
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
            // only its instance uses.
            let rc = unsafe { libc::mprotect(self.base.add(start) as *mut _, size, prot) };
            if rc != 0 {
                return Err(Error::Internal(format!(
                    "mprotect of the heap failed: {}",
                    std::io::Error::last_os_error()
                )));
            }
        }
        self.accessible = len;
        Ok(())
    }

    /// Zeroes the accessible heap by handing its pages back to the kernel.
    pub fn zero(&mut self) {
        if self.accessible > 0 {
            // SAFETY: MADV_DONTNEED on a private anonymous mapping we own: the pages read
            // back as zeroes on next access.
            unsafe { libc::madvise(self.base as *mut _, self.accessible, libc::MADV_DONTNEED) };
        }
    }

    fn release(&mut self) {
        self.zero();
        let _ = self.set_accessible(0);
    }
}

impl Drop for HeapArea {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: our own reservation; the instance using it is being dropped.
            unsafe { libc::munmap(self.base as *mut _, self.reservation) };
        }
    }
}
