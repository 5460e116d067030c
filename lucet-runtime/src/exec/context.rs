//! The three pieces of assembly the engine is built on: saving/loading a register
//! context, and entering a guest on its own stack.
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
//! * `swap` and `enter` save MXCSR into the context they leave and, only if its control
//!   bits differ from the default, load the default before continuing elsewhere: a guest
//!   always starts (and resumes) with the default, whatever the host set for itself.
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
//! * `enter` (`lucet_runtime_exec_enter`) is how every fresh entry starts: it saves the
//!   host context like `swap`, switches to the guest stack and *calls* the trampoline;
//!   when that returns, it puts back the last saved host context and returns. A `call`
//!   matched by a `ret` on each side keeps the processor's return predictions right,
//!   which the jumps of `swap`/`restore` do not; anything else that ends the run loads
//!   the host context with `restore` and continues at `enter`'s label 2.
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
    fn lucet_runtime_exec_enter(
        vmctx: *mut u8,
        callee: *const u8,
        values: *mut [u8; 16],
        trampoline: *const u8,
        host: *mut Context,
        sp: usize,
    ) -> u32;
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

/// Saves the current context into `host`, switches to the stack whose pointer is `sp`
/// and calls `trampoline(vmctx, callee, values)` there. Returns `true` when the
/// trampoline returned, with the host context put back from `host` and `1`
/// (`EXIT_RETURNED`) stored in the `u32` that follows `host` at offset 72; `false` when
/// something loaded `host` instead (a trap, a terminate, a yield, a kill), which says
/// why in that `u32`'s frame.
///
/// If the guest yields and is resumed by [`swap`]`(host, …)`, the trampoline's return
/// lands in that resumer (its `swap` returns), since it reloads everything from `host`.
///
/// # Safety
/// `host` must point at the `host` context of a live `RunFrame` (its `exit` at offset
/// 72), valid until the guest has left; `sp` must be 16-byte aligned, with at least 16
/// unused bytes above it and a usable stack below it that nothing else uses; the
/// trampoline, callee, vmctx and values must be valid to call under the trampoline ABI.
#[inline(always)]
pub(super) unsafe fn enter(
    trampoline: *const u8,
    vmctx: *mut u8,
    callee: *const u8,
    values: *mut [u8; 16],
    host: *mut Context,
    sp: usize,
) -> bool {
    // SAFETY: forwarded to the caller; the assembly follows the System V ABI for a call
    // (it preserves every callee-saved register of its caller, or of whoever loaded
    // `host` last, whose call it then completes).
    unsafe { lucet_runtime_exec_enter(vmctx, callee, values, trampoline, host, sp) != 0 }
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

// `enter` keeps the frame in rbx (callee-saved, so the trampoline preserves it) while
// the guest runs, and sets rbp = 0 so frame-pointer walks end at the trampoline; the
// `.cfi_undefined rip` around the call tells unwinders the same thing.
global_asm!(
    // The context layout (offsets checked above), written once for the four routines.
    ".macro lucet_exec_save_callee_saved base",
    "mov [\\base + 0], rbx",
    "mov [\\base + 8], rbp",
    "mov [\\base + 16], r12",
    "mov [\\base + 24], r13",
    "mov [\\base + 32], r14",
    "mov [\\base + 40], r15",
    ".endm",
    ".macro lucet_exec_load_callee_saved base",
    "mov rbx, [\\base + 0]",
    "mov rbp, [\\base + 8]",
    "mov r12, [\\base + 16]",
    "mov r13, [\\base + 24]",
    "mov r14, [\\base + 32]",
    "mov r15, [\\base + 40]",
    ".endm",
    // Sets ZF when the MXCSR saved in the context has the default control bits.
    ".macro lucet_exec_mxcsr_check base",
    "mov eax, [\\base + 64]",
    "and eax, 0xffffffc0",
    "cmp eax, 0x1f80",
    ".endm",
    ".pushsection .text.lucet_runtime_exec,\"ax\",@progbits",
    // swap(save: rdi, load: rsi)
    ".globl lucet_runtime_exec_swap",
    ".hidden lucet_runtime_exec_swap",
    ".type lucet_runtime_exec_swap,@function",
    ".p2align 4",
    "lucet_runtime_exec_swap:",
    ".cfi_startproc",
    "lucet_exec_save_callee_saved rdi",
    // The saved rsp points at our return address; resuming at label 2 pops it.
    "mov [rdi + 48], rsp",
    "lea rax, [rip + 2f]",
    "mov [rdi + 56], rax",
    "stmxcsr [rdi + 64]",
    "lucet_exec_mxcsr_check rdi",
    "jne 3f",
    "mov rdi, rsi",
    "jmp lucet_runtime_exec_restore",
    // Continued by `restore` with rdi = this context: put back a non-default MXCSR.
    "2:",
    "lucet_exec_mxcsr_check rdi",
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
    "lucet_exec_load_callee_saved rdi",
    // A fault may leave the direction flag set; the ABI requires it clear.
    "cld",
    "mov rsp, [rdi + 48]",
    "jmp qword ptr [rdi + 56]",
    ".cfi_endproc",
    ".size lucet_runtime_exec_restore, . - lucet_runtime_exec_restore",
    // enter(vmctx: rdi, callee: rsi, values: rdx, trampoline: rcx, host: r8, sp: r9)
    //   -> eax: 1 = the trampoline returned, 0 = something loaded `host`.
    // The common case is call/ret balanced: the host's call of `enter` is answered by
    // the `ret` at the end of the fast epilogue, and the trampoline's return by the
    // instruction after `call rcx`, so both returns are predicted; no indirect jump.
    ".globl lucet_runtime_exec_enter",
    ".hidden lucet_runtime_exec_enter",
    ".type lucet_runtime_exec_enter,@function",
    ".p2align 4",
    "lucet_runtime_exec_enter:",
    ".cfi_startproc",
    // First: `stmxcsr` takes long to deliver its value, and the stores below hide it.
    "stmxcsr [r8 + 64]",
    "lucet_exec_save_callee_saved r8",
    // As in `swap`: the saved rsp points at our return address, and `restore` of this
    // context continues at label 2, which pops it.
    "mov [r8 + 48], rsp",
    "lea rax, [rip + 2f]",
    "mov [r8 + 56], rax",
    "lucet_exec_mxcsr_check r8",
    "jne 5f",
    "1:",
    "mov rbx, r8",
    "xor ebp, ebp",
    "mov rsp, r9",
    ".cfi_remember_state",
    ".cfi_undefined rip",
    // rdi, rsi, rdx are already the trampoline's arguments; rsp is 16-byte aligned.
    "call rcx",
    // The trampoline returned, on the guest stack. Put back the host context that was
    // saved last: ours, or that of a `swap` that resumed a yielded guest (whose saved
    // rsp points at `swap`'s return address, so the `ret` below completes that call
    // just as `swap`'s own label 2 would). Either way the host learns from `exit`.
    "mov dword ptr [rbx + 72], 1",
    "mov rdi, rbx",
    "lucet_exec_load_callee_saved rdi",
    "mov rsp, [rdi + 48]",
    ".cfi_restore_state",
    "lucet_exec_mxcsr_check rdi",
    "jne 4f",
    "mov eax, 1",
    "ret",
    // Continued by `restore` with rdi = `host`: the guest left some other way.
    "2:",
    "lucet_exec_mxcsr_check rdi",
    "jne 3f",
    "xor eax, eax",
    "ret",
    "3:",
    "ldmxcsr [rdi + 64]",
    "xor eax, eax",
    "ret",
    "4:",
    "ldmxcsr [rdi + 64]",
    "mov eax, 1",
    "ret",
    // Entering from a host whose MXCSR is not the default: the guest starts with it.
    "5:",
    "ldmxcsr [rip + lucet_runtime_exec_default_mxcsr]",
    "jmp 1b",
    ".cfi_endproc",
    ".size lucet_runtime_exec_enter, . - lucet_runtime_exec_enter",
    ".popsection",
    ".pushsection .rodata.lucet_runtime_exec,\"a\",@progbits",
    ".p2align 2",
    "lucet_runtime_exec_default_mxcsr:",
    ".long 0x1f80",
    ".popsection",
    ".purgem lucet_exec_save_callee_saved",
    ".purgem lucet_exec_load_callee_saved",
    ".purgem lucet_exec_mxcsr_check",
);
