//! Where compiled code may fault.
//!
//! Compiled code relies on faults only for memory accesses past a heap's accessible size
//! (into its reservation and guard) and for stack overflows (into the guest stack's
//! guard). Tables are bounds-checked explicitly and have no guard, and every other
//! address compiled code touches — the vmctx, globals, table elements, the stack — is
//! valid while it runs. A fault anywhere else means the code went somewhere it must not
//! (a compiler or runtime bug), and is never reported as a trap.

use std::ops::Range;

/// Sorted, disjoint address ranges in which a fault of compiled code is a guest trap.
/// Built before a run; the signal handler only reads it.
#[derive(Debug, Default)]
pub(crate) struct FaultRanges {
    /// `[start, end)` pairs, sorted by start, non-empty, neither overlapping nor touching.
    ranges: Box<[(usize, usize)]>,
}

impl FaultRanges {
    /// Ranges covering exactly the union of `ranges`.
    pub(crate) fn new(ranges: impl IntoIterator<Item = Range<usize>>) -> FaultRanges {
        let mut sorted: Vec<(usize, usize)> =
            ranges.into_iter().filter(|r| r.start < r.end).map(|r| (r.start, r.end)).collect();
        sorted.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(sorted.len());
        for (start, end) in sorted {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        FaultRanges { ranges: merged.into_boxed_slice() }
    }

    /// Whether `addr` lies in one of the ranges. Async-signal-safe: a binary search over
    /// memory that does not change while a run may read it.
    pub(crate) fn contains(&self, addr: usize) -> bool {
        // The last range starting at or below `addr` is the only candidate.
        let after = self.ranges.partition_point(|&(start, _)| start <= addr);
        after > 0 && addr < self.ranges[after - 1].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_exactly_the_union() {
        let f = FaultRanges::new([300..400, 100..200, 150..250, 250..260, 500..500, 0..0]);
        assert_eq!(&*f.ranges, &[(100, 260), (300, 400)]);
        for (addr, inside) in [(0, false), (99, false), (100, true), (259, true), (260, false), (299, false)] {
            assert_eq!(f.contains(addr), inside, "{addr}");
        }
        assert!(f.contains(399) && !f.contains(400) && !f.contains(500) && !f.contains(usize::MAX));
        assert!(!FaultRanges::default().contains(0));
        let top = FaultRanges::new([usize::MAX - 10..usize::MAX]);
        assert!(top.contains(usize::MAX - 1) && !top.contains(usize::MAX));
    }
}
