//! `Instance::run_async` under tokio, with hostcalls that wait for futures through
//! `Vmctx::block_on`.

mod common;
use common::*;
use lucet_runtime::{lucet_hostcall, DlModule, Error, Region, RunResult, TerminationDetails, Vmctx};
use std::time::{Duration, Instant};

const GUEST: &str = r#"(module
  (import "async_test" "sleep_then_double" (func $sd (param i32) (result i32)))
  (import "async_test" "plain_yield" (func $py (result i32)))
  (import "async_test" "thread_delay" (func $td (param i32) (result i32)))
  (func (export "run") (param i32) (result i32)
    local.get 0 call $sd call $sd)
  (func (export "yields") (result i32) call $py i32.const 1 i32.add)
  (func (export "spin") (loop br 0))
  (func (export "delay") (param i32) (result i32) local.get 0 call $td)
)"#;

#[lucet_hostcall(module = "async_test")]
pub fn sleep_then_double(vmctx: &Vmctx, x: i32) -> i32 {
    vmctx.block_on(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        x * 2
    })
}

/// Waits for a future that a plain thread completes: no executor involved.
#[lucet_hostcall(module = "async_test")]
pub fn thread_delay(vmctx: &Vmctx, ms: i32) -> i32 {
    vmctx.block_on(Delay::new(Duration::from_millis(ms as u64))) + 1
}

/// Becomes ready after a duration, woken by a helper thread.
struct Delay {
    state: std::sync::Arc<std::sync::Mutex<(bool, Option<std::task::Waker>)>>,
}

impl Delay {
    fn new(d: Duration) -> Delay {
        let state = std::sync::Arc::new(std::sync::Mutex::new((false, None::<std::task::Waker>)));
        let s = state.clone();
        std::thread::spawn(move || {
            std::thread::sleep(d);
            let mut g = s.lock().unwrap();
            g.0 = true;
            if let Some(w) = g.1.take() {
                w.wake();
            }
        });
        Delay { state }
    }
}

impl std::future::Future for Delay {
    type Output = i32;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<i32> {
        let mut g = self.state.lock().unwrap();
        if g.0 {
            std::task::Poll::Ready(10)
        } else {
            g.1 = Some(cx.waker().clone());
            std::task::Poll::Pending
        }
    }
}

#[lucet_hostcall(module = "async_test")]
pub fn plain_yield(vmctx: &Vmctx) -> i32 {
    vmctx.yield_expecting_val::<i32>()
}

fn module() -> std::sync::Arc<DlModule> {
    DlModule::load(compile_wat(GUEST)).unwrap()
}

#[test]
fn hostcalls_await_futures_in_an_async_run() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let region = region(2);
    let mut a = region.new_instance(module()).unwrap();
    let mut b = region.new_instance(module()).unwrap();
    let started = Instant::now();
    let (ra, rb) = rt.block_on(async {
        // Both guests wait at once on one thread: the executor is never blocked.
        let fa = a.run_async("run", &[3i32.into()]);
        let fb = b.run_async("run", &[5i32.into()]);
        let ticker = async {
            let mut ticks = 0;
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks += 1;
            }
            ticks
        };
        let (ra, rb, ticks) = join3(fa, fb, ticker).await;
        assert_eq!(ticks, 3);
        (ra, rb)
    });
    assert_eq!(i32::from(ra.unwrap().unwrap_returned()), 12);
    assert_eq!(i32::from(rb.unwrap().unwrap_returned()), 20);
    // Two sequential 20 ms waits per guest, concurrently: well under four in a row.
    assert!(started.elapsed() < Duration::from_millis(75), "{:?}", started.elapsed());
}

#[test]
fn block_on_outside_an_async_run_waits_on_the_thread() {
    let mut inst = region(1).new_instance(module()).unwrap();
    let started = Instant::now();
    assert_eq!(i32::from(inst.run("delay", &[30i32.into()]).unwrap().unwrap_returned()), 11);
    assert!(started.elapsed() >= Duration::from_millis(30));
    // The same hostcall in an async run.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let r = rt.block_on(inst.run_async("delay", &[5i32.into()])).unwrap().unwrap_returned();
    assert_eq!(i32::from(r), 11);
}

#[test]
fn plain_yields_and_kills_in_async_runs() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let mut inst = region(1).new_instance(module()).unwrap();
    rt.block_on(async {
        match inst.run_async("yields", &[]).await.unwrap() {
            RunResult::Yielded(_) => {}
            RunResult::Returned(_) => panic!("expected a yield"),
        }
        let r = inst.resume_with_val(41i32).unwrap().unwrap_returned();
        assert_eq!(i32::from(r), 42);
        let switch = inst.kill_switch();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            switch.terminate().unwrap();
        });
        let r = inst.run_async("spin", &[]).await;
        assert!(matches!(r, Err(Error::RuntimeTerminated(TerminationDetails::Remote))), "{r:?}");
    });
}

/// Polls three futures together (tokio's `join!` needs its macros feature).
async fn join3<A: std::future::Future, B: std::future::Future, C: std::future::Future>(
    a: A,
    b: B,
    c: C,
) -> (A::Output, B::Output, C::Output) {
    let (mut a, mut b, mut c) = (std::pin::pin!(a), std::pin::pin!(b), std::pin::pin!(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    std::future::poll_fn(|cx| {
        use std::task::Poll;
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if rc.is_none() {
            if let Poll::Ready(v) = c.as_mut().poll(cx) {
                rc = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() && rc.is_some() {
            Poll::Ready((ra.take().unwrap(), rb.take().unwrap(), rc.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}
