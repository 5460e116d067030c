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
//! kept with the run's state in the instance's kill state (`kill_state.rs`, which also
//! says how a request and the end of a run agree on whether it stopped the run without
//! a locked instruction on the running thread). A kill names the generation it was
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

use super::kill_state::{KillError, KillReason, KillState, KillSuccess, Marked, KILLS_IN_FLIGHT};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

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

impl KillSwitch {
    pub(crate) fn new(state: Arc<KillState>) -> KillSwitch {
        KillSwitch { state }
    }

    /// Stops the instance's current run. Returns at once; the run ends within about a
    /// millisecond if the guest is executing its own code, or right after the current
    /// hostcall returns. See the module documentation for the exact guarantees.
    pub fn terminate(&self) -> Result<KillSuccess, KillError> {
        request(&self.state, KillReason::Remote, None)
    }

    /// Whether a run of the instance is in progress right now (a snapshot: it may end
    /// at any moment).
    pub fn is_running(&self) -> bool {
        self.state.is_running()
    }
}

/// Asks the running generation of `state` (or exactly `only_gen`) to stop: marks it,
/// signals its thread, and has the watchdog re-signal until the generation ends.
fn request(state: &Arc<KillState>, reason: KillReason, only_gen: Option<u64>) -> Result<KillSuccess, KillError> {
    match state.mark(reason, only_gen)? {
        Marked::AlreadyPending => Ok(KillSuccess::AlreadyPending),
        Marked::Taken(_) => Ok(KillSuccess::Signalled),
        Marked::Marked(gen) => {
            KILLS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
            state.signal();
            watchdog().track(Arc::clone(state), gen);
            Ok(KillSuccess::Signalled)
        }
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
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return;
        };
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
                    let _ = request(&state, KillReason::Timeout, Some(gen));
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
