//! Called on the guest stack, by hostcalls and builtins: terminating, yielding, catching
//! panics, handing futures to an async run.

use super::context;
use super::frame::{current_frame, EXIT_TERMINATED, EXIT_YIELDED};
use super::kill_state::KillReason;
use crate::error::TerminationDetails;
use std::any::Any;
use std::ptr;
use std::sync::atomic::{compiler_fence, Ordering};

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
            let message = crate::error::panic_message(payload.as_ref());
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
        // SAFETY: a non-null current frame (`THREAD.current`) is the live frame of a run
        // on this thread.
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
    // SAFETY: a non-null current frame (`THREAD.current`) is the live frame of a run on
    // this thread; its kill state is kept alive by the frame's `ExecState`.
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
    // SAFETY: a non-null current frame (`THREAD.current`) is the live frame of a run on
    // this thread.
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
