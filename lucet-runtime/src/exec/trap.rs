//! What the engine asks about a program counter: implemented by the code registry
//! (`module/code_map.rs`), which sits above the engine.

use lucet_module::TrapCode;

/// What the signal handler learned about a faulting instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrapInfo {
    pub code: TrapCode,
    /// Index of the guest function containing the pc (in whatever numbering the
    /// [`TrapLookup`] implementation uses), when known.
    pub function: Option<u32>,
    /// Offset of the originating instruction in the wasm binary, when known.
    pub wasm_offset: Option<u32>,
}

/// Classifies program counters; implemented by the loaded-module type.
///
/// `lookup` runs inside a signal handler, so it must be async-signal-safe: pure reads of
/// immutable data built before the first run (e.g. a binary search over a sorted `Vec`
/// built at load time). No allocation, no locks, no panics.
pub(crate) trait TrapLookup: Send + Sync {
    /// `Some` iff `pc` is inside this module's compiled code; `code` is the recorded trap
    /// code for that exact pc, or `TrapCode::Unknown` when there is no trap site at pc.
    fn lookup(&self, pc: usize) -> Option<TrapInfo>;
}
