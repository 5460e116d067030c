//! The run state one instance shares with its kill switches and the signal handler.
//!
//! Two atomic words, each with one writer on the fast path:
//!
//! * `run` (`generation << 2 | IDLE/RUNNING/DROPPED`) is written only by the thread that
//!   runs the instance, with plain stores: one when an entry into the guest begins, one
//!   when it ends. As its only writer, that thread knows what it holds: it keeps the
//!   generation it began last (`RunFrame::kill_gen`, which the signal handler reads as
//!   well) and never loads `run`. Entries of one instance never overlap (each needs
//!   `&mut` to it), so that copy is always the generation `run` holds, and the next
//!   entry's is one more: generations still only grow.
//! * `kill` (`generation << 3 | phase`) is written by kill requests, with
//!   compare-exchanges, and read by the running thread once per entry, when it ends.
//!
//! A request and the end of the run it aims at race; exactly one of two things must
//! happen: the request is told the run was stopped (and the run reports termination),
//! or it is told nothing was running (and the run is unaffected). That is Dekker's
//! problem: the running thread stores `run` then loads `kill`, the request stores
//! `kill` then loads `run`, and each pair needs a store-load barrier so that at least
//! one side sees the other. A barrier on the running thread (a locked instruction)
//! would cost every call as much as the rest of the call together, so the barrier is
//! made asymmetric: the running thread only keeps the compiler from reordering, and
//! the request, which is rare, makes the kernel run a full barrier on every thread of
//! the process (`membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`), which is as if each
//! of them had executed one at that moment. Where the kernel lacks that command the
//! running thread uses a real fence instead.
//!
//! A request first *asks* (writes its generation and reason into `kill`), then runs the
//! barrier and looks at `run` again:
//!
//! * still the same generation, running: the running thread has not stored its end yet,
//!   so after the barrier its load of `kill` will see the request. The request moves
//!   to *confirmed* and reports success; only confirmed requests are acted on by the
//!   signal handler and hostcalls.
//! * that generation ended: the running thread may or may not have seen the request. It
//!   takes a request it sees with a compare-exchange (to *taken*), and the request tries
//!   to withdraw it the same way (to *retracted*); whichever compare-exchange wins
//!   decides, and both sides agree.

use crate::error::TerminationDetails;
use std::sync::atomic::{compiler_fence, fence, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The signal a kill sends to the thread running the guest.
pub(crate) const KILL_SIGNAL: libc::c_int = libc::SIGURG;

// `KillState::run`: the phase in the low two bits, the generation above.
const RUN_BITS: u32 = 2;
const RUN_MASK: u64 = (1 << RUN_BITS) - 1;
const IDLE: u64 = 0;
const RUNNING: u64 = 1;
const DROPPED: u64 = 2;

// `KillState::kill`: the phase in the low three bits, the generation it is for above.
const KILL_BITS: u32 = 3;
const KILL_MASK: u64 = (1 << KILL_BITS) - 1;
const NONE: u64 = 0;
const ASKED_REMOTE: u64 = 1;
const ASKED_TIMEOUT: u64 = 2;
const CONFIRMED_REMOTE: u64 = 3;
const CONFIRMED_TIMEOUT: u64 = 4;
/// The running thread took the request at the end of its entry: the run reports it.
const TAKEN: u64 = 5;
/// The request found its generation over and withdrew before the run took it.
const RETRACTED: u64 = 6;

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
    fn asked(self) -> u64 {
        match self {
            KillReason::Remote => ASKED_REMOTE,
            KillReason::Timeout => ASKED_TIMEOUT,
        }
    }

    /// The reason of a request in phase `phase`, asked or confirmed.
    fn of(phase: u64) -> Option<KillReason> {
        match phase {
            ASKED_REMOTE | CONFIRMED_REMOTE => Some(KillReason::Remote),
            ASKED_TIMEOUT | CONFIRMED_TIMEOUT => Some(KillReason::Timeout),
            _ => None,
        }
    }

    pub(crate) fn details(self) -> TerminationDetails {
        match self {
            KillReason::Remote => TerminationDetails::Remote,
            KillReason::Timeout => TerminationDetails::Timeout,
        }
    }
}

// ---- the asymmetric barrier ----

// From <linux/membarrier.h>; the libc crate does not define them.
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Whether this process may use `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: it must
/// register once (Linux 4.14 and later; some sandboxes forbid the call).
fn expedited_membarrier() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: a system call without pointer arguments.
        unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 }
    })
}

/// The heavy side of the barrier, run by a kill request between writing `kill` and
/// reading `run` again.
fn heavy_barrier(expedited: bool) {
    fence(Ordering::SeqCst);
    if !expedited {
        // The running thread fences for itself.
        return;
    }
    // SAFETY: a system call without pointer arguments; the process registered above.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
    if rc != 0 {
        // The kernel documents no failure after registration. Without the barrier a
        // request could be reported as stopping a run that then returns normally; no
        // answer would be sound, so stop here. (Async-signal-safety is not needed: this
        // runs in `terminate` or on the watchdog thread.)
        eprintln!(
            "lucet-runtime: fatal: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration \
             ({}); a kill request cannot be ordered against the run it stops",
            std::io::Error::last_os_error()
        );
        std::process::abort();
    }
}

/// The running thread's own store-load barrier, where the kernel lacks `membarrier`.
#[cold]
#[inline(never)]
fn full_fence() {
    fence(Ordering::SeqCst);
}

/// The run state of one instance, shared by the instance and its kill switches.
pub(crate) struct KillState {
    /// `generation << RUN_BITS | IDLE/RUNNING/DROPPED`; written only by the thread that
    /// runs the instance (and by its drop).
    run: AtomicU64,
    /// `generation << KILL_BITS | phase`: the latest request and what became of it.
    kill: AtomicU64,
    /// Kernel thread id of the thread running the current generation. Written before
    /// `run` turns `RUNNING` (release), read after seeing `RUNNING` (acquire).
    tid: AtomicI32,
    /// Whether requests run `membarrier`, so that the running thread needs no fence.
    expedited: bool,
}

impl KillState {
    pub(crate) fn new() -> KillState {
        // Registered here, before any thread can run the instance, so that a running
        // thread that relies on it has been ordered after the registration.
        let expedited = expedited_membarrier();
        KillState { run: AtomicU64::new(IDLE), kill: AtomicU64::new(NONE), tid: AtomicI32::new(0), expedited }
    }

    /// Marks the start of generation `gen`, an entry into the guest on the thread `tid`.
    /// The running thread is the only writer of `run`, so it keeps the generation itself
    /// (`RunFrame::kill_gen`) instead of reading it back: `gen` is one more than the last
    /// one begun. Generations only grow, so a request for an older one never matches.
    #[inline(always)]
    pub(crate) fn begin(&self, gen: u64, tid: i32) {
        self.tid.store(tid, Ordering::Relaxed);
        // A request that reads `run` before this store finds no run, and says so.
        self.run.store(gen << RUN_BITS | RUNNING, Ordering::Release);
    }

    /// Marks the end of generation `gen`; says whether a request for it was seen, which
    /// [`KillState::take`] then settles. From here on no new request can hit `gen`.
    #[inline(always)]
    pub(crate) fn end(&self, gen: u64) -> bool {
        self.run.store(gen << RUN_BITS | IDLE, Ordering::Release);
        if !self.expedited {
            full_fence();
        }
        // With `membarrier`, the store-load barrier is run by the request
        // (`heavy_barrier`); this thread only keeps the compiler from reordering.
        compiler_fence(Ordering::SeqCst);
        self.kill.load(Ordering::Acquire) >> KILL_BITS == gen
    }

    /// A request for `gen` was seen at its end (`end` returned true): takes it, unless it
    /// withdraws first, and returns its reason if taken.
    #[cold]
    pub(crate) fn take(&self, gen: u64) -> Option<KillReason> {
        let mut k = self.kill.load(Ordering::Acquire);
        loop {
            if k >> KILL_BITS != gen {
                return None;
            }
            let reason = KillReason::of(k & KILL_MASK)?;
            match self.kill.compare_exchange(k, gen << KILL_BITS | TAKEN, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(reason),
                Err(now) => k = now,
            }
        }
    }

    /// Called when the instance goes away: later requests report it.
    pub(crate) fn retire(&self) {
        self.run.store(DROPPED, Ordering::Release);
    }

    /// The confirmed kill of generation `gen`, if it has not been taken by the end of
    /// the run yet. Async-signal-safe: one atomic load.
    pub(crate) fn pending(&self, gen: u64) -> Option<KillReason> {
        let k = self.kill.load(Ordering::Acquire);
        if k >> KILL_BITS != gen {
            return None;
        }
        match k & KILL_MASK {
            CONFIRMED_REMOTE => Some(KillReason::Remote),
            CONFIRMED_TIMEOUT => Some(KillReason::Timeout),
            _ => None,
        }
    }

    /// Asks the running generation (or exactly `only_gen`) to stop; see the module
    /// documentation for the protocol.
    pub(crate) fn mark(&self, reason: KillReason, only_gen: Option<u64>) -> Result<Marked, KillError> {
        loop {
            let r = self.run.load(Ordering::Acquire);
            match r & RUN_MASK {
                DROPPED => return Err(KillError::InstanceDropped),
                RUNNING => {}
                _ => return Err(KillError::NotRunning),
            }
            let gen = r >> RUN_BITS;
            if only_gen.is_some_and(|g| g != gen) {
                return Err(KillError::NotRunning);
            }
            let k = self.kill.load(Ordering::Acquire);
            if k >> KILL_BITS == gen {
                match k & KILL_MASK {
                    CONFIRMED_REMOTE | CONFIRMED_TIMEOUT | TAKEN => return Ok(Marked::AlreadyPending),
                    // Another request is between asking and deciding; its answer is
                    // ours. It decides within one system call.
                    ASKED_REMOTE | ASKED_TIMEOUT => {
                        std::thread::yield_now();
                        continue;
                    }
                    // Withdrawn: the generation is over, which the next look at `run`
                    // shows.
                    _ => continue,
                }
            }
            let asked = gen << KILL_BITS | reason.asked();
            if self.kill.compare_exchange(k, asked, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue;
            }
            heavy_barrier(self.expedited);
            let still_running = self.run.load(Ordering::Acquire) == r;
            let (to, ok, lost) = if still_running {
                let confirmed = asked + (CONFIRMED_REMOTE - ASKED_REMOTE);
                (confirmed, Ok(Marked::Marked(gen)), Ok(Marked::Taken(gen)))
            } else {
                (gen << KILL_BITS | RETRACTED, Err(KillError::NotRunning), Ok(Marked::Taken(gen)))
            };
            // The only other writer of an asked request is the end of the run, which
            // takes it.
            return match self.kill.compare_exchange(asked, to, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => ok,
                Err(_) => lost,
            };
        }
    }

    /// Whether a generation is running (possibly with a kill pending).
    pub(crate) fn is_running(&self) -> bool {
        self.run.load(Ordering::Acquire) & RUN_MASK == RUNNING
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
    /// Generation `.0` is running and will stop (or report termination).
    Marked(u64),
    /// That generation had already been asked to stop.
    AlreadyPending,
    /// Generation `.0` ended while the request was being made, and took it: the run
    /// reports termination, and there is nothing left to signal. (The generation is
    /// read by the tests, which check that no generation is stopped twice.)
    Taken(#[cfg_attr(not(test), allow(dead_code))] u64),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Barrier};

    /// A request and the end of the generation it aims at always agree: the request is
    /// told it stopped the run exactly for the generations whose end reports a kill.
    #[test]
    fn requests_and_ends_agree() {
        let state = Arc::new(KillState::new());
        let done = Arc::new(AtomicBool::new(false));
        let started = Arc::new(Barrier::new(2));
        let killer = {
            let (state, done, started) = (Arc::clone(&state), Arc::clone(&done), Arc::clone(&started));
            std::thread::spawn(move || {
                started.wait();
                let mut hit = BTreeSet::new();
                while !done.load(Ordering::Relaxed) {
                    match state.mark(KillReason::Remote, None) {
                        Ok(Marked::Marked(g)) | Ok(Marked::Taken(g)) => {
                            assert!(hit.insert(g), "generation {g} was stopped twice");
                        }
                        Ok(Marked::AlreadyPending) | Err(KillError::NotRunning) => {}
                        Err(KillError::InstanceDropped) => unreachable!("the state is never retired here"),
                    }
                }
                hit
            })
        };
        let mut ended_killed = BTreeSet::new();
        started.wait();
        for i in 0..200_000u32 {
            let gen = u64::from(i) + 1;
            state.begin(gen, 1);
            // Runs of different lengths, so that requests land at every point of them.
            for _ in 0..(i % 64) {
                std::hint::spin_loop();
            }
            if state.end(gen) && state.take(gen).is_some() {
                ended_killed.insert(gen);
            }
        }
        done.store(true, Ordering::Relaxed);
        let hit = killer.join().unwrap();
        eprintln!("{} of 200000 generations stopped", hit.len());
        assert_eq!(hit, ended_killed);
    }
}
