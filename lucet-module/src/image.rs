//! Which data segments can be pre-applied into a copy-on-write image of memory 0.
//!
//! lucetc uses this to write the image into the `.so`, page-aligned, and the runtime
//! uses it to check that image, or to build one itself when the file carries none. Both
//! decide from the same code, so they agree on what the image must contain.
//!
//! An image is only planned when it is exactly what applying the segments would produce:
//! memory 0 is defined by the module (not imported), every active segment for it has a
//! constant offset and fits the memory's initial size (an empty one only has to be in
//! bounds, wherever it lies), and no segment of another memory that may trap comes
//! before one of memory 0's (segments after a trap must not appear applied). Anything
//! else is left to the ordinary segment-by-segment initialisation.

use crate::{ConstOp, ModuleData, SegmentKind};

/// The granularity of an image: the host page size lucet supports (x86-64 Linux).
pub const IMAGE_PAGE: u64 = 4096;

/// Bytes in a WebAssembly page.
const WASM_PAGE: u64 = 65536;

/// No heap reaches past the x86-64 user address space, so a module whose data lies
/// beyond it can never be instantiated; its segments are left to instantiation, which
/// reports the limit.
const MAX_IMAGE_END: u64 = 1 << 47;

/// Where one covered, non-empty segment's bytes go, relative to the heap base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub segment: usize,
    pub start: u64,
}

/// The planned image of memory 0: `[start, end)` of the heap, page-aligned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayout {
    /// Non-empty covered segments, in segment order; a later one overwrites an earlier.
    pub placements: Vec<Placement>,
    /// `covered[i]`: data segment `i` is part of the image and is not applied again.
    pub covered: Vec<bool>,
    pub start: u64,
    pub end: u64,
}

impl ImageLayout {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

fn const_offset(ops: &[ConstOp]) -> Option<u64> {
    match ops {
        [ConstOp::I32Const(v)] => Some(*v as u32 as u64),
        [ConstOp::I64Const(v)] => Some(*v as u64),
        _ => None,
    }
}

/// Plans the image of `data`'s memory 0. `segment_len(i)` is the length of data segment
/// `i` (the bytes may live in the metadata's tables rather than in `data`). `None` when
/// there is nothing to image, or when pre-applying the segments could differ from
/// applying them in order.
pub fn plan_memory_image(data: &ModuleData, segment_len: impl Fn(usize) -> u64) -> Option<ImageLayout> {
    if data.num_imported_memories() != 0 {
        return None;
    }
    // Every memory is defined here, so each initial size is known now.
    let initial = |memory: u32| {
        let plan = data.memory_plans.get(memory as usize)?;
        Some(plan.memory.min_pages.saturating_mul(WASM_PAGE))
    };
    let memory0 = initial(0)?;
    let mut covered = vec![false; data.data_segments.len()];
    let mut placements = Vec::new();
    // The range of non-empty data; empty segments only need to be in bounds.
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    // Whether an earlier segment (of another memory) may trap. Segments after a trap
    // must not appear applied, and the image is mapped before any of them runs.
    let mut earlier_may_trap = false;
    for (i, seg) in data.data_segments.iter().enumerate() {
        let SegmentKind::Active { index, offset } = &seg.kind else { continue };
        let start = const_offset(&offset.ops);
        let end = start.and_then(|s| s.checked_add(segment_len(i)));
        if *index != 0 {
            let fits = matches!((end, initial(*index)), (Some(e), Some(limit)) if e <= limit);
            earlier_may_trap |= !fits;
            continue;
        }
        // A segment of memory 0 that traps, or that follows one that may, is left to
        // the ordinary path, and with it every other segment.
        let (Some(start), Some(end)) = (start, end) else { return None };
        if end > memory0 || earlier_may_trap {
            return None;
        }
        covered[i] = true;
        if start < end {
            lo = lo.min(start);
            hi = hi.max(end);
            placements.push(Placement { segment: i, start });
        }
    }
    if lo >= hi || hi > MAX_IMAGE_END {
        return None;
    }
    let start = lo / IMAGE_PAGE * IMAGE_PAGE;
    let end = hi.next_multiple_of(IMAGE_PAGE);
    Some(ImageLayout { placements, covered, start, end })
}

/// Whether an image is worth storing whole in the `.so`: segments far apart would make
/// the file carry the zero pages between them, so such images are built sparse at load
/// time instead.
pub fn image_is_dense(layout: &ImageLayout, data_bytes: u64) -> bool {
    layout.len() <= data_bytes.saturating_mul(2).saturating_add(64 * 1024)
}
