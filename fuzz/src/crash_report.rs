//! Naming the seed that took the process down.
//!
//! Most failures come back as a [`crate::Verdict`], but a host crash (the very thing
//! the targets look for) ends the process. Each worker therefore publishes the seed it
//! is running, and handlers for the fatal signals print those seeds before the process
//! dies. They are installed before lucet-runtime installs its own, so the runtime
//! forwards faults that are not guest traps to them; they print, put back the handler
//! that was there before, and return, so the fault recurs and ends the process as it
//! would have.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

const MAX_WORKERS: usize = 256;
const IDLE: u64 = u64::MAX;

static CURRENT: [AtomicU64; MAX_WORKERS] = [const { AtomicU64::new(IDLE) }; MAX_WORKERS];
static TARGET: AtomicU64 = AtomicU64::new(0);
/// Set in a child process of [`crate::isolate`], whose parent reports the crash.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
const TARGETS: [&str; 5] = ["?", "diff", "load", "wasi", "compile"];
const SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
];

/// The handlers that were installed before ours, by position in [`SIGNALS`].
static mut PREVIOUS: [std::mem::MaybeUninit<libc::sigaction>; 5] =
    [const { std::mem::MaybeUninit::uninit() }; 5];

pub fn set_current(worker: usize, seed: u64) {
    if let Some(slot) = CURRENT.get(worker) {
        slot.store(seed, Ordering::Relaxed);
    }
}

/// Leaves reporting to the parent process (see [`crate::isolate`]).
pub fn quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

pub fn clear_current(worker: usize) {
    set_current(worker, IDLE);
}

/// Installs the handlers (once) and names the target in their message.
pub fn install(target: &str) {
    let t = TARGETS.iter().position(|&n| n == target).unwrap_or(0);
    TARGET.store(t as u64, Ordering::Relaxed);
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: `sa` is fully initialised before use; `PREVIOUS[i]` is written here,
            // inside `call_once`, before the handler that reads it can run (it is
            // installed by this same call), and never written again.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_fatal_signal
                    as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                    as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut sa.sa_mask);
                let prev = (*std::ptr::addr_of_mut!(PREVIOUS))[i].as_mut_ptr();
                libc::sigaction(sig, &sa, prev);
            }
        }
    });
}

/// Writes `bytes` to stderr with the async-signal-safe `write`.
fn write_stderr(bytes: &[u8]) {
    // SAFETY: `write` reads `bytes.len()` bytes from a live slice.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

fn write_number(mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    write_stderr(&buf[i..]);
}

extern "C" fn on_fatal_signal(
    sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    if QUIET.load(Ordering::Relaxed) {
        restore_previous(sig);
        return;
    }
    let target = TARGETS[(TARGET.load(Ordering::Relaxed) as usize).min(TARGETS.len() - 1)];
    write_stderr(b"\nlucet-fuzz: fatal signal ");
    write_number(sig as u64);
    write_stderr(b" while running ");
    write_stderr(target.as_bytes());
    write_stderr(b" seed(s):");
    for slot in CURRENT.iter() {
        let seed = slot.load(Ordering::Relaxed);
        if seed != IDLE {
            write_stderr(b" ");
            write_number(seed);
        }
    }
    write_stderr(b"\n");
    restore_previous(sig);
}

/// Puts back the handler that was installed before ours for `sig`.
fn restore_previous(sig: libc::c_int) {
    if let Some(i) = SIGNALS.iter().position(|&s| s == sig) {
        // SAFETY: `PREVIOUS[i]` was filled by `sigaction` in `install` before this
        // handler was installed, and is only read from here on.
        unsafe {
            let prev = (*std::ptr::addr_of!(PREVIOUS))[i].as_ptr();
            libc::sigaction(sig, prev, std::ptr::null_mut());
        }
    }
}

/// Makes writes past the process's file-size limit fail with `EFBIG` instead of
/// killing the process with `SIGXFSZ`, and sets that limit, so that a guest asking
/// the WASI target to allocate or write terabytes gets an error, not the disk.
pub fn limit_file_size(bytes: u64) {
    // SAFETY: setting a signal's disposition to "ignore" has no memory effects; no
    // handler of ours or the runtime's is involved for this signal.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let limit = rustix::process::Rlimit {
        current: Some(bytes),
        maximum: None,
    };
    let _ = rustix::process::setrlimit(rustix::process::Resource::Fsize, limit);
}
