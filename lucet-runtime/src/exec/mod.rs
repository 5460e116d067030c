//! The execution engine: runs guest code on its own stack and turns every way that code
//! can stop — returning, faulting, being terminated by a hostcall, yielding — into a
//! [`GuestExit`] for the instance layer.
//!
//! Nothing here knows about modules, instances or WebAssembly values. The caller hands
//! [`ExecState::run`] a stack ([`GuestStack`]), the trampoline to call on it with its
//! three arguments ([`Entry`]), a way to classify faulting program counters
//! ([`TrapLookup`]), and the addresses where compiled code may fault ([`FaultRanges`]).
//! (The instance layer binds its stack once, `ExecState::bind_stack`, and then calls
//! `ExecState::call` with the rest.)
//! All `unsafe` code of the engine lives in this directory: the context switch in
//! `context.rs`, the signal handling in `signals.rs`, and the glue in this file.
//!
//! # Entering and leaving the guest
//!
//! `run` calls the assembly `enter`, which saves the host's callee-saved registers, stack
//! pointer, resume address and MXCSR into the `host` [`Context`] of a heap-allocated
//! `RunFrame`, sets `rsp` 16 bytes below the top of the guest stack and calls the
//! trampoline there. When the trampoline returns, `enter` stores "returned" in the frame,
//! puts back the host context and returns: the common case is a call and a return on
//! each side, both predicted, with no indirect jump.
//!
//! ```text
//!  guest stack at entry                       during a hostcall
//!
//!  top ──────────► +--------------------+     +--------------------+
//!                  | 16 bytes, unused   |     | 16 bytes, unused   |
//!  rsp at call ──► +--------------------+     +--------------------+
//!                  |                    |     | ret addr in enter  |
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
//! context) and a resume swaps back, saving the resuming host into `host`: the
//! trampoline's eventual return then lands in that resume, since `enter`'s epilogue
//! reloads whichever host context was saved last. A terminate loads the host context
//! without saving anything: the guest stack is abandoned where it stands, and `enter`
//! continues at a label of its own that tells the host to look at the frame.
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
mod frame;
mod guest;
pub(crate) mod kill_state;
pub(crate) mod kill_switch;
mod signals;
mod state;
pub(crate) mod unwind;
#[cfg(test)]
mod tests;
mod trap;

pub(crate) use fault_ranges::FaultRanges;
pub(crate) use frame::GuestStack;
#[allow(unused_imports)]
pub(crate) use guest::{
    current_kill, current_run_is_async, current_vmctx, in_guest, terminate_current, terminate_if_killed,
    terminate_on_panic, yield_current, yield_future, BlockOn, GuestFuture,
};
pub(crate) use state::{Entry, EntryBy, ExecState, GuestExit, Left};
pub(crate) use trap::{TrapInfo, TrapLookup};
