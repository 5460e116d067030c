//! Turning hardware faults in guest code into traps, aborting on faults guest code must
//! never take, and leaving every other fault alone.
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
//! A SIGSEGV or SIGBUS raised by guest code is a trap only if its address lies in the
//! run's [`FaultRanges`] (heap reservations and guards) or in the guest stack's guard.
//! Anywhere else the process is aborted with a message on stderr, written with
//! `write(2)` from a stack buffer: compiled code that reaches such an address has
//! escaped the sandbox, and reporting a trap would let the host carry on regardless.
//!
//! Signals that are not for us go to the handler installed before ours. That handler
//! may change the disposition while it runs — Rust's standard library resets SIGSEGV
//! and SIGBUS to the default for anything that is not a stack overflow of its own — so
//! whatever was installed before the call is put back afterwards. The one exception is
//! a fault raised by an instruction for which the previous handler chose the default
//! action (or to ignore it): the instruction faults again when the handler returns,
//! and the default action ends the process, as that handler intended.
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

use super::context;
use super::fault_ranges::FaultRanges;
use super::frame::{current_frame, FaultRecord, GuestStack, RunFrame, EXIT_FAULTED, EXIT_KILLED, THREAD};
use super::kill_state::{KILLS_IN_FLIGHT, KILL_SIGNAL};
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

/// The size `prepare_thread` is asked for when a guest wants a signal stack of
/// `signal_stack_size` bytes (`Limits::signal_stack_size`): never less than
/// `ALTSTACK_MIN_SIZE`. Computed once per `ExecState`.
pub(super) fn altstack_size(signal_stack_size: usize) -> usize {
    signal_stack_size.max(ALTSTACK_MIN_SIZE).max(libc::SIGSTKSZ)
}

/// Makes sure this process's fault handlers and this thread's signal stack are in place,
/// the stack at least `want` bytes (from [`altstack_size`]), and returns this thread's
/// kernel thread id. Called at the start of every run and resume; after the first time
/// on a thread it costs two thread-local loads and a comparison.
#[inline(always)]
pub(super) fn prepare_thread(want: usize) -> i32 {
    // `ready_size` is set only by `prepare_thread_slow` on this thread, after the
    // handlers are installed and `tid` is known.
    let (ready, tid) = THREAD.with(|t| (t.ready_size.get(), t.tid.get()));
    if ready >= want {
        return tid;
    }
    prepare_thread_slow(want)
}

#[cold]
#[inline(never)]
fn prepare_thread_slow(want: usize) -> i32 {
    INSTALL.call_once(install_handlers);
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
    THREAD.with(|t| t.tid.set(tid));
    // If the thread is already tearing down its thread-locals there is nothing sensible
    // to install; whatever altstack the thread has stays in use.
    let _ = ALTSTACK.try_with(|a| {
        // Only this function borrows it, and never from a signal handler.
        if let Ok(mut a) = a.try_borrow_mut() {
            if a.size < want {
                // The old stack (if ours) is unmapped only after the new one is registered;
                // if no new one could be made, the old one stays.
                let new = AltStack::install(want);
                if new.size > 0 {
                    *a = new;
                }
            }
            THREAD.with(|t| t.ready_size.set(a.size));
        }
    });
    tid
}

fn install_handlers() {
    for (i, &signum) in SIGNALS.iter().enumerate() {
        // SAFETY: plain `sigaction` calls with valid pointers. `PREVIOUS[i]` is written
        // before our handler is installed for `signum`, see `PreviousActions`.
        unsafe {
            let previous = (*PREVIOUS.0.get())[i].as_mut_ptr();
            let rc = libc::sigaction(signum, ptr::null(), previous);
            assert_eq!(rc, 0, "cannot read the current handler of signal {signum}");

            let action = our_action(handle_fault, libc::SA_SIGINFO | libc::SA_ONSTACK);
            let rc = libc::sigaction(signum, &action, ptr::null_mut());
            assert_eq!(rc, 0, "cannot install the guest fault handler for signal {signum}");
        }
    }
    // SAFETY: as above, for the kill signal.
    unsafe {
        let previous = (*PREVIOUS_KILL.0.get())[0].as_mut_ptr();
        let rc = libc::sigaction(KILL_SIGNAL, ptr::null(), previous);
        assert_eq!(rc, 0, "cannot read the current handler of the kill signal");
        let action = our_action(handle_kill, libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART);
        let rc = libc::sigaction(KILL_SIGNAL, &action, ptr::null_mut());
        assert_eq!(rc, 0, "cannot install the kill signal handler");
    }
}

type Handler = extern "C" fn(c_int, *mut siginfo_t, *mut c_void);

/// The action that installs `handler` with `flags` and an empty mask.
fn our_action(handler: Handler, flags: c_int) -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value; the fields that matter are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as *const () as usize;
    action.sa_flags = flags;
    // SAFETY: initialises the mask of our own local.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    action
}

/// The kill signal's handler. Async-signal-safe: it reads a thread-local pointer and an
/// atomic word (the run's kill request), calls the run's `TrapLookup`, and writes plain
/// data.
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
    // SAFETY: a non-null current frame (`THREAD.current`) is the frame of a run on this
    // thread; its kill state is kept alive by the `ExecState` that owns the frame.
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
        _ => unsafe { chain(previous, signum, info, ucontext, Origin::Sent) },
    }
}

/// What raised a signal, which decides what returning from its handler does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The kernel, for the interrupted instruction: returning runs it again, and unless
    /// a handler fixed its cause it raises the signal again.
    Instruction,
    /// `kill`, `tgkill`, `sigqueue` or the like: nothing happens again.
    Sent,
}

/// Calls the previous handler `action` and keeps the disposition of `signum` what it
/// was before the call (ours, or whatever was installed on top of ours and passed the
/// signal down to us), except where the previous handler asked for the default action
/// (or to ignore it) on a fault that recurs: the process then ends as it intended.
///
/// # Safety
/// As for `call_handler`.
unsafe fn chain(action: &libc::sigaction, signum: c_int, info: *mut siginfo_t, ucontext: *mut c_void, origin: Origin) {
    // SAFETY: `sigaction` only reads and writes the locals passed to it.
    let mut before: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let known = unsafe { libc::sigaction(signum, ptr::null(), &mut before) } == 0;
    // SAFETY: forwarded to the caller.
    unsafe { call_handler(action, signum, info, ucontext) };
    if !known {
        return;
    }
    // SAFETY: as above.
    let mut after: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaction(signum, ptr::null(), &mut after) } != 0 || after.sa_sigaction == before.sa_sigaction {
        return;
    }
    // A default or ignoring disposition before the call means another thread's previous
    // handler was running meanwhile, and that thread puts back what it saw.
    if matches!(before.sa_sigaction, libc::SIG_DFL | libc::SIG_IGN) {
        return;
    }
    if origin == Origin::Instruction && matches!(after.sa_sigaction, libc::SIG_DFL | libc::SIG_IGN) {
        return;
    }
    // SAFETY: re-installs the action that was in place a moment ago.
    unsafe { libc::sigaction(signum, &before, ptr::null_mut()) };
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
    // SAFETY: a non-null current frame (`THREAD.current`) is the frame of a run on this
    // thread, whose host side is suspended (or about to be: then the pc is in runtime
    // code and we bail out below).
    let (lookup, ranges, stack): (_, *const FaultRanges, GuestStack) =
        unsafe { ((*frame).lookup, (*frame).fault_ranges, (*frame).stack) };
    let Some(lookup) = lookup else { return false };
    let pc = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
    // SAFETY: the lookup is kept alive by the `ExecState` for as long as the pointer is set.
    let Some(mut trap) = (unsafe { lookup.as_ref() }).lookup(pc) else { return false };

    let fault_addr = match signum {
        // SAFETY: si_addr is meaningful for these two signals.
        libc::SIGSEGV | libc::SIGBUS => Some(unsafe { info.si_addr() } as usize),
        _ => None,
    };
    if let Some(addr) = fault_addr {
        let in_stack_guard = (stack.guard_start..stack.guard_end).contains(&addr);
        // SAFETY: the ranges are kept alive by the `ExecState` while the pointer is set.
        let in_memory = !ranges.is_null() && unsafe { (*ranges).contains(addr) };
        if !in_stack_guard && !in_memory {
            abort_stray_fault(signum, pc, addr, trap.function);
        }
        if trap.code == TrapCode::Unknown && in_stack_guard {
            trap.code = TrapCode::StackOverflow;
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
        _ => unsafe {
            let origin = if sent_by_process { Origin::Sent } else { Origin::Instruction };
            chain(previous, signum, info, ucontext, origin)
        },
    }
}

/// Ends the process over a fault of compiled code at an address it must never reach.
/// Async-signal-safe: formats into a stack buffer, `write(2)`s it and aborts.
fn abort_stray_fault(signum: c_int, pc: usize, addr: usize, function: Option<u32>) -> ! {
    let mut m = StackMessage::new();
    m.push("lucet-runtime: fatal: compiled guest code at pc ");
    m.hex(pc as u64);
    if let Some(f) = function {
        m.push(" (function ");
        m.dec(f as u64);
        m.push(")");
    }
    m.push(match signum {
        libc::SIGBUS => " raised SIGBUS",
        _ => " raised SIGSEGV",
    });
    m.push(" at address ");
    m.hex(addr as u64);
    m.push(
        ", outside every heap reservation and guard the running instance may access and outside its \
         stack guard. Guest code cannot cause this: it is a bug in lucetc or lucet-runtime, and \
         earlier accesses may already have reached memory outside the sandbox. Aborting instead of \
         reporting a trap.\n",
    );
    m.write_to_stderr();
    // SAFETY: abort is async-signal-safe and never returns.
    unsafe { libc::abort() }
}

/// A message built without allocating, for signal handlers. Text past its capacity is
/// dropped.
struct StackMessage {
    buf: [u8; 640],
    len: usize,
}

impl StackMessage {
    fn new() -> StackMessage {
        StackMessage { buf: [0; 640], len: 0 }
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn push(&mut self, s: &str) {
        self.push_bytes(s.as_bytes());
    }

    fn hex(&mut self, v: u64) {
        let mut digits = [0u8; 16];
        let mut n = 0;
        let mut v = v;
        loop {
            digits[15 - n] = b"0123456789abcdef"[(v & 15) as usize];
            n += 1;
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.push("0x");
        self.push_bytes(&digits[16 - n..]);
    }

    fn dec(&mut self, v: u64) {
        let mut digits = [0u8; 20];
        let mut n = 0;
        let mut v = v;
        loop {
            digits[19 - n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push_bytes(&digits[20 - n..]);
    }

    fn write_to_stderr(&self) {
        let mut at = 0;
        while at < self.len {
            // SAFETY: writes initialised bytes of our own buffer.
            let n =
                unsafe { libc::write(libc::STDERR_FILENO, self.buf[at..].as_ptr() as *const c_void, self.len - at) };
            if n > 0 {
                at += n as usize;
            // SAFETY: reads this thread's errno.
            } else if n < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
                continue;
            } else {
                return;
            }
        }
    }
}

/// This thread's alternate signal stack, if we had to install one.
struct AltStack {
    /// The whole mapping (guard page included), or null if the thread kept its own.
    mapping: *mut c_void,
    mapping_len: usize,
    /// `ss_sp` as registered.
    sp: *mut c_void,
    /// Size of the alternate stack in effect on this thread (ours or the thread's own);
    /// 0 before the first run.
    size: usize,
}

thread_local! {
    static ALTSTACK: std::cell::RefCell<AltStack> = const { std::cell::RefCell::new(AltStack::NONE) };
}

impl AltStack {
    const NONE: AltStack = AltStack { mapping: ptr::null_mut(), mapping_len: 0, sp: ptr::null_mut(), size: 0 };

    /// An alternate stack of at least `size` bytes: the thread's own if it is big enough,
    /// else a new mapping, registered before this returns.
    fn install(size: usize) -> AltStack {
        // SAFETY: system calls with valid arguments; the mapping is ours alone until it
        // is registered, and is unregistered before it is unmapped (see `drop`).
        unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(ptr::null(), &mut current) == 0
                && current.ss_flags & libc::SS_DISABLE == 0
                && current.ss_size >= size
            {
                return AltStack { size: current.ss_size, ..AltStack::NONE };
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
            AltStack { mapping, mapping_len, sp, size }
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
