//! Running a guest from async code, with hostcalls that wait for futures.
//!
//! [`Instance::run_async`] returns a future that runs the guest when polled. A hostcall
//! that needs to wait for something asynchronous calls [`Vmctx::block_on`]: inside an
//! async run, the guest is suspended (exactly like a yield) and the future travels to
//! the run, which polls it with the caller's async context; when it completes, the
//! guest is resumed with its output and the hostcall continues. The executor's thread
//! is free while the hostcall waits, but guest code itself runs inside `poll` without
//! interruption, so long computations should be bounded with a timeout or kill switch.
//! Outside an async run, `block_on` simply waits on the current thread.
//!
//! ```no_run
//! # async fn f(mut instance: lucet_runtime::InstanceHandle) -> Result<(), lucet_runtime::Error> {
//! let result = instance.run_async("main", &[]).await?;
//! # Ok(()) }
//! ```

use crate::error::{Error, TerminationDetails};
use crate::exec::{self, BlockOn, EntryBy, GuestFuture};
use crate::instance::Instance;
use crate::val::{RunResult, Val, YieldedVal};
use crate::vmctx::Vmctx;
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// The future returned by [`Instance::run_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RunAsync<'a> {
    instance: &'a mut Instance,
    state: AsyncState,
}

enum AsyncState {
    // Owned, so the future borrows nothing but the instance.
    Start { entrypoint: String, args: Vec<Val> },
    Resume,
    Waiting(GuestFuture),
    Done,
}

impl Instance {
    /// Runs `entrypoint` as a future; hostcalls may wait for futures with
    /// [`Vmctx::block_on`] without blocking the executor's thread. Other yields end the
    /// future with `RunResult::Yielded`, like [`Instance::run`]; continue those with
    /// `resume` (or [`Instance::resume_async`]).
    pub fn run_async(&mut self, entrypoint: &str, args: &[Val]) -> RunAsync<'_> {
        RunAsync {
            instance: self,
            state: AsyncState::Start { entrypoint: entrypoint.to_string(), args: args.to_vec() },
        }
    }

    /// Resumes a yielded instance as a future (see [`Instance::run_async`]).
    pub fn resume_async(&mut self) -> RunAsync<'_> {
        RunAsync { instance: self, state: AsyncState::Resume }
    }
}

impl Future for RunAsync<'_> {
    type Output = Result<RunResult, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let result = match std::mem::replace(&mut this.state, AsyncState::Done) {
                AsyncState::Start { entrypoint, args } => {
                    this.instance.exec_mut().set_next_entry(EntryBy::Async);
                    let r = this.instance.run(&entrypoint, &args);
                    this.instance.exec_mut().set_next_entry(EntryBy::Sync);
                    r
                }
                AsyncState::Resume => {
                    this.instance.exec_mut().set_next_entry(EntryBy::Async);
                    let r = this.instance.resume();
                    this.instance.exec_mut().set_next_entry(EntryBy::Sync);
                    r
                }
                AsyncState::Waiting(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = AsyncState::Waiting(fut);
                        return Poll::Pending;
                    }
                    Poll::Ready(output) => {
                        drop(fut);
                        this.instance.exec_mut().set_next_entry(EntryBy::Async);
                        let r = this.instance.resume_with_val(output);
                        this.instance.exec_mut().set_next_entry(EntryBy::Sync);
                        r
                    }
                },
                AsyncState::Done => panic!("RunAsync polled after it completed"),
            };
            match result {
                Ok(RunResult::Yielded(YieldedVal(Some(v)))) if v.is::<BlockOn>() => {
                    let BlockOn(fut) = *v.downcast::<BlockOn>().expect("checked with is");
                    this.state = AsyncState::Waiting(fut);
                }
                other => return Poll::Ready(other),
            }
        }
    }
}

impl Vmctx {
    /// Waits for `fut` and returns its output. Inside [`Instance::run_async`] the guest
    /// is suspended and the future is polled by the async run, so the executor is not
    /// blocked; anywhere else the current thread waits for it.
    ///
    /// As with every way of leaving a hostcall frame, drop borrows such as `heap()`
    /// before calling it if the instance may be reset meanwhile.
    pub fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send + 'static,
    {
        if !exec::current_run_is_async() {
            return block_on_thread(fut);
        }
        self.expect_no_borrows_across_yield();
        let boxed: Pin<Box<dyn Future<Output = Box<dyn Any + Send>> + Send + '_>> =
            Box::pin(async move { Box::new(fut.await) as Box<dyn Any + Send> });
        // SAFETY: a hostcall called by guest code inside an async run on this thread.
        let resumed = unsafe { exec::yield_future(boxed) };
        // `resume_with_val` boxes the output once more.
        let output = resumed
            .and_then(|v| v.downcast::<Box<dyn Any + Send>>().ok())
            .and_then(|v| (*v).downcast::<F::Output>().ok());
        match output {
            Some(v) => *v,
            // The host resumed the instance by other means (`resume` instead of the
            // async run): there is no output to continue with.
            None => self.terminate_with(TerminationDetails::Other(
                "a hostcall waiting in Vmctx::block_on was resumed without the future's output; resume it \
                 through the async run (run_async/resume_async)"
                    .to_string(),
            )),
        }
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` to completion on this thread, parking between polls.
fn block_on_thread<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
