//! The clock behind the `bench.start` / `bench.end` imports of sightglass programs.
//!
//! Both runtimes run the guest on the calling thread (lucet on the instance's own
//! stack, but still this thread), so a thread-local is enough and costs both the same.

use lucet_runtime::{register_hostcalls, HostcallDef, Vmctx};
use std::cell::Cell;
use std::sync::Once;
use std::time::{Duration, Instant};

thread_local! {
    static STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
    static MEASURED: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// Marks the start of the measured region.
pub fn start() {
    STARTED.with(|s| s.set(Some(Instant::now())));
}

/// Marks its end; a program that calls `end` without `start` measures nothing.
pub fn end() {
    let elapsed = STARTED.with(|s| s.get()).map(|t| t.elapsed());
    MEASURED.with(|m| m.set(elapsed));
}

/// Forgets any previous measurement, before a run.
pub fn clear() {
    STARTED.with(|s| s.set(None));
    MEASURED.with(|m| m.set(None));
}

/// The last measurement on this thread.
pub fn measured() -> Option<Duration> {
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
