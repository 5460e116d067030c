//! The execution engine: runs guest code on its own stack and turns every way that code
//! can stop — returning, faulting, being terminated by a hostcall, yielding — into a
//! [`GuestExit`] for the instance layer.
//!
//! Nothing here knows about modules, instances or WebAssembly values. The caller hands
//! [`ExecState::run`] a stack ([`GuestStack`]), the trampoline to call on it with its
//! three arguments ([`Entry`]), a way to classify faulting program counters
//! ([`TrapLookup`]), and the addresses where compiled code may fault ([`FaultRanges`]).
//! All `unsafe` code of the engine lives in this directory: the context switch in
//! `context.rs`, the signal handling in `signals.rs`, and the glue in this file.
//!
//! # Entering and leaving the guest
//!
//! `run` saves the host's callee-saved registers, stack pointer, resume address, MXCSR
//! and x87 control word into the `host` [`Context`] of a heap-allocated `RunFrame`, and
//! loads a fresh guest context whose `rsp` is 16 bytes below the top of the guest stack
//! and whose `rip` is the entry stub. The stub calls the trampoline; when it returns, the
//! stub stores "returned" in the frame and loads the host context, so `run`'s call to
//! `swap` simply returns.
//!
//! ```text
//!  guest stack at entry                       during a hostcall
//!
//!  top ──────────► +--------------------+     +--------------------+
//!                  | 16 bytes, unused   |     | 16 bytes, unused   |
//!  rsp at stub ──► +--------------------+     +--------------------+
//!                  |                    |     | ret addr into stub |
//!                  |                    |     | trampoline frame   |
//!                  |       free         |     | wasm frames        |
//!                  |                    |     | hostcall frames    |  <- yield/terminate
//!                  |                    |     |       free         |     are called here
//!  guard_end ────► +--------------------+     +--------------------+
//!                  | guard, PROT_NONE   |     | guard, PROT_NONE   |  a push here faults:
//!  guard_start ──► +--------------------+     +--------------------+  StackOverflow
//! ```
//!
//! A yield swaps the other way (saving the guest context into the frame's `guest`
//! context) and a resume swaps back. A terminate loads the host context without saving
//! anything: the guest stack is abandoned where it stands.
//!
//! # How a fault becomes a trap
//!
//! The handlers in `signals.rs` run on the thread's alternate signal stack, because
//! the guest stack may be the thing that overflowed. A signal counts as a guest trap
//! only if (1) the kernel raised it for an instruction (`si_code > 0`), (2) this thread
//! is inside `run`/`resume` (a thread-local frame pointer is set), (3) the faulting pc
//! belongs to the module's code according to the [`TrapLookup`], and (4) for SIGSEGV
//! and SIGBUS, the faulting address lies in the run's [`FaultRanges`] or in the guest
//! stack's guard. SIGILL and SIGFPE (`ud2` traps, division) carry no data address and
//! are classified by pc alone. A fault that passes (1)-(3) but not (4) is compiled code
//! touching memory it must never reach: a bug of the compiler or the runtime, possibly
//! after other accesses already succeeded. The handler writes a message naming the pc
//! and the address to stderr and aborts the process; it is never reported as a trap.
//!
//! For a guest trap, the handler records it in the frame and edits the saved machine
//! context:
//!
//! ```text
//!  before the handler returns           after sigreturn
//!  RIP = faulting guest instruction  →  RIP = restore (asm, uses no stack)
//!  RDI = whatever                    →  RDI = &frame.host
//!  RSP = guest sp (maybe in guard)   →  RSP = guest stack top - 16 (in bounds, unused)
//! ```
//!
//! `sigreturn` restores the edited registers and the original signal mask, `restore`
//! loads the host context, and `run` returns `Faulted`. Anything else — a fault in the
//! runtime or in a hostcall, a signal sent with `kill` — goes to the handler that was
//! installed before ours, or, if there was none, the default action is put back and
//! the fault happens again and kills the process. A previous handler may change the
//! disposition while it runs (Rust's standard library resets it to the default for
//! anything that is not a stack overflow of its own); what was installed before the
//! call is then put back, unless the signal was a fault that recurs when the handler
//! returns and the previous handler asked for the default action: that ends the
//! process, as it intended.
//!
//! # Safety argument
//!
//! * Guest frames (compiled wasm code and trampolines) own nothing: abandoning them on a
//!   trap or a terminate leaks nothing and skips no destructor. Hostcall frames that are
//!   abandoned by [`terminate_current`] do skip their destructors; that is a leak, not
//!   undefined behaviour, and `Vmctx::terminate` documents it.
//! * The `RunFrame` is boxed, so its address — which the guest context holds in `r15`
//!   and the thread-local holds while the guest runs — never changes while a guest is
//!   suspended in it; it is freed only when the `ExecState` is dropped, after which no
//!   context refers to it (a yielded guest is abandoned, never resumed).
//! * The host side only reads the frame after `swap` returns; the signal handler and the
//!   guest side only write it while the host is suspended inside `swap`. `swap` is an
//!   opaque call, and compiler fences around it keep the compiler from caching fields.
//! * The signal handler only reads plain data, calls [`TrapLookup::lookup`] (required
//!   to be async-signal-safe) and [`FaultRanges::contains`], and writes plain data: no
//!   allocation, no locks, no panics. Its fatal path uses only `write(2)` and `abort`.
//!
//! A limitation to know about: the handler consults only the `lookup` and the fault
//! ranges of the innermost run on the thread, so when a guest calls straight into
//! another module's code (an import satisfied by another instance's export), the caller
//! of `run` must pass a lookup that covers every module whose code may run on that
//! stack, and fault ranges that cover every memory that code may access.

mod context;
mod fault_ranges;
mod signals;
pub(crate) mod unwind;
#[cfg(test)]
mod tests;

pub(crate) use fault_ranges::FaultRanges;

use crate::kill_switch::{self, KillReason, KillState};
use crate::TerminationDetails;
use context::{Context, DEFAULT_FPUCW, DEFAULT_MXCSR};
use lucet_module::TrapCode;
use std::any::Any;
use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{compiler_fence, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// What to call on the guest stack: `trampoline(vmctx, callee, values)` with the
/// trampoline ABI of `lucet_module::ModuleDescriptor`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub trampoline: *const u8,
    pub vmctx: *mut u8,
    pub callee: *const u8,
    pub values: *mut [u8; 16],
}

/// How a run or resume ended.
#[derive(Debug)]
pub(crate) enum GuestExit {
    /// The trampoline returned; its results are in the `values` array.
    Returned,
    /// Guest code faulted. `rip` is the faulting pc; `fault_addr` is the address the
    /// instruction tried to access, for SIGSEGV/SIGBUS.
    Faulted { trap: TrapInfo, rip: usize, fault_addr: Option<usize> },
    /// A hostcall called [`terminate_current`].
    Terminated(TerminationDetails),
    /// A hostcall called [`yield_current`] with this value; [`ExecState::resume`] continues.
    Yielded(Option<Box<dyn Any + Send>>),
}

// Values of `RunFrame::exit`. The entry stub writes `EXIT_RETURNED` from assembly.
const EXIT_NONE: u32 = 0;
const EXIT_RETURNED: u32 = 1;
const EXIT_FAULTED: u32 = 2;
const EXIT_TERMINATED: u32 = 3;
const EXIT_YIELDED: u32 = 4;
/// The kill signal's handler stopped the guest; the reason is in `RunFrame::killed`.
const EXIT_KILLED: u32 = 5;

#[derive(Debug, Clone, Copy)]
struct FaultRecord {
    trap: TrapInfo,
    rip: usize,
    fault_addr: Option<usize>,
}

/// Everything shared between the host side of a run, the guest side (entry stub,
/// hostcalls) and the signal handler. `host` and `exit` are at fixed offsets that the
/// assembly in `context.rs` uses (checked there at compile time).
#[repr(C)]
struct RunFrame {
    host: Context,
    guest: Context,
    exit: u32,
    /// The lookup of the current run; kept alive by `ExecState::lookup`.
    lookup: Option<NonNull<dyn TrapLookup>>,
    /// Where the current run may fault (besides the stack guard); kept alive by
    /// `ExecState::fault_ranges`. Null outside a run.
    fault_ranges: *const FaultRanges,
    stack: GuestStack,
    vmctx: *mut u8,
    fault: Option<FaultRecord>,
    terminated: Option<TerminationDetails>,
    yielded: Option<Box<dyn Any + Send>>,
    resumed: Option<Box<dyn Any + Send>>,
    /// The instance's kill state (owned by `ExecState::kill`) and the generation of the
    /// current entry, for the kill signal's handler.
    kill: *const KillState,
    kill_gen: u64,
    /// Why the kill handler stopped the guest (with `EXIT_KILLED`); plain data so the
    /// handler can write it.
    killed: Option<KillReason>,
    /// Whether this entry was made by an async run, whose hostcalls may hand futures
    /// to the host instead of blocking the thread.
    is_async: bool,
}

thread_local! {
    /// The frame of the innermost guest running on this thread, or null. Const-initialised
    /// and without a destructor, so reading it is a plain TLS load, safe in a signal handler.
    /// `enter` writes it before any guest code runs on the thread, so even a dynamically
    /// loaded copy of this library has its TLS block allocated before the handler reads it.
    static CURRENT: Cell<*mut RunFrame> = const { Cell::new(ptr::null_mut()) };
}

// Never inlined: LLVM treats a thread-local's address as constant within a function, so
// an inlined read after `yield_current` (which may return on another thread) could use
// the address computed before the yield, i.e. the old thread's variable.
#[inline(never)]
fn current_frame() -> *mut RunFrame {
    CURRENT.try_with(|c| c.get()).unwrap_or(ptr::null_mut())
}

/// Per-instance execution state: the host context while the guest runs, and the
/// suspended guest context while it is yielded.
pub(crate) struct ExecState {
    frame: NonNull<RunFrame>,
    yielded: bool,
    /// Keeps the run's lookup alive while a guest is running or yielded.
    lookup: Option<Arc<dyn TrapLookup>>,
    /// Keeps the run's fault ranges alive while a guest is running or yielded. Kept
    /// after the run too: the next run usually passes the same ranges, which then cost
    /// no reference count updates.
    fault_ranges: Option<Arc<FaultRanges>>,
    /// Shared with the instance's kill switches; see `kill_switch.rs`.
    kill: Arc<KillState>,
    /// Limit on the next entry into the guest, taken by it.
    timeout: Option<Duration>,
    /// Whether the next entry is made by an async run; taken by it.
    next_is_async: bool,
}

// SAFETY: the frame is owned exclusively by this `ExecState` and everything it points at
// (the lookup, yielded values) is `Send`. A yielded guest may be resumed on another
// thread: its stack is not the thread's, and `yield_current` reads no thread-local after
// it is resumed. A hostcall that yields must therefore not keep thread-bound values
// (such as `Rc`s shared with the thread) alive across the yield if the host may resume
// the instance on another thread.
unsafe impl Send for ExecState {}

impl Default for ExecState {
    fn default() -> ExecState {
        ExecState::new()
    }
}

impl ExecState {
    pub(crate) fn new() -> ExecState {
        let frame = Box::new(RunFrame {
            host: Context::default(),
            guest: Context::default(),
            exit: EXIT_NONE,
            lookup: None,
            fault_ranges: ptr::null(),
            stack: GuestStack { guard_start: 0, guard_end: 0, top: 0 },
            vmctx: ptr::null_mut(),
            fault: None,
            terminated: None,
            yielded: None,
            resumed: None,
            kill: ptr::null(),
            kill_gen: 0,
            killed: None,
            is_async: false,
        });
        let kill = Arc::new(KillState::new());
        let mut frame = NonNull::from(Box::leak(frame));
        // SAFETY: freshly leaked, ours alone. The `Arc` keeps the state at this address
        // for as long as the frame exists.
        unsafe { frame.as_mut().kill = Arc::as_ptr(&kill) };
        ExecState { frame, yielded: false, lookup: None, fault_ranges: None, kill, timeout: None, next_is_async: false }
    }

    /// The state the instance's kill switches act on.
    pub(crate) fn kill_state(&self) -> Arc<KillState> {
        Arc::clone(&self.kill)
    }

    /// Limits how long the next entry into the guest (`run` or `resume`) may last;
    /// `None` removes a limit that was not used.
    pub(crate) fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Marks the next entry into the guest as made by an async run (see
    /// [`current_run_is_async`]); `false` removes a mark that was not used.
    pub(crate) fn set_next_async(&mut self, is_async: bool) {
        self.next_is_async = is_async;
    }

    /// Switches to `stack`, calls `entry.trampoline(entry.vmctx, entry.callee,
    /// entry.values)` there, and returns when it returns, traps, is terminated, or yields.
    ///
    /// Panics if the guest is yielded (resume or abandon it first) or if `stack` is
    /// malformed; both are bugs of the caller.
    ///
    /// # Safety
    /// `stack` must be memory nothing else uses while the guest runs or is yielded, with
    /// the guard really inaccessible; `entry` must be a trampoline/callee/vmctx/values
    /// combination that is valid to call under the trampoline ABI; every pc in the
    /// code that can run on this stack (other than hostcalls) must be covered by `lookup`.
    /// `faults` must cover every address where that code may fault by design (the heap
    /// reservations and guards of the memories it accesses): a fault of guest code
    /// anywhere else, except in the stack's guard, aborts the process.
    pub(crate) unsafe fn run(
        &mut self,
        stack: &GuestStack,
        entry: Entry,
        lookup: &Arc<dyn TrapLookup>,
        faults: &Arc<FaultRanges>,
    ) -> GuestExit {
        assert!(!self.yielded, "ExecState::run called while the guest is yielded; resume or abandon it first");
        assert!(
            stack.top & 15 == 0 && stack.guard_start <= stack.guard_end && stack.guard_end + 64 <= stack.top,
            "malformed guest stack {stack:?}: top must be 16-byte aligned and above at least 64 usable bytes"
        );
        signals::prepare_thread();
        self.lookup = Some(Arc::clone(lookup));
        if !self.fault_ranges.as_ref().is_some_and(|f| Arc::ptr_eq(f, faults)) {
            self.fault_ranges = Some(Arc::clone(faults));
        }
        let frame = self.frame.as_ptr();
        // SAFETY: `frame` is our own live allocation and no guest is using it (not
        // yielded, and `&mut self` excludes a concurrent run).
        unsafe {
            (*frame).lookup = NonNull::new(Arc::as_ptr(lookup) as *mut dyn TrapLookup);
            (*frame).fault_ranges = Arc::as_ptr(faults);
            (*frame).stack = *stack;
            (*frame).vmctx = entry.vmctx;
            (*frame).fault = None;
            (*frame).terminated = None;
            (*frame).exit = EXIT_NONE;
            (*frame).guest = Context {
                rbx: entry.trampoline as u64,
                rbp: 0,
                r12: entry.vmctx as u64,
                r13: entry.callee as u64,
                r14: entry.values as u64,
                r15: frame as u64,
                rsp: (stack.top - 16) as u64,
                rip: context::guest_entry_address() as u64,
                mxcsr: DEFAULT_MXCSR,
                fpucw: DEFAULT_FPUCW,
                _pad: 0,
            };
        }
        // SAFETY: the guest context was just built for a stack the caller vouches for.
        unsafe { self.enter() }
    }

    /// Continues a guest that yielded; `val` is what `yield_current` returns inside the
    /// hostcall. Panics if the guest is not yielded (a bug of the caller).
    ///
    /// # Safety
    /// The stack given to the `run` that yielded must still be valid.
    pub(crate) unsafe fn resume(&mut self, val: Option<Box<dyn Any + Send>>) -> GuestExit {
        assert!(self.yielded, "ExecState::resume called but the guest is not yielded");
        signals::prepare_thread();
        self.yielded = false;
        let frame = self.frame.as_ptr();
        // SAFETY: the guest is suspended inside `yield_current`, not touching the frame.
        unsafe {
            (*frame).resumed = val;
            (*frame).exit = EXIT_NONE;
        }
        // SAFETY: the guest context was saved by `yield_current` and its stack is intact.
        unsafe { self.enter() }
    }

    pub(crate) fn is_yielded(&self) -> bool {
        self.yielded
    }

    /// Forgets a suspended guest (reset or drop of a yielded instance): its stack is
    /// abandoned and the values of the hostcall frames on it are leaked.
    pub(crate) fn abandon(&mut self) {
        let frame = self.frame.as_ptr();
        // SAFETY: no guest runs in this frame (`&mut self`), and a yielded one will never
        // be resumed again, so nothing else refers to these fields.
        unsafe {
            (*frame).guest = Context::default();
            (*frame).yielded = None;
            (*frame).resumed = None;
        }
        self.clear();
    }

    fn clear(&mut self) {
        self.yielded = false;
        // SAFETY: as in `abandon`; the lookup and range pointers are dropped before the
        // `Arc`s they borrow from.
        unsafe {
            let frame = self.frame.as_ptr();
            (*frame).lookup = None;
            (*frame).fault_ranges = ptr::null();
            (*frame).vmctx = ptr::null_mut();
        }
        self.lookup = None;
    }

    /// Switches to the frame's guest context and interprets why it came back.
    ///
    /// # Safety
    /// The frame's guest context must be valid to continue in.
    unsafe fn enter(&mut self) -> GuestExit {
        let frame = self.frame.as_ptr();
        // Nested runs (a hostcall running another instance) save and restore the outer
        // frame, so the signal handler always sees the innermost one.
        let gen = self.kill.begin(kill_switch::current_tid());
        // SAFETY: no guest runs in the frame yet.
        unsafe {
            (*frame).kill_gen = gen;
            (*frame).killed = None;
            (*frame).is_async = std::mem::take(&mut self.next_is_async);
        }
        let timeout = self.timeout.take();
        if let Some(t) = timeout {
            kill_switch::schedule_timeout(&self.kill, gen, t);
        }
        let outer = CURRENT.with(|c| c.replace(frame));
        compiler_fence(Ordering::SeqCst);
        // SAFETY: `host` is saved here and loaded only by the entry stub, the signal
        // handler's redirect, `terminate_current` or `yield_current` of this frame, all
        // while this call is suspended; `guest` is valid per the caller.
        unsafe { context::swap(ptr::addr_of_mut!((*frame).host), ptr::addr_of!((*frame).guest)) };
        compiler_fence(Ordering::SeqCst);
        CURRENT.with(|c| c.set(outer));
        // From here on a kill signal finds the word idle (or, in a nested run, another
        // frame) and leaves this thread alone.
        let requested = self.kill.end(gen);
        if timeout.is_some() {
            kill_switch::cancel_timeout(&self.kill, gen);
        }

        // SAFETY: the guest side is suspended or gone; the frame is ours again.
        let exit = unsafe { (*frame).exit };
        // A kill that was accepted wins over a return or a yield that happened before a
        // signal caught the guest: whoever called `terminate` was told it would stop.
        // A trap or a hostcall's own termination says more, and is kept.
        if let Some(reason) = requested {
            match exit {
                EXIT_RETURNED | EXIT_KILLED => {
                    self.clear();
                    return GuestExit::Terminated(reason.details());
                }
                EXIT_YIELDED => {
                    // SAFETY: as below; the suspended guest is never resumed.
                    drop(unsafe { (*frame).yielded.take() });
                    self.abandon();
                    return GuestExit::Terminated(reason.details());
                }
                _ => {}
            }
        }
        match exit {
            EXIT_RETURNED => {
                self.clear();
                GuestExit::Returned
            }
            EXIT_FAULTED => {
                // SAFETY: as above.
                let fault = unsafe { (*frame).fault.take() };
                self.clear();
                match fault {
                    Some(f) => GuestExit::Faulted { trap: f.trap, rip: f.rip, fault_addr: f.fault_addr },
                    None => unreachable!("the signal handler sets the fault before the exit code"),
                }
            }
            EXIT_TERMINATED => {
                // SAFETY: as above.
                let details = unsafe { (*frame).terminated.take() };
                self.clear();
                GuestExit::Terminated(
                    details.unwrap_or_else(|| TerminationDetails::Other("terminated without details".to_string())),
                )
            }
            EXIT_KILLED => {
                // Only reachable if the word changed between the handler's check and
                // `end`, which nothing does; report what the handler saw.
                // SAFETY: as above.
                let reason = unsafe { (*frame).killed }.unwrap_or(KillReason::Remote);
                self.clear();
                GuestExit::Terminated(reason.details())
            }
            EXIT_YIELDED => {
                self.yielded = true;
                // SAFETY: as above.
                GuestExit::Yielded(unsafe { (*frame).yielded.take() })
            }
            other => unreachable!("the guest context switched back without an exit reason ({other})"),
        }
    }
}

impl Drop for ExecState {
    fn drop(&mut self) {
        self.kill.retire();
        // SAFETY: the frame came from `Box::leak` in `new`; `&mut self` means no guest is
        // running in it, and a yielded guest is never resumed after this.
        drop(unsafe { Box::from_raw(self.frame.as_ptr()) });
    }
}

/// Called by hostcall code running on the guest stack inside `run`/`resume` on this
/// thread: abandons the guest stack and makes that `run` return `Terminated(details)`.
///
/// Panics (a normal Rust panic: the caller's bug) if no guest is running on this thread.
///
/// # Safety
/// Must be called from code running on the guest stack (a hostcall or builtin), not from
/// host code that merely runs while a guest is on the thread. Frames between the guest
/// entry and this call are abandoned without running destructors.
pub(crate) unsafe fn terminate_current(details: TerminationDetails) -> ! {
    let frame = current_frame();
    assert!(!frame.is_null(), "terminate_current called while no guest is running on this thread");
    // SAFETY: the host side of this frame is suspended in `swap`; loading its context
    // resumes it, and nothing on the current (guest) stack is used again.
    unsafe {
        (*frame).terminated = Some(details);
        (*frame).exit = EXIT_TERMINATED;
        compiler_fence(Ordering::SeqCst);
        context::restore(ptr::addr_of!((*frame).host))
    }
}

/// Called by hostcall code: suspends the guest, making `run`/`resume` return
/// `Yielded(val)`; returns the value passed to the next `resume`. If the guest is
/// abandoned instead, this never returns.
///
/// Panics if no guest is running on this thread.
///
/// # Safety
/// As for [`terminate_current`].
pub(crate) unsafe fn yield_current(val: Option<Box<dyn Any + Send>>) -> Option<Box<dyn Any + Send>> {
    let frame = current_frame();
    assert!(!frame.is_null(), "yield_current called while no guest is running on this thread");
    // SAFETY: the host side is suspended in `swap`; we save the guest side into the
    // frame's `guest` context, which `resume` loads. The frame outlives the suspension
    // (it is boxed and freed only with the `ExecState`, which then never resumes us).
    // After the swap only `frame` — a local, not a thread-local — is used, so resuming on
    // another thread is fine.
    unsafe {
        (*frame).yielded = val;
        (*frame).exit = EXIT_YIELDED;
        compiler_fence(Ordering::SeqCst);
        context::swap(ptr::addr_of_mut!((*frame).guest), ptr::addr_of!((*frame).host));
        compiler_fence(Ordering::SeqCst);
        (*frame).resumed.take()
    }
}

/// Runs a hostcall body; if it panics, ends the run with
/// `TerminationDetails::HostcallPanic(message)` instead of letting the panic unwind into
/// guest frames, which have no unwind information (the unwinder would give up and the
/// process would abort). Outside a guest the panic simply continues.
///
/// # Safety
/// As for [`terminate_current`]: the frames of the hostcall's callers are abandoned.
// Interface for hostcall helpers; not every build of the crate calls it.
#[allow(dead_code)]
pub(crate) unsafe fn terminate_on_panic<R>(f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            if !in_guest() {
                std::panic::resume_unwind(payload);
            }
            let message = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "the panic payload is not a string".to_string()
            };
            drop(payload);
            // SAFETY: forwarded to the caller.
            unsafe { terminate_current(TerminationDetails::HostcallPanic(message)) }
        }
    }
}

/// Whether a guest is running on this thread right now (i.e. we are inside a hostcall
/// or builtin).
// Interface for hostcall helpers; not every build of the crate calls it.
#[allow(dead_code)]
pub(crate) fn in_guest() -> bool {
    !current_frame().is_null()
}

/// The vmctx of the innermost guest running on this thread, if any.
// Interface for hostcall helpers; not every build of the crate calls it.
#[allow(dead_code)]
pub(crate) fn current_vmctx() -> Option<*mut u8> {
    let frame = current_frame();
    if frame.is_null() {
        None
    } else {
        // SAFETY: a non-null CURRENT points at the live frame of a run on this thread.
        Some(unsafe { (*frame).vmctx })
    }
}

/// The kill requested for the innermost run on this thread, if any. Hostcalls may poll
/// it to give up long work early.
pub(crate) fn current_kill() -> Option<KillReason> {
    let frame = current_frame();
    if frame.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT points at the live frame of a run on this thread; its
    // kill state is kept alive by the frame's `ExecState`.
    unsafe {
        let (state, gen) = ((*frame).kill, (*frame).kill_gen);
        state.as_ref().and_then(|s| s.pending(gen))
    }
}

/// Called by hostcall wrappers just before they return into guest code: if the run was
/// asked to stop meanwhile, it stops here instead of waiting for the next kill signal.
///
/// # Safety
/// As for [`terminate_current`].
pub(crate) unsafe fn terminate_if_killed() {
    if let Some(reason) = current_kill() {
        // SAFETY: forwarded to the caller.
        unsafe { terminate_current(reason.details()) }
    }
}

/// Whether the innermost run on this thread was entered by an async run.
pub(crate) fn current_run_is_async() -> bool {
    let frame = current_frame();
    // SAFETY: a non-null CURRENT points at the live frame of a run on this thread.
    !frame.is_null() && unsafe { (*frame).is_async }
}

/// A future a hostcall hands to an async run, which polls it and resumes the hostcall
/// with its output.
pub(crate) type GuestFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Box<dyn Any + Send>> + Send>>;

/// Suspends the hostcall until the async run driving it has completed `fut`; returns the
/// value the run resumed it with (the future's output, if the host follows the protocol).
///
/// # Safety
/// As for [`terminate_current`], and the innermost run on this thread must be an async
/// run ([`current_run_is_async`]).
pub(crate) unsafe fn yield_future<'a>(
    fut: std::pin::Pin<Box<dyn std::future::Future<Output = Box<dyn Any + Send>> + Send + 'a>>,
) -> Option<Box<dyn Any + Send>> {
    // SAFETY: the future may borrow from this hostcall's frame (`'a`). That frame stays
    // intact while the guest is suspended: the guest stack is only abandoned by a reset
    // or drop of the instance, and the async run that receives the future holds the
    // instance mutably borrowed until it has dropped or completed the future. So the
    // future never outlives what it borrows, although its type no longer says so.
    let fut: GuestFuture = unsafe { std::mem::transmute(fut) };
    // SAFETY: forwarded to the caller.
    unsafe { yield_current(Some(Box::new(BlockOn(fut)))) }
}

/// The yielded value that carries a hostcall's future to its async run.
pub(crate) struct BlockOn(pub GuestFuture);
