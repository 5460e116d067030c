//! Whether a memory's mapping honours what the code that accesses it assumes.
//!
//! Compiled code trusts the address space around a memory: with static bounds it
//! touches anything below the plan's reservation + guard without a check, and with
//! dynamic bounds it still reaches `guard_size` bytes past the current length (see
//! [`MemoryPlan::reach`]). Every one of those bytes that is not part of the memory's
//! accessible length must fault, or a guest reads or writes whatever lies there: its own
//! stack, another instance's heap, host data. So the runtime gives each memory it
//! allocates the reach of its own module's code, and links an importer to a memory only
//! when that memory's mapping covers the importer's reach as well.

use crate::limits::WASM_PAGE_SIZE;
use crate::region::mmap::HeapArea;
use lucet_module::{MemoryPlan, MemoryType};

/// How a memory is laid out in the address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoryGeometry {
    /// Bytes from the base that belong to the memory: the accessible prefix, then
    /// `PROT_NONE` that only this memory's growth makes accessible.
    pub reservation: u64,
    /// `PROT_NONE` bytes after the reservation that never become accessible.
    pub guard: u64,
    /// The most bytes the memory can ever have accessible.
    pub max_len: u64,
}

impl MemoryGeometry {
    /// The geometry of a memory of type `ty` living in `area`, in an instance whose
    /// memories may not grow past `max_heap` bytes.
    pub fn of(area: &HeapArea, ty: &MemoryType, max_heap: u64) -> MemoryGeometry {
        let reservation = area.reservation() as u64;
        MemoryGeometry { reservation, guard: area.guard() as u64, max_len: max_len(ty, max_heap).min(reservation) }
    }

    /// The reservation and guard of a fresh mapping for a memory that `plan`'s code
    /// accesses: room for the memory's largest size, then everything else the code can
    /// reach as guard.
    pub fn for_plan(plan: &MemoryPlan, max_heap: u64) -> MemoryGeometry {
        let max_len = max_len(&plan.memory, max_heap);
        MemoryGeometry { reservation: max_len, guard: plan.reach(max_len).saturating_sub(max_len), max_len }
    }

    /// Bytes from the base in which every access either hits the memory or faults.
    pub fn span(&self) -> u64 {
        self.reservation.saturating_add(self.guard)
    }

    /// Whether code compiled for `plan` stays inside this memory's span. (Index types
    /// are compared with the memory's type when an import is linked.)
    pub fn covers(&self, plan: &MemoryPlan) -> bool {
        self.span() >= plan.reach(self.max_len)
    }
}

impl std::fmt::Display for MemoryGeometry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a {} reservation and a {} guard, growing to at most {}",
            bytes(self.reservation),
            bytes(self.guard),
            bytes(self.max_len)
        )
    }
}

/// The most bytes a memory of type `ty` may have, under an instance limit of `max_heap`.
pub(crate) fn max_len(ty: &MemoryType, max_heap: u64) -> u64 {
    let page = WASM_PAGE_SIZE as u64;
    let abs_max_pages = if ty.memory64 { u64::MAX / page } else { 1 << 16 };
    let pages = ty.max_pages.unwrap_or(abs_max_pages).min(abs_max_pages).min(max_heap / page);
    pages * page
}

/// What code compiled for `plan` assumes, in words.
pub(crate) fn describe_plan(plan: &MemoryPlan) -> String {
    let checks = if plan.static_bounds() {
        "no bounds checks below the reservation"
    } else {
        "bounds checks against the current length"
    };
    format!(
        "a {} reservation and a {} guard ({checks}, {}-bit index)",
        bytes(plan.reserved_size),
        bytes(plan.guard_size),
        if plan.memory.memory64 { 64 } else { 32 }
    )
}

/// `n` bytes in the largest binary unit that divides it.
// `is_multiple_of` is newer than the workspace's minimum Rust version.
#[allow(clippy::manual_is_multiple_of)]
pub(crate) fn bytes(n: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{} {unit}", n >> shift);
        }
    }
    format!("{n}-byte")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(reserved: u64, guard: u64) -> MemoryPlan {
        MemoryPlan {
            memory: MemoryType { min_pages: 1, max_pages: None, memory64: false, shared: false },
            reserved_size: reserved,
            guard_size: guard,
        }
    }

    #[test]
    fn static_code_needs_its_whole_reservation_and_guard() {
        let p = plan(4 << 30, 2 << 30);
        let slot = MemoryGeometry { reservation: 64 << 10, guard: 64 << 10, max_len: 64 << 10 };
        assert!(!slot.covers(&p));
        let big = MemoryGeometry { reservation: 8 << 30, guard: 0, max_len: 4 << 30 };
        assert!(big.covers(&p));
    }

    #[test]
    fn dynamic_code_needs_its_guard_past_the_largest_size() {
        let p = plan(64 << 10, 64 << 10);
        let tight = MemoryGeometry { reservation: 256 << 10, guard: 0, max_len: 256 << 10 };
        assert!(!tight.covers(&p));
        let g = MemoryGeometry::for_plan(&p, 256 << 10);
        assert_eq!((g.reservation, g.guard), (256 << 10, 64 << 10));
        assert!(g.covers(&p));
        // Room left in the reservation past the largest size counts as guard.
        let roomy = MemoryGeometry { reservation: 1 << 20, guard: 0, max_len: 256 << 10 };
        assert!(roomy.covers(&p));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(bytes(64 << 10), "64 KiB");
        assert_eq!(bytes(6 << 30), "6 GiB");
        assert_eq!(bytes(0), "0-byte");
        assert_eq!(
            describe_plan(&plan(4 << 30, 2 << 30)),
            "a 4 GiB reservation and a 2 GiB guard (no bounds checks below the reservation, 32-bit index)"
        );
    }
}
