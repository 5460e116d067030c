//! Stopping guests from other threads: `KillSwitch::terminate` and `run_with_timeout`.

mod common;
use common::*;
use lucet_runtime::{
    register_hostcalls, DlModule, Error, HostcallDef, InstanceHandle, KillError, KillSuccess, Region, RunResult,
    TerminationDetails, ValType, Vmctx,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const GUEST: &str = r#"(module
  (import "kill_test" "slow" (func $slow (param i32)))
  (import "kill_test" "enter" (func $enter))
  (memory (export "memory") 1)
  (func (export "spin") (loop br 0))
  (func (export "answer") (result i32) i32.const 42)
  ;; Sleeps in a hostcall for the given milliseconds, then returns 7.
  (func (export "sleep_then_return") (param i32) (result i32) local.get 0 call $slow i32.const 7)
  ;; Sleeps in a hostcall, then spins: only a signal in guest code can stop it.
  (func (export "sleep_then_spin") (param i32) local.get 0 call $slow (loop br 0))
  ;; Tells the host it started, then counts down from the argument and traps.
  (func (export "count_then_trap") (param i32)
    call $enter
    (loop
      local.get 0 i32.const 1 i32.sub local.tee 0
      br_if 0)
    unreachable)
  ;; Counts down and returns, so it can also finish before a kill lands.
  (func (export "count") (param i32) (result i32)
    (loop
      local.get 0 i32.const 1 i32.sub local.tee 0
      br_if 0)
    i32.const 1)
)"#;

static ENTERED: AtomicBool = AtomicBool::new(false);

unsafe extern "C" fn slow(_vmctx: &Vmctx, ms: i32) {
    ENTERED.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(ms as u64));
}

unsafe extern "C" fn enter(_vmctx: &Vmctx) {}

static HOSTCALLS: &[HostcallDef] = &[
    HostcallDef { module: "kill_test", name: "slow", params: &[ValType::I32], results: &[], func: slow as *const u8 },
    HostcallDef { module: "kill_test", name: "enter", params: &[], results: &[], func: enter as *const u8 },
];

fn module() -> Arc<DlModule> {
    register_hostcalls(HOSTCALLS);
    DlModule::load(compile_wat(GUEST)).expect("load the kill test guest")
}

fn new_instance() -> InstanceHandle {
    region(1).new_instance(module()).expect("instantiate")
}

fn assert_terminated(r: Result<RunResult, Error>, want: &str) {
    match (r, want) {
        (Err(Error::RuntimeTerminated(TerminationDetails::Remote)), "remote") => {}
        (Err(Error::RuntimeTerminated(TerminationDetails::Timeout)), "timeout") => {}
        (other, _) => panic!("expected a {want} termination, got {other:?}"),
    }
}

/// Terminates `switch` from another thread after `delay`; returns what `terminate` said.
fn kill_later(switch: lucet_runtime::KillSwitch, delay: Duration) -> std::thread::JoinHandle<Result<KillSuccess, KillError>> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        switch.terminate()
    })
}

#[test]
fn kill_switch_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<lucet_runtime::KillSwitch>();
}

#[test]
fn spinning_guest_is_stopped_within_milliseconds() {
    let mut inst = new_instance();
    let switch = inst.kill_switch();
    let started = Instant::now();
    let killer = std::thread::spawn(move || {
        // Wait until the guest really runs.
        while !switch.is_running() {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(20));
        let at = Instant::now();
        (switch.terminate(), at)
    });
    let r = inst.run("spin", &[]);
    let stopped = Instant::now();
    let (said, at) = killer.join().unwrap();
    assert_eq!(said, Ok(KillSuccess::Signalled));
    assert_terminated(r, "remote");
    let latency = stopped.duration_since(at);
    eprintln!("the spinning guest stopped {latency:?} after terminate()");
    assert!(latency < Duration::from_millis(100), "took {latency:?} to stop the guest");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Terminated instances need a reset; afterwards they run normally.
    assert!(matches!(inst.run("answer", &[]), Err(Error::InstanceNeedsReset(_))));
    inst.reset().unwrap();
    assert_eq!(i32::from(inst.run("answer", &[]).unwrap().unwrap_returned()), 42);
}

#[test]
fn kill_during_a_hostcall_takes_effect_when_it_returns() {
    let mut inst = new_instance();
    let switch = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        while !ENTERED.load(Ordering::SeqCst) || !switch.is_running() {
            std::thread::yield_now();
        }
        switch.terminate()
    });
    // The hostcall returns and the guest returns right away: the accepted kill still wins.
    let started = Instant::now();
    let r = inst.run("sleep_then_return", &[100i32.into()]);
    assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
    assert!(started.elapsed() >= Duration::from_millis(100), "the hostcall was cut short");
    assert_terminated(r, "remote");

    // The hostcall returns into a spinning guest: a signal must catch it there.
    inst.reset().unwrap();
    let switch = inst.kill_switch();
    let killer = kill_later(switch, Duration::from_millis(20));
    let started = Instant::now();
    let r = inst.run("sleep_then_spin", &[100i32.into()]);
    assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(100), "the hostcall was cut short ({took:?})");
    assert!(took < Duration::from_secs(2), "the guest kept spinning for {took:?}");
    assert_terminated(r, "remote");
}

#[test]
fn kill_before_a_run_is_reported_and_harmless() {
    let mut inst = new_instance();
    let switch = inst.kill_switch();
    assert_eq!(switch.terminate(), Err(KillError::NotRunning));
    assert!(!switch.is_running());
    assert_eq!(i32::from(inst.run("answer", &[]).unwrap().unwrap_returned()), 42);
    assert_eq!(i32::from(inst.run("count", &[1000i32.into()]).unwrap().unwrap_returned()), 1);
}

#[test]
fn kill_after_the_run_returned_is_reported_and_harmless() {
    let mut inst = new_instance();
    let switch = inst.kill_switch();
    assert_eq!(i32::from(inst.run("answer", &[]).unwrap().unwrap_returned()), 42);
    assert_eq!(switch.terminate(), Err(KillError::NotRunning));
    assert_eq!(i32::from(inst.run("answer", &[]).unwrap().unwrap_returned()), 42);
    let clone = switch.clone();
    drop(inst);
    assert_eq!(clone.terminate(), Err(KillError::InstanceDropped));
    assert_eq!(KillError::NotRunning.to_string(), "the instance is not running, so there is nothing to terminate");
}

#[test]
fn a_second_terminate_reports_the_pending_kill() {
    let mut inst = new_instance();
    let switch = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        while !switch.is_running() {
            std::thread::yield_now();
        }
        // Both land while the guest spins; the second sees the first.
        let first = switch.terminate();
        let second = switch.terminate();
        (first, second)
    });
    let r = inst.run("spin", &[]);
    let (first, second) = killer.join().unwrap();
    assert_eq!(first, Ok(KillSuccess::Signalled));
    assert!(matches!(second, Ok(KillSuccess::AlreadyPending) | Err(KillError::NotRunning)), "{second:?}");
    assert_terminated(r, "remote");
}

#[test]
fn timeout_stops_a_spinning_guest() {
    let mut inst = new_instance();
    let started = Instant::now();
    let r = inst.run_with_timeout("spin", &[], Duration::from_millis(30));
    let took = started.elapsed();
    assert_terminated(r, "timeout");
    assert!(took >= Duration::from_millis(30) && took < Duration::from_secs(2), "took {took:?}");
    inst.reset().unwrap();
    // A run that finishes in time is unaffected, and the timeout does not carry over.
    let r = inst.run_with_timeout("answer", &[], Duration::from_millis(30)).unwrap();
    assert_eq!(i32::from(r.unwrap_returned()), 42);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(i32::from(inst.run("count", &[10_000_000i32.into()]).unwrap().unwrap_returned()), 1);
    // A run that fails before entering the guest does not leave its timeout armed.
    assert!(inst.run_with_timeout("missing", &[], Duration::from_millis(1)).is_err());
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(i32::from(inst.run("count", &[10_000_000i32.into()]).unwrap().unwrap_returned()), 1);
}

#[test]
fn timeout_is_displayed() {
    let mut inst = new_instance();
    let err = inst.run_with_timeout("spin", &[], Duration::from_millis(5)).unwrap_err();
    assert_eq!(err.to_string(), "guest terminated: timed out");
}

/// Kills race with traps and with normal returns: every outcome must be one of the
/// legitimate ones, and no kill may leak into the next run.
#[test]
fn kill_racing_with_a_trap() {
    let module = module();
    let region = region(1);
    let mut inst = region.new_instance(module).unwrap();
    let iterations = 300;
    let (mut faulted, mut killed) = (0, 0);
    for i in 0..iterations {
        let switch = inst.kill_switch();
        let go = Arc::new(Barrier::new(2));
        let go2 = go.clone();
        // Spread the kill and the trap over the same tens of microseconds.
        let spin = (i % 17) * 1500;
        let killer = std::thread::spawn(move || {
            go2.wait();
            for _ in 0..spin {
                std::hint::spin_loop();
            }
            switch.terminate()
        });
        go.wait();
        let r = inst.run("count_then_trap", &[((i % 13) * 150_000 + 1).into()]);
        let said = killer.join().unwrap();
        match r {
            Err(Error::RuntimeFault(d)) => {
                assert_eq!(d.trap_code, lucet_runtime::TrapCode::Unreachable);
                faulted += 1;
            }
            Err(Error::RuntimeTerminated(TerminationDetails::Remote)) => {
                assert_eq!(said, Ok(KillSuccess::Signalled), "terminated although the kill was refused");
                killed += 1;
                inst.reset().unwrap();
            }
            other => panic!("iteration {i}: unexpected outcome {other:?} (terminate said {said:?})"),
        }
        // The next run is never hit by a late signal.
        assert_eq!(i32::from(inst.run("count", &[20_000i32.into()]).unwrap().unwrap_returned()), 1, "iteration {i}");
    }
    eprintln!("{faulted} trapped, {killed} killed out of {iterations}");
}

/// A kill that lands while the guest is finishing never turns into a failure of the
/// following run.
#[test]
fn late_kills_never_hit_the_next_run() {
    let mut inst = new_instance();
    for i in 0..200 {
        let switch = inst.kill_switch();
        let killer = std::thread::spawn(move || switch.terminate());
        let r = inst.run("count", &[((i % 7) * 3000 + 1).into()]);
        let said = killer.join().unwrap();
        match r {
            Ok(v) => {
                assert_eq!(i32::from(v.unwrap_returned()), 1);
                assert_ne!(said, Ok(KillSuccess::Signalled), "an accepted kill let the run succeed");
            }
            Err(Error::RuntimeTerminated(TerminationDetails::Remote)) => inst.reset().unwrap(),
            Err(e) => panic!("{e}"),
        }
        for _ in 0..3 {
            assert_eq!(i32::from(inst.run("count", &[30_000i32.into()]).unwrap().unwrap_returned()), 1);
        }
    }
}

#[test]
fn instances_are_killed_independently() {
    let module = module();
    let region = region(2);
    let mut a = region.new_instance(module.clone()).unwrap();
    let mut b = region.new_instance(module).unwrap();
    let kill_a = a.kill_switch();
    let t = std::thread::spawn(move || {
        let r = b.run_with_timeout("count", &[50_000_000i32.into()], Duration::from_secs(20));
        (r.map(|v| i32::from(v.unwrap_returned())).map_err(|e| e.to_string()), b)
    });
    let killer = kill_later(kill_a, Duration::from_millis(20));
    assert_terminated(a.run("spin", &[]), "remote");
    assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
    let (rb, _b) = t.join().unwrap();
    assert_eq!(rb, Ok(1));
}

#[test]
fn region_and_handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<lucet_runtime::MmapRegion>();
    send::<InstanceHandle>();
    let module = module();
    let region = region(1);
    let inst = region.new_instance(module).unwrap();
    let mut inst = std::thread::spawn(move || {
        let mut inst = inst;
        assert_eq!(i32::from(inst.run("answer", &[]).unwrap().unwrap_returned()), 42);
        inst
    })
    .join()
    .unwrap();
    assert_eq!(i32::from(inst.run("answer", &[]).unwrap().unwrap_returned()), 42);
    let _ = region.free_slots();
}
