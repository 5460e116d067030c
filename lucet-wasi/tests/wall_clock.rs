//! `WasiCtxBuilder::wall_clock`: the guest's realtime clock reads the supplied clock,
//! in `clock_time_get` and in absolute `poll_oneoff` deadlines, and only that clock.

mod common;

use common::call;
use lucet_runtime::{InstanceHandle, Val};
use lucet_wasi::WasiCtxBuilder;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REALTIME: i32 = 0;
const MONOTONIC: i32 = 1;

/// 2001-09-09 01:46:40 UTC: far from the host's time, so a mix-up shows.
const START: u64 = 1_000_000_000_000_000_000;

fn read(inst: &mut InstanceHandle, id: i32) -> u64 {
    match inst.run("read", &[Val::I32(id)]) {
        Ok(r) => r.unwrap_returned().as_u64(),
        Err(e) => panic!("reading clock {id} failed: {e}"),
    }
}

/// A clock that advances one second per reading, counting its readings.
fn stepping_clock(readings: Arc<AtomicU64>) -> impl FnMut() -> u64 + Send + 'static {
    move || START + readings.fetch_add(1, Ordering::SeqCst) * 1_000_000_000
}

#[test]
fn realtime_reads_the_supplied_clock_and_monotonic_stays_the_hosts() {
    let readings = Arc::new(AtomicU64::new(0));
    let ctx = WasiCtxBuilder::new()
        .wall_clock(stepping_clock(readings.clone()))
        .build()
        .unwrap();
    let mut inst = common::instance("wall_clock.wat", ctx);
    assert_eq!(read(&mut inst, REALTIME), START);
    assert_eq!(read(&mut inst, REALTIME), START + 1_000_000_000);
    let mono = read(&mut inst, MONOTONIC);
    assert_eq!(readings.load(Ordering::SeqCst), 2, "only realtime reads it");
    assert!(mono < START / 1000, "monotonic is the host's, got {mono}");
}

#[test]
fn absolute_realtime_deadlines_are_measured_from_the_supplied_clock() {
    let readings = Arc::new(AtomicU64::new(0));
    let ctx = WasiCtxBuilder::new()
        .wall_clock(stepping_clock(readings.clone()))
        .build()
        .unwrap();
    let mut inst = common::instance("wall_clock.wat", ctx);
    // The clock says START when poll_oneoff asks, so START + 50 ms is 50 ms away;
    // against the host's clock it would lie years in the past and fire at once.
    let started = Instant::now();
    let at = (START + 50_000_000) as i64;
    assert_eq!(call(&mut inst, "wait_until", &[at.into()]), 0);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(readings.load(Ordering::SeqCst), 1);
    // Now the clock is a second further on: the same deadline has passed.
    let started = Instant::now();
    assert_eq!(call(&mut inst, "wait_until", &[at.into()]), 0);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(readings.load(Ordering::SeqCst), 2);
}

#[test]
fn without_a_clock_realtime_is_the_hosts() {
    let mut inst = common::instance("wall_clock.wat", WasiCtxBuilder::new().build().unwrap());
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(read(&mut inst, REALTIME).abs_diff(host) < 60_000_000_000);
}
