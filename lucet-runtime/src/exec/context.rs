//! The three pieces of assembly the engine is built on: saving/loading a register
//! context, and the stub every guest stack starts in.
//!
//! A [`Context`] holds exactly what the System V ABI says survives a call — the
//! callee-saved registers `rbx rbp r12–r15`, the stack pointer, the address to continue
//! at — plus MXCSR as it was when the context was saved. Everything else is
//! caller-saved, so a context switch that is *called* like an ordinary function only
//! needs to save these.
//!
//! Floating-point control state: WebAssembly's float semantics need MXCSR's control bits
//! in their power-on state (round to nearest, no flush-to-zero, exceptions masked), and
//! guest code can neither read nor change MXCSR or the x87 control word (it has no
//! instruction for either; Cranelift does all floating point in SSE registers). So:
//!
//! * `swap` saves MXCSR into the context it leaves and, only if its control bits differ
//!   from the default, loads the default before continuing elsewhere: a guest always
//!   starts (and resumes) with the default, whatever the host set for itself.
//! * a context saved by `swap` puts its own MXCSR back when it is continued, again only
//!   if its control bits differ from the default. A host that keeps the default — the
//!   common case — pays for one `stmxcsr` and two compares per call, no `ldmxcsr`. The
//!   status bits (the sticky exception flags) are caller-saved under the ABI, and may
//!   come back with the flags the guest's arithmetic raised.
//! * the x87 control word is left alone: no guest instruction reads or writes it, and
//!   hostcalls running on the guest stack see the host's own, as on the host's stack.
//!
//! * [`swap`]`(save, load)` stores the caller's context into `save` and continues in
//!   `load`. When something later loads `save`, `swap` returns to its caller as if
//!   nothing happened.
//! * [`restore`]`(load)` continues in `load` and never returns. It touches no stack, so
//!   it can run with any `rsp` at all — the signal handler relies on this when it
//!   redirects a faulting guest (see `signals.rs`).
//! * `lucet_runtime_exec_guest_entry` is where a fresh guest context starts: it calls the
//!   trampoline with the arguments the host left in callee-saved registers and, when the
//!   trampoline returns, marks the run as returned and restores the host context.
//!
//! CET shadow stacks would reject the `ret` that follows a stack switch; Rust binaries
//! are not built with shadow-stack support, so the kernel never enables it for us.

use core::arch::global_asm;
use std::mem::offset_of;

/// Saved machine state of one side (host or guest) of a switch.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Context {
    pub rbx: u64,
    pub rbp: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rsp: u64,
    pub rip: u64,
    pub mxcsr: u32,
    pub _pad: u32,
}

/// MXCSR at power-on: all exceptions masked, round to nearest, no flush-to-zero — the
/// only mode in which WebAssembly float semantics hold. Guests always run with its
/// control bits, whatever the host has set for itself.
pub(super) const DEFAULT_MXCSR: u32 = 0x1f80;
/// MXCSR's control bits: all but the six sticky exception flags.
pub(super) const MXCSR_CONTROL_MASK: u32 = !0x3f;

extern "C" {
    fn lucet_runtime_exec_swap(save: *mut Context, load: *const Context);
    fn lucet_runtime_exec_restore(load: *const Context) -> !;
    fn lucet_runtime_exec_guest_entry();
}

/// Saves the current context into `save` and continues in `load`; returns when
/// something loads `save` again.
///
/// # Safety
/// `load` must be a context that is still valid to continue in (its stack alive and
/// unused by anything else), and `save` must stay valid until it is loaded or forgotten.
#[inline(always)]
pub(super) unsafe fn swap(save: *mut Context, load: *const Context) {
    // SAFETY: forwarded to the caller; the assembly follows the System V ABI for a
    // call (it preserves every callee-saved register of whoever loads `save`).
    unsafe { lucet_runtime_exec_swap(save, load) }
}

/// Continues in `load`, abandoning the current stack.
///
/// # Safety
/// As for [`swap`]; in addition nothing on the current stack may be relied upon again.
#[inline(always)]
pub(super) unsafe fn restore(load: *const Context) -> ! {
    // SAFETY: forwarded to the caller.
    unsafe { lucet_runtime_exec_restore(load) }
}

/// Address of the assembly `restore`, for the signal handler to redirect a faulting
/// guest to (with `rdi` = the context to load).
pub(super) fn restore_address() -> usize {
    lucet_runtime_exec_restore as *const () as usize
}

/// Address of the stub a fresh guest context starts in.
pub(super) fn guest_entry_address() -> usize {
    lucet_runtime_exec_guest_entry as *const () as usize
}

// `const` operands in `global_asm!` need a newer compiler than the workspace's minimum,
// so the offsets are written out below and checked against the structs here.
const _: () = {
    assert!(offset_of!(Context, rbx) == 0);
    assert!(offset_of!(Context, rbp) == 8);
    assert!(offset_of!(Context, r12) == 16);
    assert!(offset_of!(Context, r13) == 24);
    assert!(offset_of!(Context, r14) == 32);
    assert!(offset_of!(Context, r15) == 40);
    assert!(offset_of!(Context, rsp) == 48);
    assert!(offset_of!(Context, rip) == 56);
    assert!(offset_of!(Context, mxcsr) == 64);
    assert!(DEFAULT_MXCSR == 0x1f80 && MXCSR_CONTROL_MASK == 0xffff_ffc0);
};

// Register roles in a fresh guest context (set up by `ExecState::run`, consumed by the
// entry stub): rbx = trampoline, r12 = vmctx, r13 = callee, r14 = values, r15 = the run
// frame (whose `host` context the stub returns to and whose `exit` it sets), rbp = 0 so
// frame-pointer walks end here. `.cfi_undefined rip` tells unwinders the same thing.
global_asm!(
    ".pushsection .text.lucet_runtime_exec,\"ax\",@progbits",
    // swap(save: rdi, load: rsi)
    ".globl lucet_runtime_exec_swap",
    ".hidden lucet_runtime_exec_swap",
    ".type lucet_runtime_exec_swap,@function",
    ".p2align 4",
    "lucet_runtime_exec_swap:",
    ".cfi_startproc",
    "mov [rdi + 0], rbx",
    "mov [rdi + 8], rbp",
    "mov [rdi + 16], r12",
    "mov [rdi + 24], r13",
    "mov [rdi + 32], r14",
    "mov [rdi + 40], r15",
    // The saved rsp points at our return address; resuming at label 2 pops it.
    "mov [rdi + 48], rsp",
    "lea rax, [rip + 2f]",
    "mov [rdi + 56], rax",
    "stmxcsr [rdi + 64]",
    "mov eax, [rdi + 64]",
    "and eax, 0xffffffc0",
    "cmp eax, 0x1f80",
    "jne 3f",
    "mov rdi, rsi",
    "jmp lucet_runtime_exec_restore",
    // Continued by `restore` with rdi = this context: put back a non-default MXCSR.
    "2:",
    "mov eax, [rdi + 64]",
    "and eax, 0xffffffc0",
    "cmp eax, 0x1f80",
    "jne 4f",
    "ret",
    "3:",
    // Leaving a context whose MXCSR is not the default: the next one starts with it.
    "ldmxcsr [rip + lucet_runtime_exec_default_mxcsr]",
    "mov rdi, rsi",
    "jmp lucet_runtime_exec_restore",
    "4:",
    "ldmxcsr [rdi + 64]",
    "ret",
    ".cfi_endproc",
    ".size lucet_runtime_exec_swap, . - lucet_runtime_exec_swap",
    // restore(load: rdi) -> !  -- uses no stack.
    ".globl lucet_runtime_exec_restore",
    ".hidden lucet_runtime_exec_restore",
    ".type lucet_runtime_exec_restore,@function",
    ".p2align 4",
    "lucet_runtime_exec_restore:",
    ".cfi_startproc",
    "mov rbx, [rdi + 0]",
    "mov rbp, [rdi + 8]",
    "mov r12, [rdi + 16]",
    "mov r13, [rdi + 24]",
    "mov r14, [rdi + 32]",
    "mov r15, [rdi + 40]",
    // A fault may leave the direction flag set; the ABI requires it clear.
    "cld",
    "mov rsp, [rdi + 48]",
    "jmp qword ptr [rdi + 56]",
    ".cfi_endproc",
    ".size lucet_runtime_exec_restore, . - lucet_runtime_exec_restore",
    // The first instruction of every guest stack.
    ".globl lucet_runtime_exec_guest_entry",
    ".hidden lucet_runtime_exec_guest_entry",
    ".type lucet_runtime_exec_guest_entry,@function",
    ".p2align 4",
    "lucet_runtime_exec_guest_entry:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "mov rdi, r12",
    "mov rsi, r13",
    "mov rdx, r14",
    // rsp is 16-byte aligned here, as the ABI wants at a call.
    "call rbx",
    // frame.exit = EXIT_RETURNED; restore(&frame.host)
    "mov dword ptr [r15 + 144], 1",
    "lea rdi, [r15 + 0]",
    "jmp lucet_runtime_exec_restore",
    "ud2",
    ".cfi_endproc",
    ".size lucet_runtime_exec_guest_entry, . - lucet_runtime_exec_guest_entry",
    ".popsection",
    ".pushsection .rodata.lucet_runtime_exec,\"a\",@progbits",
    ".p2align 2",
    "lucet_runtime_exec_default_mxcsr:",
    ".long 0x1f80",
    ".popsection",
);
