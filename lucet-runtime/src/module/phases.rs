//! The time each phase of `DlModule::load` takes, for the measurements in
//! docs/benchmarks.md.
//!
//! With the `load-phases` feature, each phase records the time since the previous one in
//! a per-thread list that [`load_phases`] hands out; without it, marking a phase compiles
//! to nothing, so the measured build and the ordinary one run the same code otherwise.
//! The phases that are load-time checks are marked as such, so the checks' share of a
//! load can be summed without knowing the code.

use std::time::Duration;

/// One phase of the last load on this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadPhase {
    pub name: &'static str,
    /// Whether the phase only checks the file or the loaded object (and would be left
    /// out if the file could be trusted).
    pub check: bool,
    pub time: Duration,
}

#[cfg(feature = "load-phases")]
mod clock {
    use super::LoadPhase;
    use std::cell::RefCell;
    use std::time::Instant;

    thread_local! {
        static PHASES: RefCell<(Option<Instant>, Vec<LoadPhase>)> = const { RefCell::new((None, Vec::new())) };
    }

    pub(crate) fn start() {
        PHASES.with_borrow_mut(|(last, phases)| {
            phases.clear();
            *last = Some(Instant::now());
        });
    }

    pub(crate) fn lap(name: &'static str, check: bool) {
        let now = Instant::now();
        PHASES.with_borrow_mut(|(last, phases)| {
            let Some(since) = last.replace(now) else { return };
            let time = now - since;
            match phases.iter_mut().find(|p| p.name == name) {
                Some(p) => p.time += time,
                None => phases.push(LoadPhase { name, check, time }),
            }
        });
    }

    /// A copy, made outside the load: the list keeps its room for the next load, which
    /// then allocates nothing for its phases while it is timed. Otherwise a load with
    /// more phases (the checked one) would make an allocation more, and a measurement
    /// of what the checks add would count it.
    pub fn load_phases() -> Vec<LoadPhase> {
        PHASES.with_borrow_mut(|(last, phases)| {
            *last = None;
            let taken = phases.clone();
            phases.clear();
            taken
        })
    }
}

#[cfg(not(feature = "load-phases"))]
mod clock {
    use super::LoadPhase;

    #[inline(always)]
    pub(crate) fn start() {}

    #[inline(always)]
    pub(crate) fn lap(_name: &'static str, _check: bool) {}

    pub fn load_phases() -> Vec<LoadPhase> {
        Vec::new()
    }
}

pub(crate) use clock::{lap, start};

/// The phases of the last `DlModule::load` (or `load_unresolved`, `load_verified`) on
/// this thread, in the order they first ran, and forgets them. Empty unless
/// lucet-runtime is built with the `load-phases` feature.
pub fn load_phases() -> Vec<LoadPhase> {
    clock::load_phases()
}

/// A phase that only checks.
pub(crate) fn check(name: &'static str) {
    lap(name, true);
}

/// A phase that does the loading's own work.
pub(crate) fn work(name: &'static str) {
    lap(name, false);
}
