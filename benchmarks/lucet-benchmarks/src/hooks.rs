//! The clocks behind the `bench.start` / `bench.end` imports of sightglass programs.
//!
//! Both runtimes run the guest on the calling thread (lucet on the instance's own
//! stack, but still this thread), so a thread-local is enough and costs both the same.
//!
//! Each region is measured twice. The wall clock counts every nanosecond between the two
//! calls, including time the thread spent waiting for a CPU while other processes ran:
//! on a shared machine with more runnable work than CPUs that waiting can decide the
//! figure (see "Reading the sightglass figures" in docs/benchmarks.md). The thread's
//! CPU time (`CLOCK_THREAD_CPUTIME_ID`) counts only what the thread ran, in user space
//! and in the kernel on its behalf (page faults, system calls), and is what the report
//! uses by default ([`Clock`]). Both are kept for every run, with the thread's minor
//! page faults and its involuntary and voluntary context switches over the region.

use lucet_runtime::{register_hostcalls, HostcallDef, Vmctx};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::sync::Once;
use std::time::{Duration, Instant};

/// Which of a [`Measurement`]'s clocks the report's figures are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// The thread's CPU time: what the region cost, whatever else the machine ran.
    #[default]
    ThreadCpu,
    /// Wall time: also counts time the thread waited for a CPU.
    Wall,
}

impl Clock {
    /// The reading of this clock in `m`, in seconds.
    pub fn of(self, m: &Measurement) -> f64 {
        match self {
            Clock::ThreadCpu => m.cpu,
            Clock::Wall => m.wall,
        }
    }

    /// What the figures are, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Clock::ThreadCpu => "the running thread's CPU time (user and system, `CLOCK_THREAD_CPUTIME_ID`)",
            Clock::Wall => "the wall time",
        }
    }
}

/// What one run's timed region cost.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Measurement {
    /// Seconds of wall time between `bench.start` and `bench.end`.
    pub wall: f64,
    /// Seconds of this thread's CPU time (user and system) between them.
    pub cpu: f64,
    /// Minor page faults the thread took between them.
    pub minor_faults: u64,
    /// Times the thread was taken off its CPU without asking (preempted) between them.
    pub preemptions: u64,
    /// Times the thread gave up its CPU to wait (a blocking system call, a lock) between them.
    #[serde(default)]
    pub waits: u64,
}

/// The readings at `bench.start`.
#[derive(Clone, Copy)]
struct Started {
    wall: Instant,
    cpu: Duration,
    minor_faults: u64,
    preemptions: u64,
    waits: u64,
}

thread_local! {
    static STARTED: Cell<Option<Started>> = const { Cell::new(None) };
    static MEASURED: Cell<Option<Measurement>> = const { Cell::new(None) };
}

/// This thread's CPU time.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// This thread's (minor faults, involuntary context switches, voluntary context switches) so far.
fn thread_counts() -> (u64, u64, u64) {
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_THREAD asks about this thread only.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if rc != 0 {
        return (0, 0, 0);
    }
    (ru.ru_minflt as u64, ru.ru_nivcsw as u64, ru.ru_nvcsw as u64)
}

/// Marks the start of the measured region. The wall clock is read last, so that the
/// other readings are not part of the wall time.
pub fn start() {
    let (minor_faults, preemptions, waits) = thread_counts();
    let cpu = thread_cpu_time();
    let wall = Instant::now();
    STARTED.with(|s| s.set(Some(Started { wall, cpu, minor_faults, preemptions, waits })));
}

/// Marks its end; a program that calls `end` without `start` measures nothing.
pub fn end() {
    let Some(started) = STARTED.with(|s| s.get()) else {
        MEASURED.with(|m| m.set(None));
        return;
    };
    let wall = started.wall.elapsed();
    let cpu = thread_cpu_time().saturating_sub(started.cpu);
    let (minor_faults, preemptions, waits) = thread_counts();
    MEASURED.with(|m| {
        m.set(Some(Measurement {
            wall: wall.as_secs_f64(),
            cpu: cpu.as_secs_f64(),
            minor_faults: minor_faults.saturating_sub(started.minor_faults),
            preemptions: preemptions.saturating_sub(started.preemptions),
            waits: waits.saturating_sub(started.waits),
        }))
    });
}

/// Forgets any previous measurement, before a run.
pub fn clear() {
    STARTED.with(|s| s.set(None));
    MEASURED.with(|m| m.set(None));
}

/// The last measurement on this thread.
pub fn measured() -> Option<Measurement> {
    MEASURED.with(|m| m.get())
}

unsafe extern "C" fn lucet_bench_start(_vmctx: &Vmctx) {
    start();
}

unsafe extern "C" fn lucet_bench_end(_vmctx: &Vmctx) {
    end();
}

static LUCET_HOOKS: &[HostcallDef] = &[
    HostcallDef { module: "bench", name: "start", params: &[], results: &[], func: lucet_bench_start as *const u8 },
    HostcallDef { module: "bench", name: "end", params: &[], results: &[], func: lucet_bench_end as *const u8 },
];

/// Makes `bench.start`/`bench.end` available to modules lucet loads from now on.
pub fn register_lucet_hooks() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| register_hostcalls(LUCET_HOOKS));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_measured_on_both_clocks() {
        clear();
        start();
        // Some work, so that both clocks move; no figure is asserted, only how they relate.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        end();
        let m = measured().expect("a region with start and end is measured");
        assert!(m.wall > 0.0 && m.cpu > 0.0, "{m:?}");
        // One thread cannot run longer than the wall time it was given (with a
        // millisecond for the two clocks' different readings).
        assert!(m.cpu <= m.wall + 1e-3, "{m:?}");
        assert_eq!(Clock::ThreadCpu.of(&m), m.cpu);
        assert_eq!(Clock::Wall.of(&m), m.wall);
    }

    #[test]
    fn end_without_start_measures_nothing() {
        clear();
        end();
        assert_eq!(measured(), None);
    }
}
