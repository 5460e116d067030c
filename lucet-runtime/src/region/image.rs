//! Copy-on-write images of a module's initial linear memory.
//!
//! Instantiation maps a module's image `MAP_PRIVATE` over the slot's heap, so every
//! instance shares the same physical pages until it writes one; the cost of
//! instantiation therefore does not grow with the amount of data. A slot keeps its image
//! mapped when it is freed, and the next instance of the same module in that slot finds
//! its data already in place.
//!
//! Which segments an image holds is decided by `lucet_module::plan_memory_image`, the
//! same code lucetc uses. When lucetc stored the image in the `.so` (page-aligned, for
//! images that are not mostly zeroes), the image is that range of the module file,
//! mapped as it is: nothing is copied. Otherwise the bytes are written once into a
//! sealed `memfd`. That file is sparse: it spans the page-rounded range from the first
//! to the last byte of data, but only the segments' bytes are written, so segments far
//! apart cost no more than their own size.

use lucet_module::{plan_memory_image, ModuleData};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

/// The initial contents of memory 0, from `offset` to `offset + len` (page-aligned);
/// everything outside that range starts as zeroes.
pub(crate) struct MemoryImage {
    fd: OwnedFd,
    /// Where the image starts in the file.
    file_offset: i64,
    /// Heap offset of the image's first byte.
    pub offset: usize,
    /// Length in bytes, a multiple of the page size, non-zero.
    pub len: usize,
    /// A read-only shared view of the file, to compare pages against when resetting.
    view: *const u8,
}

// SAFETY: the file is a sealed memfd or the module file (which must not change while
// loaded, like the module's code), and `view` is a read-only mapping that lives as long
// as the image; nothing is ever mutated through it.
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

/// A new, empty, sealable memory file.
fn new_memfd() -> std::io::Result<std::fs::File> {
    let name = c"lucet-memory-image";
    // SAFETY: a plain system call with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

impl MemoryImage {
    /// Builds the image of `data`'s memory 0, or `None` when the module has no data for
    /// it, or when its segments cannot be pre-applied (see the module docs). Errors are
    /// only those of creating the file; callers fall back to applying segments.
    pub(crate) fn build<'a>(
        data: &ModuleData,
        segment: &dyn Fn(usize) -> &'a [u8],
    ) -> std::io::Result<Option<ImagePlan>> {
        let Some(layout) = plan_memory_image(data, |i| segment(i).len() as u64) else { return Ok(None) };
        let (covered, lo, hi) = (layout.covered, layout.start, layout.end);
        let file = new_memfd()?;
        // The file starts as a hole of the image's size and only the segments are
        // written into it: far-apart segments cost their own bytes, not the distance
        // between them. Writing in segment order lets a later segment overwrite an
        // earlier one, as applying them in order would.
        file.set_len(hi - lo)?;
        for p in &layout.placements {
            file.write_all_at(segment(p.segment), p.start - lo)?;
        }
        let image = MemoryImage::from_file(lo as usize, (hi - lo) as usize, file)?;
        Ok(Some(ImagePlan { image, covered }))
    }

    /// The image stored in a module file: `len` bytes at `file_offset` (page-aligned),
    /// the initial contents of the heap from `offset`. The file is not sealed, so it must
    /// not change while loaded, as for the module's code (see docs/architecture.md).
    pub(crate) fn in_file(file: std::fs::File, file_offset: u64, offset: usize, len: usize) -> std::io::Result<MemoryImage> {
        let fd = OwnedFd::from(file);
        let file_offset = i64::try_from(file_offset).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: a new read-only shared mapping of part of the file; it affects no
        // existing memory.
        let view = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd.as_raw_fd(), file_offset)
        };
        if view == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(MemoryImage { fd, file_offset, offset, len, view: view as *const u8 })
    }

    /// Seals `file` (`len` bytes) and maps a read-only view of it.
    fn from_file(offset: usize, len: usize, file: std::fs::File) -> std::io::Result<MemoryImage> {
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
        let view =
            unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
        if view == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(MemoryImage { fd, file_offset: 0, offset, len, view: view as *const u8 })
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
                self.file_offset,
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

#[cfg(test)]
mod tests {
    use super::*;
    use lucet_module::{ConstExpr, ConstOp, DataSegment, MemoryPlan, MemoryType, SegmentKind};

    const WASM_PAGE: u64 = crate::limits::WASM_PAGE_SIZE as u64;

    fn memory(min_pages: u64, memory64: bool) -> MemoryPlan {
        let memory = MemoryType { min_pages, max_pages: None, memory64, shared: false };
        MemoryPlan { memory, reserved_size: 4 << 30, guard_size: 2 << 30 }
    }

    fn active(memory: u32, offset: ConstOp, data: &[u8]) -> DataSegment {
        let kind = SegmentKind::Active { index: memory, offset: ConstExpr { ops: vec![offset] } };
        DataSegment { kind, data: data.to_vec() }
    }

    fn module(memories: Vec<MemoryPlan>, data_segments: Vec<DataSegment>) -> ModuleData {
        ModuleData { memory_plans: memories, data_segments, ..Default::default() }
    }

    fn build(data: &ModuleData) -> Option<ImagePlan> {
        MemoryImage::build(data, &|i| &data.data_segments[i].data).expect("creating a memory file works here")
    }

    /// What memory 0 holds at `at` once the image is mapped.
    fn byte_at(plan: &ImagePlan, at: u64) -> u8 {
        let (offset, len) = (plan.image.offset as u64, plan.image.len as u64);
        if (offset..offset + len).contains(&at) {
            plan.image.bytes()[(at - offset) as usize]
        } else {
            0
        }
    }

    #[test]
    fn an_empty_segment_outside_the_data_pages_is_covered_and_ignored() {
        // Below the first page of data, then above it.
        for empty_at in [0, 65536] {
            let data = module(
                vec![memory(1, false)],
                vec![active(0, ConstOp::I32Const(empty_at), b""), active(0, ConstOp::I32Const(5501), b"3")],
            );
            let plan = build(&data).expect("an image");
            assert_eq!((plan.image.offset, plan.image.len), (4096, 4096));
            assert_eq!(byte_at(&plan, 5501), b'3');
            assert_eq!(plan.covered, vec![true, true]);
        }
    }

    #[test]
    fn a_segment_may_end_exactly_at_the_end_of_memory() {
        let data = module(vec![memory(1, false)], vec![active(0, ConstOp::I32Const(65535), b"z")]);
        let plan = build(&data).expect("an image");
        assert_eq!(plan.image.offset as u64 + plan.image.len as u64, WASM_PAGE);
        assert_eq!(byte_at(&plan, 65535), b'z');
        // One byte further traps at instantiation: no image, the ordinary path reports it.
        let data = module(vec![memory(1, false)], vec![active(0, ConstOp::I32Const(65536), b"z")]);
        assert!(build(&data).is_none());
        // An empty segment exactly at the end is in bounds; one past it is not.
        let data = module(vec![memory(1, false)], vec![active(0, ConstOp::I32Const(65536), b"")]);
        assert!(build(&data).is_none(), "no data, so no image");
        let data = module(
            vec![memory(1, false)],
            vec![active(0, ConstOp::I32Const(65537), b""), active(0, ConstOp::I32Const(0), b"a")],
        );
        assert!(build(&data).is_none());
    }

    #[test]
    fn zero_length_memories_get_no_image() {
        for seg in [active(0, ConstOp::I32Const(0), b""), active(0, ConstOp::I32Const(0), b"a")] {
            assert!(build(&module(vec![memory(0, false)], vec![seg])).is_none());
        }
        assert!(build(&module(vec![], vec![])).is_none());
    }

    #[test]
    fn offsets_near_the_top_of_the_index_space() {
        // i32.const -1 is offset 0xffff_ffff: out of bounds of a small memory...
        let data = module(vec![memory(1, false)], vec![active(0, ConstOp::I32Const(-1), b"")]);
        assert!(build(&data).is_none());
        // ...and the last byte of a 4 GiB one. The image spans 4 GiB but holds two pages.
        let data = module(
            vec![memory(65536, false)],
            vec![active(0, ConstOp::I32Const(-1), b"x"), active(0, ConstOp::I32Const(0), b"a")],
        );
        let plan = build(&data).expect("an image");
        assert_eq!((plan.image.offset, plan.image.len), (0, 1 << 32));
        assert_eq!(byte_at(&plan, 0), b'a');
        assert_eq!(byte_at(&plan, u32::MAX as u64), b'x');
        assert_eq!(byte_at(&plan, 1 << 31), 0);
        // memory64 offsets that overflow, or lie beyond any possible heap.
        let huge = memory(1 << 48, true);
        for (offset, bytes) in [(-1i64, &b"x"[..]), (-4, b"abc"), (1 << 50, b"a")] {
            let data = module(vec![huge], vec![active(0, ConstOp::I64Const(offset), bytes)]);
            assert!(build(&data).is_none(), "offset {offset:#x}");
        }
        let data = module(vec![memory(2, true)], vec![active(0, ConstOp::I64Const(70000), b"q")]);
        assert_eq!(byte_at(&build(&data).expect("an image"), 70000), b'q');
    }

    #[test]
    fn later_segments_overwrite_earlier_ones() {
        let a = active(0, ConstOp::I32Const(4094), b"aaaa");
        let b = active(0, ConstOp::I32Const(4095), b"bb");
        let plan = build(&module(vec![memory(1, false)], vec![a.clone(), b.clone()])).expect("an image");
        let got: Vec<u8> = (4094..4098).map(|i| byte_at(&plan, i)).collect();
        assert_eq!(got, b"abba");
        let plan = build(&module(vec![memory(1, false)], vec![b, a])).expect("an image");
        let got: Vec<u8> = (4094..4098).map(|i| byte_at(&plan, i)).collect();
        assert_eq!(got, b"aaaa");
    }

    #[test]
    fn a_segment_that_may_trap_before_memory_zeros_keeps_the_image_away() {
        let mems = || vec![memory(1, false), memory(1, false)];
        let trapping = active(1, ConstOp::I32Const(65536), b"t");
        let fine = active(1, ConstOp::I32Const(0), b"f");
        let ours = active(0, ConstOp::I32Const(8), b"m");
        // After a segment that traps, memory 0's segment must not appear applied.
        assert!(build(&module(mems(), vec![trapping.clone(), ours.clone()])).is_none());
        // Before it, or after one that fits, the image holds it.
        let plan = build(&module(mems(), vec![ours.clone(), trapping])).expect("an image");
        assert_eq!(plan.covered, vec![true, false]);
        let plan = build(&module(mems(), vec![fine, ours.clone()])).expect("an image");
        assert_eq!(plan.covered, vec![false, true]);
        // An offset only known at instantiation may trap too.
        let global = DataSegment {
            kind: SegmentKind::Active { index: 1, offset: ConstExpr { ops: vec![ConstOp::GlobalGet(0)] } },
            data: b"g".to_vec(),
        };
        assert!(build(&module(mems(), vec![global, ours])).is_none());
    }
}
