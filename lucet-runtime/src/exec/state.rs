//! `ExecState`: entering guest code on its own stack, and interpreting how it came back.

use super::context::{self, Context};
use super::fault_ranges::FaultRanges;
use super::frame::{
    GuestStack, RunFrame, EXIT_FAULTED, EXIT_KILLED, EXIT_NONE, EXIT_RETURNED, EXIT_TERMINATED, EXIT_YIELDED, THREAD,
};
use super::kill_state::{KillReason, KillState};
use super::kill_switch;
use super::signals;
use super::trap::{TrapInfo, TrapLookup};
use crate::error::TerminationDetails;
use std::any::Any;
use std::ptr::{self, NonNull};
use std::sync::atomic::{compiler_fence, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What to call on the guest stack: `trampoline(vmctx, callee, values)` with the
/// trampoline ABI of `lucet_module::ModuleDescriptor`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub trampoline: *const u8,
    pub vmctx: *mut u8,
    pub callee: *const u8,
    pub values: *mut [u8; 16],
}

/// Who enters the guest: an async run lets hostcalls hand it futures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryBy {
    Sync,
    Async,
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

/// How an entry into the guest ended, in brief: a return needs nothing more, anything
/// else is described by [`ExecState::take_exit`]. Kept apart from [`GuestExit`] so that
/// the call path moves one byte, not the description of every other way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Left {
    Returned,
    /// Faulted, terminated, killed or yielded: call `take_exit`.
    Other,
}

/// Per-instance execution state: the host context while the guest runs, and the
/// suspended guest context while it is yielded.
pub(crate) struct ExecState {
    frame: NonNull<RunFrame>,
    yielded: bool,
    /// Keeps the run's lookup alive while a guest is running or yielded, and after, like
    /// `fault_ranges`.
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
    /// Whether the next entry has a timeout or is async: both are rare, so an entry
    /// looks at this one flag and leaves the rest to a cold path.
    special_entry: bool,
    /// The generation whose timeout is armed, until its entry ends.
    armed: Option<u64>,
    /// The least size of the alternate signal stack of a thread that runs this guest, as
    /// `signals::prepare_thread` wants it.
    altstack_size: usize,
    /// The top of the stack bound with `bind_stack` (the rest is in the frame), 0 before.
    stack_top: usize,
    /// The kill taken by the last entry that did not return normally, for `take_exit`.
    requested: Option<KillReason>,
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
            exit: EXIT_NONE,
            is_async: false,
            killed: None,
            kill_gen: 0,
            vmctx: ptr::null_mut(),
            stack: GuestStack { guard_start: 0, guard_end: 0, top: 0 },
            lookup: None,
            fault_ranges: ptr::null(),
            kill: ptr::null(),
            guest: Context::default(),
            fault: None,
            terminated: None,
            yielded: None,
            resumed: None,
        });
        let kill = Arc::new(KillState::new());
        let mut frame = NonNull::from(Box::leak(frame));
        // SAFETY: freshly leaked, ours alone. The `Arc` keeps the state at this address
        // for as long as the frame exists.
        unsafe { frame.as_mut().kill = Arc::as_ptr(&kill) };
        ExecState {
            frame,
            yielded: false,
            lookup: None,
            fault_ranges: None,
            kill,
            timeout: None,
            next_is_async: false,
            special_entry: false,
            armed: None,
            altstack_size: signals::altstack_size(0),
            stack_top: 0,
            requested: None,
        }
    }

    /// Makes every thread that runs this guest give its signal handler a stack of at
    /// least `bytes` (`Limits::signal_stack_size`).
    pub(crate) fn with_signal_stack_size(mut self, bytes: usize) -> ExecState {
        self.altstack_size = signals::altstack_size(bytes);
        self
    }

    /// The state the instance's kill switches act on.
    pub(crate) fn kill_state(&self) -> Arc<KillState> {
        Arc::clone(&self.kill)
    }

    /// Limits how long the next entry into the guest (`run` or `resume`) may last;
    /// `None` removes a limit that was not used.
    pub(crate) fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
        self.note_special_entry();
    }

    /// `special_entry` is derived from the timeout and the async mark; kept as one flag so
    /// that an entry reads one byte.
    fn note_special_entry(&mut self) {
        self.special_entry = self.timeout.is_some() || self.next_is_async;
    }

    /// Says who makes the next entry into the guest (see `current_run_is_async`);
    /// `EntryBy::Sync` removes an async mark that was not used.
    pub(crate) fn set_next_entry(&mut self, by: EntryBy) {
        self.next_is_async = by == EntryBy::Async;
        self.note_special_entry();
    }

    /// Whether a stack is bound (`bind_stack`).
    #[inline(always)]
    pub(crate) fn stack_bound(&self) -> bool {
        self.stack_top != 0
    }

    /// Makes `stack` the one the guest runs on from the next entry on: checked and
    /// written into the frame once, not per entry (an instance's stack never changes).
    ///
    /// Panics if the guest is yielded (it runs on the stack bound before) or if `stack`
    /// is malformed; both are bugs of the caller. [`ExecState::call`] states what the
    /// stack must be.
    #[cold]
    pub(crate) fn bind_stack(&mut self, stack: &GuestStack) {
        assert!(!self.yielded, "ExecState::bind_stack called while the guest is yielded");
        let GuestStack { guard_start, guard_end, top } = *stack;
        if !(top & 15 == 0 && guard_start <= guard_end && guard_end + 64 <= top) {
            malformed_stack(guard_start, guard_end, top);
        }
        // SAFETY: no guest runs in the frame (not yielded, and `&mut self` excludes a
        // run); the handler reads the stack only through the thread's current frame.
        unsafe { (*self.frame.as_ptr()).stack = *stack };
        self.stack_top = top;
    }

    /// Binds `stack` (see `bind_stack`) and calls `entry` there, like
    /// [`ExecState::call`], with the whole description of how the guest left.
    ///
    /// # Safety
    /// As for [`ExecState::call`].
    // The instance layer uses `call`; the engine's own tests use this.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) unsafe fn run(
        &mut self,
        stack: &GuestStack,
        entry: Entry,
        lookup: &Arc<dyn TrapLookup>,
        faults: &Arc<FaultRanges>,
    ) -> GuestExit {
        self.bind_stack(stack);
        // SAFETY: forwarded to the caller.
        let left = unsafe { self.call(entry, lookup, faults) };
        self.exit(left)
    }

    /// Switches to the bound stack, calls `entry.trampoline(entry.vmctx, entry.callee,
    /// entry.values)` there, and returns when it returns, traps, is terminated, or
    /// yields; answers in brief: `Left::Other` leaves the details for
    /// [`ExecState::take_exit`], which must be called before the next entry.
    ///
    /// Panics if the guest is yielded (resume or abandon it first) or if no stack is
    /// bound; both are bugs of the caller.
    ///
    /// # Safety
    /// The bound stack must be memory nothing else uses while the guest runs or is
    /// yielded, with the guard really inaccessible; `entry` must be a
    /// trampoline/callee/vmctx/values combination that is valid to call under the
    /// trampoline ABI; every pc in the code that can run on this stack (other than
    /// hostcalls) must be covered by `lookup`.
    /// `faults` must cover every address where that code may fault by design (the heap
    /// reservations and guards of the memories it accesses): a fault of guest code
    /// anywhere else, except in the stack's guard, aborts the process.
    #[inline(always)]
    pub(crate) unsafe fn call(
        &mut self,
        entry: Entry,
        lookup: &Arc<dyn TrapLookup>,
        faults: &Arc<FaultRanges>,
    ) -> Left {
        assert!(!self.yielded, "ExecState::run called while the guest is yielded; resume or abandon it first");
        let top = self.stack_top;
        if top == 0 {
            no_stack();
        }
        let tid = signals::prepare_thread(self.altstack_size);
        let frame = self.frame.as_ptr();
        // Kept after the run, and so are the frame's pointers to them: the next run
        // usually passes the same ones, which then cost no reference count updates and
        // no stores.
        if !self.lookup.as_ref().is_some_and(|l| Arc::ptr_eq(l, lookup)) {
            self.lookup = Some(Arc::clone(lookup));
            // SAFETY: `frame` is our own live allocation and no guest is using it (not
            // yielded, and `&mut self` excludes a concurrent run).
            unsafe { (*frame).lookup = NonNull::new(Arc::as_ptr(lookup) as *mut dyn TrapLookup) };
        }
        if !self.fault_ranges.as_ref().is_some_and(|f| Arc::ptr_eq(f, faults)) {
            self.fault_ranges = Some(Arc::clone(faults));
            // SAFETY: as above.
            unsafe { (*frame).fault_ranges = Arc::as_ptr(faults) };
        }
        // SAFETY: as above.
        unsafe {
            (*frame).vmctx = entry.vmctx;
            // `fault` and `terminated` are not cleared here: each is set only together
            // with its exit code, and `take_exit` takes it for that code.
            (*frame).exit = EXIT_NONE;
        }
        // The guest starts 16 bytes below the top, which stay unused: the signal
        // handler points a redirected guest's rsp there (see `signals.rs`).
        let sp = top - 16;
        // SAFETY: the entry and the stack are what the caller vouches for.
        unsafe { self.enter(Some((entry, sp)), tid) }
    }

    /// The whole description of how the last entry ended, given its brief answer.
    pub(crate) fn exit(&mut self, left: Left) -> GuestExit {
        match left {
            Left::Returned => GuestExit::Returned,
            Left::Other => self.take_exit(),
        }
    }

    /// Continues a guest that yielded; `val` is what `yield_current` returns inside the
    /// hostcall. Panics if the guest is not yielded (a bug of the caller).
    ///
    /// # Safety
    /// The stack given to the `run` that yielded must still be valid.
    pub(crate) unsafe fn resume(&mut self, val: Option<Box<dyn Any + Send>>) -> GuestExit {
        // SAFETY: forwarded to the caller.
        let left = unsafe { self.resume_brief(val) };
        self.exit(left)
    }

    /// [`ExecState::resume`], answering like [`ExecState::call`].
    ///
    /// # Safety
    /// As for [`ExecState::resume`].
    pub(crate) unsafe fn resume_brief(&mut self, val: Option<Box<dyn Any + Send>>) -> Left {
        assert!(self.yielded, "ExecState::resume called but the guest is not yielded");
        let tid = signals::prepare_thread(self.altstack_size);
        self.yielded = false;
        let frame = self.frame.as_ptr();
        // SAFETY: the guest is suspended inside `yield_current`, not touching the frame.
        unsafe {
            (*frame).resumed = val;
            (*frame).exit = EXIT_NONE;
        }
        // SAFETY: the guest context was saved by `yield_current` and its stack is intact.
        unsafe { self.enter(None, tid) }
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

    /// After an entry that did not return normally. The frame's pointers stay: they are
    /// read only through the thread's current frame, which no longer points at this
    /// frame, and the `Arc`s they borrow from stay in `self`.
    #[inline]
    fn clear(&mut self) {
        self.yielded = false;
    }

    /// Enters the guest on the thread `tid`: a fresh call of `entry` with the stack
    /// pointer `sp`, or (with `None`) the frame's suspended guest context. Says whether
    /// the guest returned normally (nothing to interpret) or left any other way (see
    /// `take_exit`).
    ///
    /// # Safety
    /// For a fresh call, the entry and the stack must be valid as [`ExecState::call`]
    /// requires; otherwise the frame's guest context must be valid to continue in.
    #[inline(always)]
    unsafe fn enter(&mut self, fresh: Option<(Entry, usize)>, tid: i32) -> Left {
        let frame = self.frame.as_ptr();
        // SAFETY: no guest runs in the frame yet; only this thread writes `kill_gen`.
        let gen = unsafe {
            let gen = (*frame).kill_gen + 1;
            (*frame).kill_gen = gen;
            gen
        };
        self.kill.begin(gen, tid);
        let special = self.special_entry;
        if special {
            self.begin_special(gen);
        }
        // Nested runs (a hostcall running another instance) save and restore the outer
        // frame, so the signal handler always sees the innermost one.
        let outer = THREAD.with(|t| t.current.replace(frame));
        compiler_fence(Ordering::SeqCst);
        // SAFETY: only computes an address inside our frame.
        let host = unsafe { ptr::addr_of_mut!((*frame).host) };
        // SAFETY: `host` is saved here and loaded only by the return of the trampoline,
        // the signal handler's redirect, `terminate_current` or `yield_current` of this
        // frame, all while this call is suspended; the entry, the stack and `guest` are
        // valid per the caller.
        let returned = unsafe {
            match fresh {
                Some((e, sp)) => context::enter(e.trampoline, e.vmctx, e.callee, e.values, host, sp),
                None => {
                    context::swap(host, ptr::addr_of!((*frame).guest));
                    compiler_fence(Ordering::SeqCst);
                    (*frame).exit == EXIT_RETURNED
                }
            }
        };
        compiler_fence(Ordering::SeqCst);
        THREAD.with(|t| t.current.set(outer));
        // From here on a kill signal finds no confirmed request for this generation (or,
        // in a nested run, another frame) and leaves this thread alone.
        let seen = self.kill.end(gen);
        if special {
            self.end_special();
        }
        if !seen && returned {
            // Nothing to clear: `yielded` is already false, and the frame's pointers are
            // read only through the thread's current frame, which no longer points at
            // this frame; the next entry sets what changed.
            return Left::Returned;
        }
        self.requested = if seen { self.kill.take(gen) } else { None };
        Left::Other
    }

    /// The rare parts of an entry's start: arms the timeout of generation `gen`, and
    /// marks the frame of an async run.
    #[cold]
    #[inline(never)]
    fn begin_special(&mut self, gen: u64) {
        self.special_entry = false;
        if let Some(t) = self.timeout.take() {
            kill_switch::schedule_timeout(&self.kill, gen, t);
            self.armed = Some(gen);
        }
        // SAFETY: no guest runs in the frame yet.
        unsafe { (*self.frame.as_ptr()).is_async = std::mem::take(&mut self.next_is_async) };
    }

    /// Undoes `begin_special` once the entry is over.
    #[cold]
    #[inline(never)]
    fn end_special(&mut self) {
        if let Some(gen) = self.armed.take() {
            kill_switch::cancel_timeout(&self.kill, gen);
        }
        // SAFETY: the entry is over; no guest runs in the frame.
        unsafe { (*self.frame.as_ptr()).is_async = false };
    }

    /// Interprets how the last entry ended when it did not simply return.
    #[cold]
    pub(crate) fn take_exit(&mut self) -> GuestExit {
        let frame = self.frame.as_ptr();
        // SAFETY: no guest runs in the frame: the entry is over, and `&mut self` excludes
        // another.
        let exit = unsafe { (*frame).exit };
        // A kill that was accepted wins over a return or a yield that happened before a
        // signal caught the guest: whoever called `terminate` was told it would stop.
        // A trap or a hostcall's own termination says more, and is kept.
        if let Some(reason) = self.requested.take() {
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
                // The handler acts only on a confirmed request, which only the end of
                // the run takes, so `requested` was set; report what the handler saw.
                // SAFETY: as above.
                let reason = unsafe { (*frame).killed.take() }.unwrap_or(KillReason::Remote);
                self.clear();
                GuestExit::Terminated(reason.details())
            }
            EXIT_YIELDED => {
                self.yielded = true;
                // SAFETY: as above.
                GuestExit::Yielded(unsafe { (*frame).yielded.take() })
            }
            other => {
                unreachable!("the guest context switched back without an exit reason ({other})")
            }
        }
    }
}

#[cold]
fn no_stack() -> ! {
    panic!("ExecState::call called before a stack was bound (bind_stack)")
}

#[cold]
fn malformed_stack(guard_start: usize, guard_end: usize, top: usize) -> ! {
    panic!(
        "malformed guest stack {:?}: top must be 16-byte aligned and above at least 64 usable bytes",
        GuestStack { guard_start, guard_end, top }
    )
}

impl Drop for ExecState {
    fn drop(&mut self) {
        self.kill.retire();
        // SAFETY: the frame came from `Box::leak` in `new`; `&mut self` means no guest is
        // running in it, and a yielded guest is never resumed after this.
        drop(unsafe { Box::from_raw(self.frame.as_ptr()) });
    }
}
