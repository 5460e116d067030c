//! The run state one instance shares with its kill switches and the signal handler: one
//! atomic word, `generation << 3 | phase`, and the thread that runs the generation.

use crate::error::TerminationDetails;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};

/// The signal a kill sends to the thread running the guest.
pub(crate) const KILL_SIGNAL: libc::c_int = libc::SIGURG;

// The low bits of `KillState::word`; the generation is in the bits above.
const PHASE_BITS: u32 = 3;
const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;
const IDLE: u64 = 0;
const RUNNING: u64 = 1;
const KILL_REMOTE: u64 = 2;
const KILL_TIMEOUT: u64 = 3;
const DROPPED: u64 = 4;

/// Number of kills that were accepted and whose run has not been seen to end yet. While
/// it is non-zero the signal handler keeps every `SIGURG` to itself.
pub(crate) static KILLS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Why a kill was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KillReason {
    Remote,
    Timeout,
}

impl KillReason {
    fn phase(self) -> u64 {
        match self {
            KillReason::Remote => KILL_REMOTE,
            KillReason::Timeout => KILL_TIMEOUT,
        }
    }

    pub(crate) fn details(self) -> TerminationDetails {
        match self {
            KillReason::Remote => TerminationDetails::Remote,
            KillReason::Timeout => TerminationDetails::Timeout,
        }
    }
}

/// The run state of one instance, shared by the instance and its kill switches.
pub(crate) struct KillState {
    /// `generation << PHASE_BITS | phase`. Only the thread running the instance moves it
    /// between `IDLE` and `RUNNING`; kill requests move it from `RUNNING` to `KILL_*`
    /// with a compare-exchange, so a request can only hit the generation it saw.
    word: AtomicU64,
    /// Kernel thread id of the thread running the current generation. Written before
    /// the word turns `RUNNING` (release), read after seeing `RUNNING` (acquire).
    tid: AtomicI32,
}

impl KillState {
    pub(crate) fn new() -> KillState {
        KillState { word: AtomicU64::new(IDLE), tid: AtomicI32::new(0) }
    }

    /// Marks the start of an entry into the guest on the thread `tid`; returns its
    /// generation.
    pub(crate) fn begin(&self, tid: i32) -> u64 {
        let gen = (self.word.load(Ordering::Relaxed) >> PHASE_BITS).wrapping_add(1);
        self.tid.store(tid, Ordering::Relaxed);
        // No request can change an IDLE word, so a plain store loses nothing.
        self.word.store(gen << PHASE_BITS | RUNNING, Ordering::Release);
        gen
    }

    /// Marks the end of generation `gen`; returns the kill requested for it, if any.
    pub(crate) fn end(&self, gen: u64) -> Option<KillReason> {
        let previous = self.word.swap(gen << PHASE_BITS | IDLE, Ordering::AcqRel);
        match previous & PHASE_MASK {
            KILL_REMOTE => Some(KillReason::Remote),
            KILL_TIMEOUT => Some(KillReason::Timeout),
            _ => None,
        }
    }

    /// Called when the instance goes away: later requests report it.
    pub(crate) fn retire(&self) {
        self.word.store(DROPPED, Ordering::Release);
    }

    /// The kill requested for generation `gen`, if that generation is still running.
    /// Async-signal-safe: one atomic load.
    pub(crate) fn pending(&self, gen: u64) -> Option<KillReason> {
        let w = self.word.load(Ordering::Acquire);
        if w >> PHASE_BITS != gen {
            return None;
        }
        match w & PHASE_MASK {
            KILL_REMOTE => Some(KillReason::Remote),
            KILL_TIMEOUT => Some(KillReason::Timeout),
            _ => None,
        }
    }

    /// Moves the running generation (or exactly `only_gen`) to a kill phase; returns
    /// the generation it hit.
    pub(crate) fn mark(&self, reason: KillReason, only_gen: Option<u64>) -> Result<Marked, KillError> {
        let mut w = self.word.load(Ordering::Acquire);
        loop {
            let gen = w >> PHASE_BITS;
            if only_gen.is_some_and(|g| g != gen) {
                return Err(KillError::NotRunning);
            }
            match w & PHASE_MASK {
                IDLE => return Err(KillError::NotRunning),
                DROPPED => return Err(KillError::InstanceDropped),
                KILL_REMOTE | KILL_TIMEOUT => return Ok(Marked::AlreadyPending),
                _ => {}
            }
            match self.word.compare_exchange_weak(
                w,
                gen << PHASE_BITS | reason.phase(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(Marked::Marked(gen)),
                Err(now) => w = now,
            }
        }
    }

    /// Whether a generation is running (possibly with a kill pending).
    pub(crate) fn is_running(&self) -> bool {
        matches!(self.word.load(Ordering::Acquire) & PHASE_MASK, RUNNING | KILL_REMOTE | KILL_TIMEOUT)
    }

    /// Sends the kill signal to the thread that runs (or last ran) the instance. If that
    /// thread has moved on, the handler finds no matching kill and ignores the signal.
    pub(crate) fn signal(&self) {
        let tid = self.tid.load(Ordering::Acquire);
        if tid <= 0 {
            return;
        }
        // SAFETY: a plain system call. A thread id, unlike a `pthread_t`, stays harmless
        // to use after the thread has exited: the call fails with ESRCH, or reaches an
        // unrelated thread of this process, whose handler ignores the signal.
        unsafe {
            libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, KILL_SIGNAL);
        }
    }
}

/// What [`KillState::mark`] did.
pub(crate) enum Marked {
    /// It moved generation `.0` to a kill phase.
    Marked(u64),
    /// That generation had already been asked to stop.
    AlreadyPending,
}

thread_local! {
    static TID: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// This thread's kernel thread id, cached.
pub(crate) fn current_tid() -> i32 {
    TID.try_with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid has no preconditions.
            t.set(unsafe { libc::syscall(libc::SYS_gettid) } as i32);
        }
        t.get()
    })
    // SAFETY: as above; the thread is exiting and its cache is gone.
    .unwrap_or_else(|_| unsafe { libc::syscall(libc::SYS_gettid) } as i32)
}

/// A kill that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSuccess {
    /// A run was in progress; it ends with `Error::RuntimeTerminated` (unless it traps
    /// or a hostcall ends it first).
    Signalled,
    /// The current run had already been asked to stop (by this or another switch, or by
    /// its timeout); nothing more was done.
    AlreadyPending,
}

/// A kill that had nothing to stop. Always harmless: the instance is unaffected and
/// its next run is not killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KillError {
    /// No run is in progress: it has not started, it has already ended, or the instance
    /// is yielded (a yielded instance is not running; reset or drop it instead).
    #[error("the instance is not running, so there is nothing to terminate")]
    NotRunning,
    /// The instance has been dropped.
    #[error("the instance has been dropped, so there is nothing to terminate")]
    InstanceDropped,
}
