//! The frame one run shares between its host side, its guest side (`enter`,
//! hostcalls) and the signal handler, and the thread-local pointer to the innermost one.

use super::context::Context;
use super::fault_ranges::FaultRanges;
use super::kill_state::{KillReason, KillState};
use super::trap::{TrapInfo, TrapLookup};
use crate::error::TerminationDetails;
use std::any::Any;
use std::cell::Cell;
use std::mem::offset_of;
use std::ptr::{self, NonNull};

/// The stack a guest runs on: `[guard_start, guard_end)` is inaccessible, and
/// `[guard_end, top)` is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuestStack {
    pub guard_start: usize,
    /// Lowest usable address.
    pub guard_end: usize,
    /// One past the highest usable address; 16-byte aligned.
    pub top: usize,
}

// Values of `RunFrame::exit`. `enter` writes `EXIT_RETURNED` from assembly.
pub(super) const EXIT_NONE: u32 = 0;
pub(super) const EXIT_RETURNED: u32 = 1;
pub(super) const EXIT_FAULTED: u32 = 2;
pub(super) const EXIT_TERMINATED: u32 = 3;
pub(super) const EXIT_YIELDED: u32 = 4;
/// The kill signal's handler stopped the guest; the reason is in `RunFrame::killed`.
pub(super) const EXIT_KILLED: u32 = 5;

#[derive(Debug, Clone, Copy)]
pub(super) struct FaultRecord {
    pub(super) trap: TrapInfo,
    pub(super) rip: usize,
    pub(super) fault_addr: Option<usize>,
}

/// Everything shared between the host side of a run, the guest side (`enter`,
/// hostcalls) and the signal handler. `host` and `exit` are at fixed offsets that the
/// assembly in `context.rs` uses (checked there at compile time).
///
/// What every entry writes or reads (`host`, `exit`, the generation, `vmctx`, `stack`)
/// comes first, in the frame's first two cache lines; what only a yield, a trap or a
/// termination touches comes after.
#[repr(C, align(64))]
pub(super) struct RunFrame {
    pub(super) host: Context,
    pub(super) exit: u32,
    /// Whether this entry was made by an async run, whose hostcalls may hand futures
    /// to the host instead of blocking the thread. Set only by an entry that is, and
    /// cleared when it ends.
    pub(super) is_async: bool,
    /// Why the kill handler stopped the guest; written together with `EXIT_KILLED` and
    /// read only for it (plain data so the handler can write it).
    pub(super) killed: Option<KillReason>,
    /// The generation of the current (or last) entry, for the kill signal's handler and
    /// hostcalls; the next entry's is one more.
    pub(super) kill_gen: u64,
    pub(super) vmctx: *mut u8,
    pub(super) stack: GuestStack,
    /// The lookup of the current run; kept alive by `ExecState::lookup`, and written
    /// only when that changes.
    pub(super) lookup: Option<NonNull<dyn TrapLookup>>,
    /// Where the current run may fault (besides the stack guard); kept alive by
    /// `ExecState::fault_ranges`, and written only when that changes. Null before the
    /// first run.
    pub(super) fault_ranges: *const FaultRanges,
    /// The instance's kill state (owned by `ExecState::kill`), for the kill signal's
    /// handler.
    pub(super) kill: *const KillState,
    pub(super) guest: Context,
    pub(super) fault: Option<FaultRecord>,
    pub(super) terminated: Option<TerminationDetails>,
    pub(super) yielded: Option<Box<dyn Any + Send>>,
    pub(super) resumed: Option<Box<dyn Any + Send>>,
}

/// What the engine keeps per thread, in one thread-local so that an entry computes its
/// address once.
pub(super) struct ThreadRun {
    /// The frame of the innermost guest running on this thread, or null.
    pub(super) current: Cell<*mut RunFrame>,
    /// This thread's kernel thread id; 0 until `signals::prepare_thread` has run here.
    pub(super) tid: Cell<i32>,
    /// The size of this thread's alternate signal stack once `prepare_thread` has made
    /// sure of it (and of the handlers, and of `tid`); 0 before.
    pub(super) ready_size: Cell<usize>,
}

thread_local! {
    /// Const-initialised and without a destructor, so reading it is a plain TLS load,
    /// safe in a signal handler. `enter` writes `current` before any guest code runs on
    /// the thread, so even a dynamically loaded copy of this library has its TLS block
    /// allocated before the handler reads it.
    pub(super) static THREAD: ThreadRun = const {
        ThreadRun { current: Cell::new(ptr::null_mut()), tid: Cell::new(0), ready_size: Cell::new(0) }
    };
}

// Never inlined: LLVM treats a thread-local's address as constant within a function, so
// an inlined read after `yield_current` (which may return on another thread) could use
// the address computed before the yield, i.e. the old thread's variable.
#[inline(never)]
pub(super) fn current_frame() -> *mut RunFrame {
    THREAD.try_with(|t| t.current.get()).unwrap_or(ptr::null_mut())
}

// The assembly in `context.rs` stores to these offsets.
const _: () = {
    assert!(offset_of!(RunFrame, host) == 0);
    assert!(offset_of!(RunFrame, exit) == 72);
    assert!(EXIT_RETURNED == 1);
};
