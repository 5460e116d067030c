//! Turning hardware faults in guest code into traps, and leaving every other fault alone.
//!
//! Handlers for SIGSEGV, SIGBUS, SIGILL and SIGFPE are installed once per process, the
//! first time any thread runs a guest; the handlers they replace are remembered and
//! every signal that is not a guest trap is passed on to them. The flags are
//! `SA_SIGINFO` (we need the faulting address and the machine context) and `SA_ONSTACK`
//! (a guest stack overflow leaves no stack to run a handler on). `SA_NODEFER` is not
//! used: the handler leaves by returning, so the kernel restores the signal mask, and a
//! fault inside the handler itself — a runtime bug — then kills the process at once
//! instead of recursing.
//!
//! The kill signal (`SIGURG`, see `kill_switch.rs`) has a handler of its own, installed
//! at the same time with `SA_RESTART` as well, so that the re-sent signals of a kill
//! waiting for a hostcall to return do not make the hostcall's system calls fail with
//! `EINTR` where the kernel can restart them. It stops the guest only if the thread was
//! interrupted in the module's compiled code, the innermost run on the thread is the one
//! being killed, and the kill is for that run's current generation.
//!
//! Every thread that runs a guest gets an alternate signal stack of at least 64 KiB with
//! a guard page below it, on first use. A thread that already has one at least that big
//! keeps it; Rust's standard library installs a smaller one on its threads, which is
//! replaced. Ours is unmapped when the thread exits (the standard library disables the
//! altstack of a thread before its thread-locals are destroyed; if it did not, ours is
//! disabled first).

use super::{context, current_frame, FaultRecord, GuestStack, RunFrame, EXIT_FAULTED, EXIT_KILLED};
use crate::kill_switch::{KILLS_IN_FLIGHT, KILL_SIGNAL};
use lucet_module::TrapCode;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;

use libc::{c_int, c_void, siginfo_t};

const SIGNALS: [c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// Minimum size of a thread's alternate signal stack.
const ALTSTACK_MIN_SIZE: usize = 64 * 1024;

/// The actions that were installed before ours, in `SIGNALS` order.
struct PreviousActions(UnsafeCell<[MaybeUninit<libc::sigaction>; 4]>);

// SAFETY: each entry is written once, inside `INSTALL.call_once`, strictly before our
// handler is installed for that signal (so before any handler can read it), and is only
// read afterwards. The `sigaction` system call that installs the handler orders the write
// before any delivery of that signal on any thread.
unsafe impl Sync for PreviousActions {}

static PREVIOUS: PreviousActions = PreviousActions(UnsafeCell::new([MaybeUninit::uninit(); 4]));
static INSTALL: Once = Once::new();
/// The action installed for the kill signal before ours; same discipline as `PREVIOUS`.
static PREVIOUS_KILL: PreviousActions = PreviousActions(UnsafeCell::new([MaybeUninit::uninit(); 4]));

/// Makes sure this process's fault handlers and this thread's signal stack are in place.
/// Called at the start of every run and resume; after the first time it costs a `Once`
/// check and a thread-local access.
pub(super) fn prepare_thread() {
    INSTALL.call_once(install_handlers);
    // If the thread is already tearing down its thread-locals there is nothing sensible
    // to install; whatever altstack the thread has stays in use.
    let _ = ALTSTACK.try_with(|_| ());
}

fn install_handlers() {
    for (i, &signum) in SIGNALS.iter().enumerate() {
        // SAFETY: plain `sigaction` calls with valid pointers. `PREVIOUS[i]` is written
        // before our handler is installed for `signum`, see `PreviousActions`.
        unsafe {
            let previous = (*PREVIOUS.0.get())[i].as_mut_ptr();
            let rc = libc::sigaction(signum, ptr::null(), previous);
            assert_eq!(rc, 0, "cannot read the current handler of signal {signum}");

            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handle_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let rc = libc::sigaction(signum, &action, ptr::null_mut());
            assert_eq!(rc, 0, "cannot install the guest fault handler for signal {signum}");
        }
    }
    // SAFETY: as above, for the kill signal.
    unsafe {
        let previous = (*PREVIOUS_KILL.0.get())[0].as_mut_ptr();
        let rc = libc::sigaction(KILL_SIGNAL, ptr::null(), previous);
        assert_eq!(rc, 0, "cannot read the current handler of the kill signal");
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handle_kill as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        let rc = libc::sigaction(KILL_SIGNAL, &action, ptr::null_mut());
        assert_eq!(rc, 0, "cannot install the kill signal handler");
    }
}

/// The kill signal's handler. Async-signal-safe: it reads a thread-local pointer and an
/// atomic word, calls the run's `TrapLookup`, and writes plain data.
extern "C" fn handle_kill(signum: c_int, info: *mut siginfo_t, ucontext: *mut c_void) {
    // SAFETY: as in `handle_fault`.
    unsafe {
        if !redirect_killed_guest(ucontext) && KILLS_IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            forward_kill_signal(signum, info, ucontext);
        }
    }
}

/// If the innermost run on this thread has a kill pending for its current generation
/// and the thread was interrupted in guest code, stops the guest like a fault would.
/// Returns whether the signal was for that run (even if it could not act yet).
///
/// # Safety
/// Only from `handle_kill`, with the kernel's arguments.
unsafe fn redirect_killed_guest(ucontext: *mut c_void) -> bool {
    if ucontext.is_null() {
        return false;
    }
    let frame = current_frame();
    if frame.is_null() {
        return false;
    }
    // SAFETY: a non-null CURRENT is the frame of a run on this thread; its kill state is
    // kept alive by the `ExecState` that owns the frame.
    let (state, gen, lookup, stack) = unsafe { ((*frame).kill, (*frame).kill_gen, (*frame).lookup, (*frame).stack) };
    // SAFETY: as above.
    let Some(reason) = (unsafe { state.as_ref() }).and_then(|s| s.pending(gen)) else { return false };
    let Some(lookup) = lookup else { return true };
    // SAFETY: non-null pointer from the kernel.
    let uc = unsafe { &mut *(ucontext as *mut libc::ucontext_t) };
    let pc = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
    // Anywhere but guest code (a hostcall, a builtin, the runtime's entry and exit) the
    // thread may hold locks or own resources: leave it; the signal is sent again.
    // SAFETY: the lookup is kept alive by the `ExecState` for as long as the pointer is set.
    if (unsafe { lookup.as_ref() }).lookup(pc).is_none() {
        return true;
    }
    // SAFETY: the host side only reads these after it is resumed; both are plain data.
    unsafe {
        ptr::addr_of_mut!((*frame).killed).write(Some(reason));
        ptr::addr_of_mut!((*frame).exit).write(EXIT_KILLED);
    }
    redirect_to_host(frame, stack, uc);
    true
}

/// Passes a kill signal that was not for a guest to whoever handled it before us. The
/// default action of `SIGURG` is to ignore it, so for `SIG_DFL` and `SIG_IGN` nothing
/// is done.
///
/// # Safety
/// Only from `handle_kill`, with the kernel's arguments.
unsafe fn forward_kill_signal(signum: c_int, info: *mut siginfo_t, ucontext: *mut c_void) {
    // SAFETY: written before our handler was installed, read-only since.
    let previous = unsafe { (*PREVIOUS_KILL.0.get())[0].assume_init_ref() };
    match previous.sa_sigaction {
        libc::SIG_DFL | libc::SIG_IGN => {}
        // SAFETY: the kernel's arguments, passed on to a handler the previous owner set.
        _ => unsafe { call_handler(previous, signum, info, ucontext) },
    }
}

/// Calls the handler function `action` names (not `SIG_DFL` or `SIG_IGN`), with the
/// signature its `SA_SIGINFO` flag says it was registered with.
///
/// # Safety
/// `action` must hold a handler function, and the arguments must be the kernel's.
unsafe fn call_handler(action: &libc::sigaction, signum: c_int, info: *mut siginfo_t, ucontext: *mut c_void) {
    let handler = action.sa_sigaction;
    if action.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO the previous owner registered this signature.
        let f: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) = unsafe { std::mem::transmute(handler) };
        f(signum, info, ucontext);
    } else {
        // SAFETY: without SA_SIGINFO the previous owner registered this signature.
        let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(handler) };
        f(signum);
    }
}

/// Edits the interrupted context so that returning from the handler loads the run's
/// host context (see the module documentation of `exec`).
fn redirect_to_host(frame: *mut RunFrame, stack: GuestStack, uc: &mut libc::ucontext_t) {
    let gregs = &mut uc.uc_mcontext.gregs;
    gregs[libc::REG_RIP as usize] = context::restore_address() as i64;
    // SAFETY: only computes an address inside the frame.
    gregs[libc::REG_RDI as usize] = unsafe { ptr::addr_of!((*frame).host) } as i64;
    // `restore` uses no stack, but a signal arriving before it switches stacks would be
    // delivered on this one: make it the top of the guest stack, not the overflowed guard.
    gregs[libc::REG_RSP as usize] = (stack.top - 16) as i64;
}

/// The handler for all four signals. Async-signal-safe: it reads a thread-local pointer,
/// calls the run's `TrapLookup` (async-signal-safe by contract), writes plain data, and
/// otherwise only makes system calls.
extern "C" fn handle_fault(signum: c_int, info: *mut siginfo_t, ucontext: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext for an SA_SIGINFO handler;
    // the frame pointer, if set, points at the live frame of the run on this thread.
    unsafe {
        if !redirect_guest_trap(signum, info, ucontext) {
            forward(signum, info, ucontext);
        }
    }
}

/// If this signal is a trap of the guest running on this thread, records it and edits
/// the machine context so that returning from the handler lands in the host context.
///
/// # Safety
/// Only from `handle_fault`, with the kernel's arguments.
unsafe fn redirect_guest_trap(signum: c_int, info: *mut siginfo_t, ucontext: *mut c_void) -> bool {
    if info.is_null() || ucontext.is_null() {
        return false;
    }
    // SAFETY: non-null pointers from the kernel.
    let (info, uc) = unsafe { (&*info, &mut *(ucontext as *mut libc::ucontext_t)) };
    // A signal someone sent with kill() or sigqueue() is not a fault of the guest.
    if info.si_code <= 0 {
        return false;
    }
    let frame = current_frame();
    if frame.is_null() {
        return false;
    }
    // SAFETY: a non-null CURRENT is the frame of a run on this thread, whose host side is
    // suspended (or about to be: then the pc is in runtime code and we bail out below).
    let (lookup, stack): (_, GuestStack) = unsafe { ((*frame).lookup, (*frame).stack) };
    let Some(lookup) = lookup else { return false };
    let pc = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
    // SAFETY: the lookup is kept alive by the `ExecState` for as long as the pointer is set.
    let Some(mut trap) = (unsafe { lookup.as_ref() }).lookup(pc) else { return false };

    let fault_addr = match signum {
        // SAFETY: si_addr is meaningful for these two signals.
        libc::SIGSEGV | libc::SIGBUS => Some(unsafe { info.si_addr() } as usize),
        _ => None,
    };
    if trap.code == TrapCode::Unknown {
        if let Some(addr) = fault_addr {
            if (stack.guard_start..stack.guard_end).contains(&addr) {
                trap.code = TrapCode::StackOverflow;
            }
        }
    }
    // SAFETY: the host side only reads these after it is resumed, which happens after
    // this handler returns. `FaultRecord` is `Copy`, so the write drops nothing.
    unsafe {
        ptr::addr_of_mut!((*frame).fault).write(Some(FaultRecord { trap, rip: pc, fault_addr }));
        ptr::addr_of_mut!((*frame).exit).write(EXIT_FAULTED);
    }
    redirect_to_host(frame, stack, uc);
    true
}

/// Passes a signal that is not a guest trap to whoever handled it before us.
///
/// # Safety
/// Only from `handle_fault`, with the kernel's arguments.
unsafe fn forward(signum: c_int, info: *mut siginfo_t, ucontext: *mut c_void) {
    let Some(i) = SIGNALS.iter().position(|&s| s == signum) else { return };
    // SAFETY: written before our handler was installed, read-only since.
    let previous = unsafe { (*PREVIOUS.0.get())[i].assume_init_ref() };
    // SAFETY: `info`, if non-null, is the kernel's siginfo.
    let sent_by_process = !info.is_null() && unsafe { (*info).si_code } <= 0;
    match previous.sa_sigaction {
        libc::SIG_IGN if sent_by_process => {}
        libc::SIG_DFL | libc::SIG_IGN => {
            // Put the default action back. A fault raised by an instruction happens again
            // when we return and now kills the process (with a core dump where enabled);
            // a signal sent by a process is sent again, and delivered once we return.
            // SAFETY: plain system calls with valid arguments.
            unsafe {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigemptyset(&mut default.sa_mask);
                libc::sigaction(signum, &default, ptr::null_mut());
                if sent_by_process {
                    libc::raise(signum);
                }
            }
        }
        // SAFETY: the kernel's arguments, passed on to a handler the previous owner set.
        _ => unsafe { call_handler(previous, signum, info, ucontext) },
    }
}

/// This thread's alternate signal stack, if we had to install one.
struct AltStack {
    /// The whole mapping (guard page included), or null if the thread kept its own.
    mapping: *mut c_void,
    mapping_len: usize,
    /// `ss_sp` as registered.
    sp: *mut c_void,
}

thread_local! {
    static ALTSTACK: AltStack = AltStack::install();
}

impl AltStack {
    const NONE: AltStack = AltStack { mapping: ptr::null_mut(), mapping_len: 0, sp: ptr::null_mut() };

    fn install() -> AltStack {
        let size = ALTSTACK_MIN_SIZE.max(libc::SIGSTKSZ);
        // SAFETY: system calls with valid arguments; the mapping is ours alone until it
        // is registered, and is unregistered before it is unmapped (see `drop`).
        unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(ptr::null(), &mut current) == 0
                && current.ss_flags & libc::SS_DISABLE == 0
                && current.ss_size >= size
            {
                return AltStack::NONE;
            }
            let page = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).unwrap_or(4096);
            let size = size.div_ceil(page) * page;
            let mapping_len = size + page;
            let mapping = libc::mmap(
                ptr::null_mut(),
                mapping_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if mapping == libc::MAP_FAILED {
                // Out of memory: keep whatever the thread has. A guest stack overflow
                // without an altstack kills the process, which is loud, not unsound.
                return AltStack::NONE;
            }
            // A failed mprotect only loses the guard page.
            libc::mprotect(mapping, page, libc::PROT_NONE);
            let sp = (mapping as *mut u8).add(page) as *mut c_void;
            let stack = libc::stack_t { ss_sp: sp, ss_flags: 0, ss_size: size };
            if libc::sigaltstack(&stack, ptr::null_mut()) != 0 {
                libc::munmap(mapping, mapping_len);
                return AltStack::NONE;
            }
            AltStack { mapping, mapping_len, sp }
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.mapping.is_null() {
            return;
        }
        // SAFETY: the thread is exiting and runs no guest any more; if our stack is still
        // registered it is disabled before it is unmapped, so no signal can land on it.
        unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(ptr::null(), &mut current) == 0
                && current.ss_flags & libc::SS_DISABLE == 0
                && current.ss_sp == self.sp
            {
                let disable = libc::stack_t { ss_sp: ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
                libc::sigaltstack(&disable, ptr::null_mut());
            }
            libc::munmap(self.mapping, self.mapping_len);
        }
    }
}
