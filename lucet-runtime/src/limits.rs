//! Sizes that bound what one instance may use.

/// The host page size this runtime assumes for rounding (x86-64 Linux).
pub(crate) const HOST_PAGE_SIZE: usize = 4096;
/// One WebAssembly page.
pub const WASM_PAGE_SIZE: usize = 64 * 1024;

/// Per-slot limits of a [`crate::Region`].
///
/// Sizes that are not a multiple of the host page size are rounded up when a region is
/// created; they are never rejected for that. The defaults run any wasm32 program: the
/// heap may grow to the full 4 GiB and the stack is large enough for Rust and C code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of linear memory an instance may have accessible (initial + grown).
    pub heap_memory_size: usize,
    /// Address space reserved for the heap of each slot, including the guard region
    /// after it. Must cover the reservation + guard the module was compiled for
    /// (`lucetc --reserved-size/--guard-size`, 4 GiB + 2 GiB by default).
    pub heap_address_space_size: usize,
    /// Size of the guest stack.
    pub stack_size: usize,
    /// Most bytes of globals (16 bytes per global) an instance may define.
    pub globals_size: usize,
    /// Size of the per-thread signal stack the trap handler runs on.
    pub signal_stack_size: usize,
    /// Part of the stack kept free for hostcalls: guest code traps with
    /// `StackOverflow` before it uses these bytes, so a hostcall always has room to run.
    pub hostcall_reservation: usize,
}

impl Limits {
    pub const fn default() -> Limits {
        Limits {
            heap_memory_size: 4 << 30,
            heap_address_space_size: 8 << 30,
            stack_size: 2 << 20,
            globals_size: 64 << 10,
            signal_stack_size: 64 << 10,
            hostcall_reservation: 256 << 10,
        }
    }

    pub const fn with_heap_memory_size(mut self, size: usize) -> Limits {
        self.heap_memory_size = size;
        self
    }
    pub const fn with_heap_address_space_size(mut self, size: usize) -> Limits {
        self.heap_address_space_size = size;
        self
    }
    pub const fn with_stack_size(mut self, size: usize) -> Limits {
        self.stack_size = size;
        self
    }
    pub const fn with_globals_size(mut self, size: usize) -> Limits {
        self.globals_size = size;
        self
    }
    pub const fn with_signal_stack_size(mut self, size: usize) -> Limits {
        self.signal_stack_size = size;
        self
    }
    pub const fn with_hostcall_reservation(mut self, size: usize) -> Limits {
        self.hostcall_reservation = size;
        self
    }

    /// The limits with every size rounded up to whole host pages, checked for
    /// consistency.
    pub(crate) fn validated(&self) -> Result<Limits, crate::error::Error> {
        let round = |what: &str, n: usize| {
            n.checked_next_multiple_of(HOST_PAGE_SIZE)
                .ok_or_else(|| crate::error::Error::Region(format!("Limits::{what} ({n} bytes) is too large")))
        };
        let l = Limits {
            heap_memory_size: round("heap_memory_size", self.heap_memory_size)?,
            heap_address_space_size: round("heap_address_space_size", self.heap_address_space_size)?,
            stack_size: round("stack_size", self.stack_size)?,
            globals_size: round("globals_size", self.globals_size)?,
            signal_stack_size: round("signal_stack_size", self.signal_stack_size)?,
            hostcall_reservation: round("hostcall_reservation", self.hostcall_reservation)?,
        };
        if l.heap_memory_size > l.heap_address_space_size {
            return Err(crate::error::Error::Region(format!(
                "Limits::heap_memory_size ({}) is larger than heap_address_space_size ({}); \
                 the accessible heap must fit inside its reservation",
                l.heap_memory_size, l.heap_address_space_size
            )));
        }
        if l.stack_size <= l.hostcall_reservation {
            return Err(crate::error::Error::Region(format!(
                "Limits::stack_size ({}) must be larger than hostcall_reservation ({}), \
                 or guest code would have no stack at all",
                l.stack_size, l.hostcall_reservation
            )));
        }
        Ok(l)
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_round_up() {
        let l = Limits::default().with_heap_memory_size(19 * 64 * 1024 + 1).validated().unwrap();
        assert_eq!(l.heap_memory_size, 19 * 64 * 1024 + 4096);
        let l = Limits { stack_size: 300_001, ..Limits::default() }.validated().unwrap();
        assert_eq!(l.stack_size % 4096, 0);
    }

    #[test]
    fn inconsistent_limits_are_explained() {
        let e = Limits::default().with_stack_size(4096).validated().unwrap_err();
        assert!(e.to_string().contains("hostcall_reservation"));
    }
}
