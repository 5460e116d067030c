//! Many threads cycling instances through their whole life at once: instantiate, run,
//! trap, kill (by a kill switch from another thread, or by a timeout), reset, drop.
//! Afterwards every slot must be back in the region and resident memory must not have
//! grown with the number of cycles.
//!
//! `cargo test` runs a scaled-down version (8 threads × 150 cycles). The full size is
//!
//! ```text
//! LUCET_STRESS_CYCLES=10000 cargo test -p lucet-runtime --test stress --release
//! ```
//!
//! (`LUCET_STRESS_THREADS` changes the number of threads, 8 by default.)

mod common;
use common::*;
use lucet_runtime::{DlModule, Error, KillSwitch, Region, TerminationDetails, TrapCode};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const GUEST: &str = r#"(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 0) "\2a\00\00\00")
  ;; Adds the argument to the word at 0 and to a word on another page; returns the sum.
  (func (export "work") (param i32) (result i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (local.get 0)))
    (i32.store (i32.const 40000) (i32.add (i32.load (i32.const 40000)) (local.get 0)))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 40000))))
  (func (export "calls") (result i32) global.get $calls)
  (func (export "trap") (result i32) (i32.div_s (i32.const 1) (i32.const 0)))
  (func (export "oob") (result i32) (i32.load (i32.const 70000)))
  (func (export "spin") (loop br 0))
)"#;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// Resident set size in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("statm format");
    pages * 4096
}

/// A thread that terminates whatever switch it is handed once the guest is running.
fn killer() -> (mpsc::Sender<KillSwitch>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<KillSwitch>();
    let handle = std::thread::spawn(move || {
        for switch in rx {
            let start = Instant::now();
            while !switch.is_running() && start.elapsed() < Duration::from_secs(10) {
                std::thread::yield_now();
            }
            switch.terminate().expect("the guest spins until it is killed");
        }
    });
    (tx, handle)
}

fn cycle(region: &Arc<lucet_runtime::MmapRegion>, module: &Arc<DlModule>, i: usize, kill: &mpsc::Sender<KillSwitch>) {
    let mut inst = region.new_instance(module.clone()).expect("a free slot for every thread");
    assert_eq!(i32::from(inst.run("work", &[1i32.into()]).unwrap().unwrap_returned()), 44);
    match inst.run(if i & 1 == 0 { "trap" } else { "oob" }, &[]) {
        Err(Error::RuntimeFault(d)) => {
            assert!(matches!(d.trap_code, TrapCode::IntegerDivByZero | TrapCode::HeapOutOfBounds), "{d}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    // A trap ends only the call: state survives.
    assert_eq!(i32::from(inst.run("work", &[1i32.into()]).unwrap().unwrap_returned()), 46);
    let r = if i & 1 == 0 {
        kill.send(inst.kill_switch()).unwrap();
        inst.run("spin", &[])
    } else {
        inst.run_with_timeout("spin", &[], Duration::from_micros(300))
    };
    match r {
        Err(Error::RuntimeTerminated(TerminationDetails::Remote)) if i & 1 == 0 => {}
        Err(Error::RuntimeTerminated(TerminationDetails::Timeout)) if i & 1 == 1 => {}
        other => panic!("cycle {i}: expected a termination, got {other:?}"),
    }
    inst.reset().unwrap();
    assert_eq!(i32::from(inst.run("calls", &[]).unwrap().unwrap_returned()), 0);
    assert_eq!(i32::from(inst.run("work", &[2i32.into()]).unwrap().unwrap_returned()), 46);
    drop(inst);
}

#[test]
fn threads_cycle_instances() {
    let threads = env_usize("LUCET_STRESS_THREADS", 8);
    let cycles = env_usize("LUCET_STRESS_CYCLES", 150);
    let region = region(threads);
    let module = DlModule::load(compile_wat(GUEST)).unwrap();

    let warmup = (cycles / 10).max(1);
    let barrier = Arc::new(std::sync::Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (region, module, barrier) = (region.clone(), module.clone(), barrier.clone());
            std::thread::spawn(move || {
                let (tx, killer) = killer();
                for i in 0..cycles {
                    if i == warmup {
                        barrier.wait();
                    }
                    cycle(&region, &module, i + t, &tx);
                }
                if cycles <= warmup {
                    barrier.wait();
                }
                drop(tx);
                killer.join().unwrap();
            })
        })
        .collect();
    barrier.wait();
    let after_warmup = rss();
    for w in workers {
        w.join().expect("a worker thread failed");
    }
    let at_end = rss();
    assert_eq!(region.free_slots(), threads, "slots were lost");
    eprintln!(
        "{threads} threads x {cycles} cycles; RSS after warm-up {} KiB, at the end {} KiB",
        after_warmup / 1024,
        at_end / 1024
    );
    // Growth must not scale with the cycles: allow a fixed slack for allocator caches.
    let growth = at_end.saturating_sub(after_warmup);
    assert!(growth < 64 << 20, "RSS grew by {} KiB", growth / 1024);
}
