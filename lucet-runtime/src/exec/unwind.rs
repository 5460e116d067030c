//! Throwing a WebAssembly exception: walking guest frames to a handler and resuming
//! there.
//!
//! Compiled code throws by calling the `Throw` or `ThrowRef` builtin. Their table
//! entries are small assembly stubs (in `instance/exceptions.rs`, beside the Rust
//! functions they call), which add the caller's frame pointer, return address and
//! callee-saved registers to the arguments: the walk starts in the frame of the guest
//! function that threw. From there it follows the frame-pointer chain (guest code
//! always keeps frame pointers). For each frame whose return address lies in the code
//! of a loaded module, the module's handler table says whether the call there is in
//! the scope of handlers; the first handler whose tag matches (tags are compared by
//! identity, in the frame's own instance) wins. The walk stops at the first return
//! address that is not in a module's functions: the trampoline that entered the guest,
//! or the adapter of a host function. An exception never unwinds through host code.
//!
//! To resume, [`resume`] sets the stack and frame pointers the handler's function had
//! at the call, puts the exception object in the first payload register (`rax` on
//! x86-64, what Cranelift's `try_call` expects for the `SystemV` and `tail`
//! conventions) and jumps to the handler with the callee-saved registers the handler's
//! function expects. Guest functions use the `tail` convention, and a `try_call` to a
//! `tail` callee treats every register as clobbered on its exceptional edge; but the
//! call to the `Throw` builtin itself is `SystemV`, whose exceptional edge keeps the
//! callee-saved registers. So the stubs pass the registers as they were at the call,
//! and each frame the walk leaves contributes the values its prologue saved, as its
//! epilogue would have. The frames
//! between the throw and the handler, and the runtime's own frames of the throw, are
//! abandoned: they are guest frames, which own nothing, and runtime frames that have
//! dropped everything they owned before the jump.

use super::frame::current_frame;
use super::GuestStack;
use core::arch::global_asm;
use lucet_module::ModuleData;
use std::sync::{Arc, RwLock};

/// One call site with handlers, at absolute addresses.
#[derive(Debug)]
struct Site {
    ret_addr: usize,
    frame_offset: usize,
    vmctx_fp_offset: usize,
    /// `(module tag index or None for catch-all, handler address, keeps the object)`,
    /// in order.
    handlers: Box<[(Option<u32>, usize, bool)]>,
}

/// The code range and call sites with handlers of one loaded module.
#[derive(Debug)]
pub(crate) struct HandlerTable {
    start: usize,
    end: usize,
    /// Sorted by return address.
    sites: Vec<Site>,
    /// Where code starting at each address (sorted) saves callee-saved registers: the
    /// address, and the first index and the count of its entries in `saved`. An entry
    /// with a count of 0 starts a range that saves none.
    saves: Vec<(usize, usize, usize)>,
    /// `(register index in [`Registers`], distance below the frame pointer)`, for all
    /// the ranges of `saves` in one list, so that loading a module allocates one list
    /// rather than one per range.
    saved: Vec<(usize, usize)>,
}

/// The callee-saved registers of the System V ABI: rbx, r12, r13, r14, r15, in this
/// order (the order the throw stubs push them in and `resume` loads them from).
pub(crate) type Registers = [usize; 5];

/// Index in [`Registers`] of a register by its machine encoding.
fn register_index(enc: u8) -> Option<usize> {
    match enc {
        3 => Some(0),
        12..=15 => Some(enc as usize - 11),
        _ => None,
    }
}

/// Every loaded module's handler table. Read only while throwing, written at load and
/// unload, never from a signal handler.
static TABLES: RwLock<Vec<Arc<HandlerTable>>> = RwLock::new(Vec::new());

/// A module's entry in the process-wide list of handler tables; removed when dropped.
#[derive(Debug)]
pub(crate) struct Registration(Arc<HandlerTable>);

impl Registration {
    /// Registers the functions of a loaded module: `code[d]` is the address and length
    /// of defined function `d`'s code. The metadata was validated (every site names an
    /// existing function, and every offset lies within its code).
    pub(crate) fn new(data: &ModuleData, code: &[(usize, usize)]) -> Registration {
        let mut start = usize::MAX;
        let mut end = 0;
        for &(at, len) in code {
            start = start.min(at);
            end = end.max(at + len);
        }
        let mut sites: Vec<Site> = data
            .exceptions
            .sites
            .iter()
            .filter_map(|s| {
                let (base, _) = *code.get(s.func as usize)?;
                Some(Site {
                    ret_addr: base + s.ret_offset as usize,
                    frame_offset: s.frame_offset as usize,
                    vmctx_fp_offset: s.vmctx_fp_offset as usize,
                    handlers: s
                        .handlers
                        .iter()
                        .map(|h| (h.tag, base + h.target_offset as usize, h.keeps_object))
                        .collect(),
                })
            })
            .collect();
        sites.sort_by_key(|s| s.ret_addr);
        // Every function's start begins a range without saves, so code after a body
        // with saves is not taken for it.
        let mut saves: Vec<(usize, usize, usize)> = Vec::with_capacity(code.len() + data.exceptions.saves.len());
        saves.extend(code.iter().map(|&(at, _)| (at, 0, 0)));
        let mut saved = Vec::new();
        for s in &data.exceptions.saves {
            let Some(&(base, _)) = code.get(s.func as usize) else { continue };
            let first = saved.len();
            saved.extend(s.saves.iter().filter_map(|&(r, off)| Some((register_index(r)?, off as usize))));
            saves.push((base + s.start_offset as usize, first, saved.len() - first));
        }
        // Later entries at the same address (the real saves) win over the empty ones.
        saves.sort_by_key(|s| s.0);
        saves.reverse();
        saves.dedup_by_key(|s| s.0);
        saves.reverse();
        let table = Arc::new(HandlerTable { start, end, sites, saves, saved });
        TABLES.write().unwrap_or_else(|e| e.into_inner()).push(Arc::clone(&table));
        Registration(table)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut tables = TABLES.write().unwrap_or_else(|e| e.into_inner());
        tables.retain(|t| !Arc::ptr_eq(t, &self.0));
    }
}

/// Where a throw lands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Landing {
    pub pc: usize,
    pub sp: usize,
    pub fp: usize,
    /// The vmctx of the function the handler belongs to.
    pub vmctx: *mut u8,
    /// Whether the handler keeps the exception object past its first instructions.
    pub keeps: bool,
}

/// The stack of the innermost run on this thread.
fn current_stack() -> Option<GuestStack> {
    let frame = current_frame();
    if frame.is_null() {
        return None;
    }
    // SAFETY: a non-null current frame (`THREAD.current`) is the live frame of a run on
    // this thread.
    Some(unsafe { (*frame).stack })
}

/// Walks the guest frames from the frame `fp` of the function that called into the
/// runtime at return address `pc`, and returns the first handler that `matches`:
/// `matches(vmctx, tag)` says whether the exception is of tag `tag` (a module tag
/// index) of the instance with that vmctx.
///
/// Every address read lies on the current run's stack, below its top, and frame
/// pointers must grow, so a corrupt chain ends the walk instead of looping.
pub(crate) fn find_handler(
    mut fp: usize,
    mut pc: usize,
    regs: &mut Registers,
    mut matches: impl FnMut(*mut u8, u32) -> bool,
) -> Option<Landing> {
    let stack = current_stack()?;
    let on_stack = |addr: usize, len: usize| -> Option<()> {
        (addr >= stack.guard_end && addr.checked_add(len)? <= stack.top).then_some(())
    };
    let tables = TABLES.read().unwrap_or_else(|e| e.into_inner());
    loop {
        let table = tables.iter().find(|t| t.start <= pc && pc < t.end)?;
        if let Ok(i) = table.sites.binary_search_by_key(&pc, |s| s.ret_addr) {
            let site = &table.sites[i];
            let slot = fp.checked_sub(site.vmctx_fp_offset)?;
            on_stack(slot, 8)?;
            // SAFETY: the slot lies on the running guest stack (checked just above);
            // the function whose frame it is stored its vmctx there before the call.
            let vmctx = unsafe { *(slot as *const *mut u8) };
            for &(tag, handler, keeps) in site.handlers.iter() {
                if tag.map_or(true, |t| matches(vmctx, t)) {
                    return Some(Landing { pc: handler, sp: fp.checked_sub(site.frame_offset)?, fp, vmctx, keeps });
                }
            }
        }
        // Leaving this frame: its saved registers are its caller's values.
        let i = table.saves.partition_point(|s| s.0 <= pc);
        if let Some(&(_, first, count)) = i.checked_sub(1).map(|i| &table.saves[i]) {
            for &(reg, down) in table.saved.get(first..first + count).unwrap_or_default() {
                let at = fp.checked_sub(down)?;
                on_stack(at, 8)?;
                // SAFETY: on the running guest stack (checked above), where this frame's
                // prologue saved the register.
                regs[reg] = unsafe { *(at as *const usize) };
            }
        }
        on_stack(fp, 16)?;
        // SAFETY: `fp` and `fp + 8` lie on the running guest stack (checked above): the
        // saved frame pointer and return address of a guest frame.
        let (next_fp, next_pc) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if next_fp <= fp {
            return None;
        }
        fp = next_fp;
        pc = next_pc;
    }
}

extern "C" {
    fn lucet_runtime_exn_resume(pc: usize, sp: usize, fp: usize, exn: usize, regs: *const Registers) -> !;
}

/// Jumps to `landing` with the exception object `exn` in the payload register.
///
/// # Safety
/// `landing` must come from [`find_handler`] for the current run, with nothing changed
/// on the stack since, and the caller's own frames must own nothing (they are
/// abandoned).
pub(crate) unsafe fn resume(landing: Landing, exn: usize, regs: &Registers) -> ! {
    // SAFETY: (caller) a handler of a live guest frame, with that frame's sp, fp and
    // callee-saved registers. `regs` is read before the stack pointer moves.
    unsafe { lucet_runtime_exn_resume(landing.pc, landing.sp, landing.fp, exn, regs) }
}

// resume(pc: rdi, sp: rsi, fp: rdx, exn: rcx, regs: r8) -> !
global_asm!(
    ".pushsection .text.lucet_runtime_exn,\"ax\",@progbits",
    ".globl lucet_runtime_exn_resume",
    ".hidden lucet_runtime_exn_resume",
    ".type lucet_runtime_exn_resume,@function",
    ".p2align 4",
    "lucet_runtime_exn_resume:",
    ".cfi_startproc",
    "mov rbx, [r8]",
    "mov r12, [r8 + 8]",
    "mov r13, [r8 + 16]",
    "mov r14, [r8 + 24]",
    "mov r15, [r8 + 32]",
    "mov rax, rcx",
    "mov rbp, rdx",
    "mov rsp, rsi",
    "xor edx, edx",
    "jmp rdi",
    ".cfi_endproc",
    ".size lucet_runtime_exn_resume, . - lucet_runtime_exn_resume",
    ".popsection",
);
