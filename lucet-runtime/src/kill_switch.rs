//! Stopping a running guest from another thread, and timeouts built on that.
//!
//! Compiled code carries no fuel counter and no epoch check, so a guest spinning in
//! `loop br 0` can only be stopped from outside: [`KillSwitch::terminate`] marks the
//! run as killed and sends the running thread a signal (`SIGURG`). The signal handler
//! (in `exec/signals.rs`) looks at where the thread was interrupted:
//!
//! * in the module's compiled code: guest frames own nothing, so the handler abandons
//!   them exactly as it does for a fault, and the run returns
//!   `Error::RuntimeTerminated(TerminationDetails::Remote)` (or `Timeout`);
//! * anywhere else — a hostcall, a builtin such as `memory.grow`, the runtime's own
//!   entry and exit code — it does nothing, because that code may hold locks or own
//!   resources. Native hostcalls are called by compiled code directly, with no wrapper
//!   that could notice the kill on the way out, so a process-wide watchdog thread
//!   re-sends the signal about every millisecond until the run has ended. The first
//!   signal that lands after the hostcall has returned into guest code stops the guest,
//!   so a kill issued during a hostcall takes effect when the hostcall returns.
//!   Hostcalls written with `#[lucet_hostcall]` also check on their way out and stop at
//!   once.
//!
//! Whatever happens first, a run for which `terminate` reported
//! [`KillSuccess::Signalled`] never reports success: if the guest returns (or yields)
//! before a signal catches it in guest code, the run still ends with `RuntimeTerminated`.
//! Only a trap, or a hostcall ending the run itself, takes precedence, since those say
//! more about what happened.
//!
//! # Generations
//!
//! Every entry into the guest (each `run` and `resume`) gets a new generation number,
//! kept with the run's state in one atomic word. A kill names the generation it was
//! issued for: once that run is over, signals still in flight find a different
//! generation (or no run at all) and are ignored, so a late signal never hits the next
//! run. Between runs (before the first, after one ended, while yielded) there is
//! nothing to stop: `terminate` returns [`KillError::NotRunning`] and changes nothing.
//!
//! # Other users of `SIGURG`
//!
//! `SIGURG` is ignored by default, which makes a stray one harmless. The handler that
//! was installed before ours, if any, still receives every `SIGURG` that arrives while
//! no kill is in flight in the process; while kills are in flight, signals that are not
//! for a guest on the receiving thread are dropped.

use crate::instance::Instance;
use crate::val::{RunResult, Val};
use crate::error::{Error, TerminationDetails};
use std::fmt;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

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

    /// Asks the running generation (or exactly `only_gen`) to stop.
    fn request(self: &Arc<Self>, reason: KillReason, only_gen: Option<u64>) -> Result<KillSuccess, KillError> {
        let mut w = self.word.load(Ordering::Acquire);
        loop {
            let gen = w >> PHASE_BITS;
            if only_gen.is_some_and(|g| g != gen) {
                return Err(KillError::NotRunning);
            }
            match w & PHASE_MASK {
                IDLE => return Err(KillError::NotRunning),
                DROPPED => return Err(KillError::InstanceDropped),
                KILL_REMOTE | KILL_TIMEOUT => return Ok(KillSuccess::AlreadyPending),
                _ => {}
            }
            match self.word.compare_exchange_weak(
                w,
                gen << PHASE_BITS | reason.phase(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    KILLS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
                    self.signal();
                    watchdog().track(Arc::clone(self), gen);
                    return Ok(KillSuccess::Signalled);
                }
                Err(now) => w = now,
            }
        }
    }

    /// Sends the kill signal to the thread that runs (or last ran) the instance. If that
    /// thread has moved on, the handler finds no matching kill and ignores the signal.
    fn signal(&self) {
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

/// Stops an instance's runs from any thread. Obtained with [`Instance::kill_switch`];
/// cheap to clone, and it does not keep the instance alive.
#[derive(Clone)]
pub struct KillSwitch {
    state: Arc<KillState>,
}

impl fmt::Debug for KillSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KillSwitch").finish_non_exhaustive()
    }
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

impl KillSwitch {
    /// Stops the instance's current run. Returns at once; the run ends within about a
    /// millisecond if the guest is executing its own code, or right after the current
    /// hostcall returns. See the module documentation for the exact guarantees.
    pub fn terminate(&self) -> Result<KillSuccess, KillError> {
        self.state.request(KillReason::Remote, None)
    }

    /// Whether a run of the instance is in progress right now (a snapshot: it may end
    /// at any moment).
    pub fn is_running(&self) -> bool {
        matches!(self.state.word.load(Ordering::Acquire) & PHASE_MASK, RUNNING | KILL_REMOTE | KILL_TIMEOUT)
    }
}

impl Instance {
    /// A handle that stops this instance's runs from any thread.
    ///
    /// ```no_run
    /// # fn f(mut instance: lucet_runtime::InstanceHandle) {
    /// let switch = instance.kill_switch();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(10));
    ///     let _ = switch.terminate();
    /// });
    /// let result = instance.run("spin", &[]);
    /// assert!(matches!(
    ///     result,
    ///     Err(lucet_runtime::Error::RuntimeTerminated(lucet_runtime::TerminationDetails::Remote))
    /// ));
    /// # }
    /// ```
    pub fn kill_switch(&self) -> KillSwitch {
        KillSwitch { state: self.exec().kill_state() }
    }

    /// Like [`Instance::run`], but the run is stopped if it has not finished after
    /// `timeout`, and then returns `Error::RuntimeTerminated(TerminationDetails::Timeout)`.
    /// The time a guest spends yielded does not count: the limit applies to this call.
    pub fn run_with_timeout(&mut self, entrypoint: &str, args: &[Val], timeout: Duration) -> Result<RunResult, Error> {
        self.exec_mut().set_timeout(Some(timeout));
        let result = self.run(entrypoint, args);
        // The run may have failed before entering the guest; never let the timeout
        // apply to a later call.
        self.exec_mut().set_timeout(None);
        result
    }

    /// Like [`Instance::resume`], with a limit on how long the resumed guest may run.
    pub fn resume_with_timeout(&mut self, timeout: Duration) -> Result<RunResult, Error> {
        self.exec_mut().set_timeout(Some(timeout));
        let result = self.resume();
        self.exec_mut().set_timeout(None);
        result
    }
}

// ---- the watchdog: re-sends kill signals and fires timeouts ----

struct Tracked {
    state: Arc<KillState>,
    gen: u64,
}

struct Timer {
    deadline: Instant,
    state: Arc<KillState>,
    gen: u64,
}

#[derive(Default)]
struct Work {
    kills: Vec<Tracked>,
    timers: Vec<Timer>,
    running: bool,
}

struct Watchdog {
    work: Mutex<Work>,
    wake: Condvar,
}

/// How often a kill that has not taken effect yet is signalled again.
const RESIGNAL_INTERVAL: Duration = Duration::from_millis(1);

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(|| Watchdog { work: Mutex::new(Work::default()), wake: Condvar::new() })
}

impl Watchdog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Work> {
        // The work lists stay consistent even if a holder panicked.
        self.work.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ensure_thread(&'static self, work: &mut Work) {
        if work.running {
            return;
        }
        let spawned = std::thread::Builder::new().name("lucet-watchdog".into()).spawn(move || self.serve());
        // Without the thread, kills still send their first signal and timeouts are
        // simply not enforced; there is no better fallback than carrying on.
        work.running = spawned.is_ok();
    }

    fn track(&'static self, state: Arc<KillState>, gen: u64) {
        let mut work = self.lock();
        work.kills.push(Tracked { state, gen });
        self.ensure_thread(&mut work);
        self.wake.notify_one();
    }

    fn schedule(&'static self, state: &Arc<KillState>, gen: u64, timeout: Duration) {
        // A timeout too large to represent is no timeout.
        let Some(deadline) = Instant::now().checked_add(timeout) else { return };
        let mut work = self.lock();
        work.timers.push(Timer { deadline, state: Arc::clone(state), gen });
        self.ensure_thread(&mut work);
        self.wake.notify_one();
    }

    fn cancel(&self, state: &Arc<KillState>, gen: u64) {
        let mut work = self.lock();
        work.timers.retain(|t| !(t.gen == gen && Arc::ptr_eq(&t.state, state)));
    }

    fn serve(&self) {
        let mut work = self.lock();
        loop {
            let now = Instant::now();
            let mut fired = Vec::new();
            work.timers.retain(|t| {
                if t.deadline <= now {
                    fired.push((Arc::clone(&t.state), t.gen));
                    false
                } else {
                    true
                }
            });
            if !fired.is_empty() {
                // `request` signals and calls `track`, which takes the lock.
                drop(work);
                for (state, gen) in fired {
                    let _ = state.request(KillReason::Timeout, Some(gen));
                }
                work = self.lock();
            }
            work.kills.retain(|k| {
                if k.state.pending(k.gen).is_some() {
                    k.state.signal();
                    true
                } else {
                    KILLS_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                    false
                }
            });
            let wait = if !work.kills.is_empty() {
                Some(RESIGNAL_INTERVAL)
            } else {
                work.timers.iter().map(|t| t.deadline).min().map(|d| d.saturating_duration_since(Instant::now()))
            };
            work = match wait {
                Some(w) => self.wake.wait_timeout(work, w).unwrap_or_else(|e| e.into_inner()).0,
                None => self.wake.wait(work).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

/// Arms a timeout for generation `gen` of `state`.
pub(crate) fn schedule_timeout(state: &Arc<KillState>, gen: u64, timeout: Duration) {
    watchdog().schedule(state, gen, timeout);
}

/// Disarms the timeout of generation `gen`, which has ended.
pub(crate) fn cancel_timeout(state: &Arc<KillState>, gen: u64) {
    watchdog().cancel(state, gen);
}
