//! Fuzz targets for the whole toolchain.
//!
//! Every target is a function from bytes to a [`Verdict`], so that it runs the same way
//! under libFuzzer (`fuzz_targets/`, nightly, coverage-guided) and as a plain program
//! on stable (`lucet-fuzz TARGET --seeds A..B`), where each seed is turned into bytes by
//! a small PRNG ([`seed`]). A seed therefore names one case for good: a failure found
//! by a long run is reproduced with `--seeds N..N+1`.
//!
//! - [`diff`]: generated modules run through lucetc + lucet-runtime and through the
//!   wasmi interpreter; results, traps and the state left behind must agree.
//! - [`load`]: mutated and truncated shared objects through `DlModule::load`.
//! - [`wasi`]: every WASI hostcall with arbitrary arguments against a small memory.
//! - [`compile`]: arbitrary bytes and mutated modules through lucetc.
//!
//! `docs/security.md` ("Fuzzing") says how to run them, what each compares, and which
//! seed ranges have been run.

pub mod alloc_count;
pub mod compile;
pub mod crash_report;
pub mod diff;
pub mod isolate;
pub mod known;
pub mod load;
pub mod runner;
pub mod seed;
pub mod wasi;

/// What one case came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The case ran and everything held; the label says which way it went (for
    /// example `"returned"`, `"trapped"`, `"rejected"`), for the statistics.
    Pass(&'static str),
    /// The case was not run to the end for a reason that is not a fault of the code
    /// under test (the reference interpreter rejected the module, both engines ran
    /// out of stack, ...). Counted apart from passes.
    Skip(&'static str),
    /// Something that must not happen did: a disagreement, a panic, an internal error.
    Fail(String),
}

std::thread_local! {
    /// Where the last panic on this thread happened, recorded by the hook below.
    static PANIC_LOCATION: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Replaces the default panic hook (which prints) with one that records where the
/// panic happened, so that [`catch_panic`] can put the place in the failure message.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let quiet = std::env::var_os("LUCET_FUZZ_PRINT_PANICS").is_none();
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let _ = PANIC_LOCATION.try_with(|p| *p.borrow_mut() = at);
            if !quiet {
                default(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into a failure message that says where it happened.
pub fn catch_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    install_panic_hook();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = if let Some(s) = p.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = p.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-text payload".to_string()
        };
        let at = PANIC_LOCATION
            .try_with(|p| std::mem::take(&mut *p.borrow_mut()))
            .unwrap_or_default();
        format!("panic in {what} at {at}: {msg}")
    })
}
