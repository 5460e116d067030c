//! Copy-on-write images of a module's initial linear memory.
//!
//! When a module is loaded, the bytes its active data segments put into memory 0 are
//! written once into a sealed `memfd`. Instantiation maps that file `MAP_PRIVATE` over
//! the slot's heap, so every instance shares the same physical pages until it writes
//! one; the cost of instantiation therefore does not grow with the amount of data. A
//! slot keeps its image mapped when it is freed, and the next instance of the same
//! module in that slot finds its data already in place.
//!
//! An image is only built when it is exactly what applying the segments would produce:
//! memory 0 is defined by the module (not imported), and every active segment for it
//! has a constant offset and fits the memory's initial size. Anything else is left to
//! the ordinary segment-by-segment initialisation.

use crate::instance::HOST_PAGE;
use lucet_module::{ConstOp, ModuleData, SegmentKind};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The initial contents of memory 0, from `offset` to `offset + len` (page-aligned);
/// everything outside that range starts as zeroes.
pub(crate) struct MemoryImage {
    fd: OwnedFd,
    /// Heap offset of the image's first byte.
    pub offset: usize,
    /// Length in bytes, a multiple of the page size, non-zero.
    pub len: usize,
    /// A read-only shared view of the file, to compare pages against when resetting.
    view: *const u8,
}

// SAFETY: the file is sealed against writes and `view` is a read-only mapping that lives
// as long as the image; nothing is ever mutated through it.
unsafe impl Send for MemoryImage {}
// SAFETY: as above.
unsafe impl Sync for MemoryImage {}

impl std::fmt::Debug for MemoryImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryImage").field("offset", &self.offset).field("len", &self.len).finish()
    }
}

/// Which data segments an image covers.
pub(crate) struct ImagePlan {
    pub image: MemoryImage,
    /// `covered[i]`: data segment `i` is already part of the image.
    pub covered: Vec<bool>,
}

fn const_offset(ops: &[ConstOp]) -> Option<u64> {
    match ops {
        [ConstOp::I32Const(v)] => Some(*v as u32 as u64),
        [ConstOp::I64Const(v)] => Some(*v as u64),
        _ => None,
    }
}

impl MemoryImage {
    /// Builds the image of `data`'s memory 0, or `None` when the module has no data for
    /// it, or when its segments cannot be pre-applied (see the module docs). Errors are
    /// only those of creating the file; callers fall back to applying segments.
    pub(crate) fn build(data: &ModuleData) -> std::io::Result<Option<ImagePlan>> {
        if data.num_imported_memories() != 0 {
            return Ok(None);
        }
        let Some(plan) = data.memory_plans.first() else { return Ok(None) };
        let initial = plan.memory.min_pages.saturating_mul(crate::limits::WASM_PAGE_SIZE as u64);
        let mut covered = vec![false; data.data_segments.len()];
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        for (i, seg) in data.data_segments.iter().enumerate() {
            let SegmentKind::Active { index: 0, offset } = &seg.kind else { continue };
            let Some(start) = const_offset(&offset.ops) else { return Ok(None) };
            let end = match start.checked_add(seg.data.len() as u64) {
                Some(e) if e <= initial => e,
                // Applying it traps at instantiation; leave that to the ordinary path.
                _ => return Ok(None),
            };
            covered[i] = true;
            if start < end {
                lo = lo.min(start);
                hi = hi.max(end);
            }
        }
        if lo >= hi {
            return Ok(None);
        }
        let page = HOST_PAGE as u64;
        let lo = lo / page * page;
        let hi = hi.next_multiple_of(page);
        let mut bytes = vec![0u8; (hi - lo) as usize];
        for (i, seg) in data.data_segments.iter().enumerate() {
            if !covered[i] {
                continue;
            }
            let SegmentKind::Active { offset, .. } = &seg.kind else { continue };
            let start = (const_offset(&offset.ops).expect("checked above") - lo) as usize;
            bytes[start..start + seg.data.len()].copy_from_slice(&seg.data);
        }
        let image = MemoryImage::from_bytes(lo as usize, &bytes)?;
        Ok(Some(ImagePlan { image, covered }))
    }

    fn from_bytes(offset: usize, bytes: &[u8]) -> std::io::Result<MemoryImage> {
        let name = c"lucet-memory-image";
        // SAFETY: a plain system call with a NUL-terminated name.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)?;
        let fd = OwnedFd::from(file);
        // Sealing makes the image immutable: no one holding the descriptor can change
        // what later instances start from.
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on a descriptor we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a new read-only shared mapping of the whole file; it affects no existing
        // memory.
        let view = unsafe {
            libc::mmap(std::ptr::null_mut(), bytes.len(), libc::PROT_READ, libc::MAP_SHARED, fd.as_raw_fd(), 0)
        };
        if view == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(MemoryImage { fd, offset, len: bytes.len(), view: view as *const u8 })
    }

    /// The image's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `view` maps `len` readable bytes for the image's whole life, and the
        // sealed file never changes.
        unsafe { std::slice::from_raw_parts(self.view, self.len) }
    }

    /// Maps the image copy-on-write at `heap + offset`, replacing what was there.
    ///
    /// # Safety
    /// `[heap + offset, heap + offset + len)` must lie inside a reservation that the
    /// caller owns and that nothing else references right now.
    pub(crate) unsafe fn map_into(&self, heap: *mut u8) -> std::io::Result<()> {
        // SAFETY: (caller) the target range is ours; MAP_FIXED replaces only it.
        let p = unsafe {
            libc::mmap(
                heap.add(self.offset) as *mut _,
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                self.fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for MemoryImage {
    fn drop(&mut self) {
        // SAFETY: our own view mapping; slots that mapped the file keep their private
        // mappings, which stay valid after the descriptor is closed.
        unsafe { libc::munmap(self.view as *mut _, self.len) };
    }
}
