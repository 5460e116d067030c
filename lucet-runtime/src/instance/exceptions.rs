//! Throwing: the `Throw` and `ThrowRef` builtins, exceptions that host functions throw,
//! and the instance's own tags. The frame walk itself is in `exec/unwind.rs`; the
//! objects and tags in `tags.rs`.

use super::core::Instance;
use super::host::run_host_func;
use super::tags::{InFlight, Tag, Uncaught};
use crate::error::TerminationDetails;
use crate::exec::terminate_current;
use crate::exec::unwind::{self, Landing, Registers};
use core::arch::global_asm;
use lucet_module::VALUE_SLOT_SIZE;

/// Raises an exception a host function threw, from the guest frame that called the
/// adapter whose frame pointer is `adapter_fp`.
///
/// # Safety
/// `adapter_fp` is the frame pointer of an adapter running on the current guest stack,
/// `regs` the guest's callee-saved registers at the adapter's call (adapters save
/// none), and the caller's frames own nothing.
unsafe fn raise_from_adapter(exn: InFlight, adapter_fp: usize, regs: Registers) -> ! {
    // SAFETY: (caller) the adapter's frame: saved frame pointer and return address.
    let (fp, pc) = unsafe { (*(adapter_fp as *const usize), *((adapter_fp + 8) as *const usize)) };
    // SAFETY: (caller) the guest frame that called the adapter.
    unsafe { raise(exn, fp, pc, regs) }
}

/// The `Throw` builtin, reached through the stub below.
///
/// # Safety
/// Called by compiled code only: `vmctx` is the caller's, `tag` one of its tags (the
/// validator checked it), `values` points at as many value slots as the tag's payload
/// has values, and `fp`/`pc` are the caller's frame pointer and return address.
unsafe extern "C" fn throw(
    vmctx: *mut u8,
    tag: u32,
    values: *const [u8; 16],
    fp: usize,
    pc: usize,
    regs: *const Registers,
) -> ! {
    let exn = {
        // SAFETY: (caller) a live instance's vmctx. The reference ends in this block,
        // before the walk reads any instance.
        let inst = unsafe { &*Instance::at_vmctx(vmctx) };
        let tag = inst.exceptions.tags[tag as usize].clone();
        let n = tag.ty().params.len();
        let payload = if n == 0 {
            Vec::new()
        } else {
            // SAFETY: (caller) `n` slots written by the compiled code just before the call.
            unsafe { std::slice::from_raw_parts(values, n) }.to_vec()
        };
        InFlight::new(tag, payload)
    };
    // SAFETY: (caller) fp/pc/registers of the guest frame that called, pushed by the
    // stub; this frame owns nothing.
    unsafe { raise(exn, fp, pc, *regs) }
}

/// The `ThrowRef` builtin (`throw_ref` of a non-null exnref, and `rethrow`).
///
/// # Safety
/// As for [`throw`]; `exn` is a non-null exception object the guest holds.
unsafe extern "C" fn throw_ref(
    vmctx: *mut u8,
    exn: usize,
    fp: usize,
    pc: usize,
    regs: *const Registers,
) -> ! {
    // The object is looked up among the ones the instances reachable from here keep,
    // never read through the guest's pointer: an exnref that another instance passed
    // along may outlive its object if that instance was reset.
    let flight = find_object(vmctx, exn);
    match flight {
        // SAFETY: (caller) fp/pc/registers of the guest frame that called, pushed by
        // the stub; this frame owns nothing.
        Some(flight) => unsafe { raise(flight, fp, pc, *regs) },
        None => {
            let details = TerminationDetails::Other(
                "throw_ref of an exception object that no longer exists (the instance that caught it was reset \
                 or dropped)"
                    .to_string(),
            );
            // SAFETY: called from guest code in a run on this thread; nothing here is
            // owned but the details, which move.
            unsafe { terminate_current(details) }
        }
    }
}

/// The kept exception object at `exn`, looked up in the caller's instance and the
/// instances it imports from.
fn find_object(vmctx: *mut u8, exn: usize) -> Option<InFlight> {
    // SAFETY: (caller) a live instance's vmctx; a shared reference for the lookup only.
    let inst = unsafe { &*Instance::at_vmctx(vmctx) };
    if let Some(found) = inst.exceptions.object(exn) {
        return Some(found);
    }
    inst.linked_vmctxs.iter().find_map(|&other| {
        // SAFETY: linked instances are alive while this one is (held in its deps); a
        // shared reference for the lookup only.
        let o = unsafe { &*Instance::at_vmctx(other) };
        o.exceptions.object(exn)
    })
}

/// Finds the handler for `exn` from the guest frame `fp` (return address `pc`) outwards
/// and resumes there, or ends the run if there is none.
///
/// # Safety
/// `fp`/`pc` are those of the guest frame that called the builtin, on the running
/// guest's stack, and the caller's frames own nothing.
unsafe fn raise(exn: InFlight, fp: usize, pc: usize, mut regs: Registers) -> ! {
    let identity = exn.tag.identity();
    let landing: Option<Landing> = unwind::find_handler(fp, pc, &mut regs, |vmctx, t| {
        // SAFETY: the vmctx a guest frame stored for its handlers: its instance runs on
        // this stack, so it is alive. A shared reference for this lookup only.
        let inst = unsafe { &*Instance::at_vmctx(vmctx) };
        inst.exceptions.tags.get(t as usize).is_some_and(|x| x.identity() == identity)
    });
    match landing {
        Some(landing) => {
            let addr = {
                // SAFETY: as above; no other reference to that instance is live now (the
                // thrower's ended), as in a builtin call.
                let inst = unsafe { &mut *Instance::at_vmctx(landing.vmctx) };
                inst.exceptions.alloc(&exn.tag, &exn.payload, landing.keeps)
            };
            drop(exn);
            // SAFETY: found by the walk just now; everything this frame owned is dropped.
            unsafe { unwind::resume(landing, addr, &regs) }
        }
        None => {
            let tag = exn.tag.name().to_string();
            drop(exn);
            // SAFETY: called from guest code in a run on this thread; this frame owns
            // nothing but what moves into the details.
            unsafe { terminate_current(TerminationDetails::Provided(Box::new(Uncaught { tag }))) }
        }
    }
}

impl Instance {
    /// Makes this instance's own tags, after the imported ones.
    pub(super) fn define_tags(&mut self, dl: &crate::module::DlModule) {
        let data = dl.module_data();
        let first = data.num_imported_tags();
        for (d, &ty) in data.exceptions.defined_tags.iter().enumerate() {
            let index = (first + d) as u32;
            let export = data.exports.iter().find(|e| e.kind == lucet_module::ExportKind::Tag(index));
            let name = match export {
                Some(e) => format!("tag `{}` of module {}", e.name, dl.path()),
                None => format!("tag {index} of module {}", dl.path()),
            };
            self.exceptions.tags.push(Tag::named(data.types[ty as usize].clone(), dl.type_ids()[ty as usize], name));
        }
    }
}

extern "C" {
    /// The `Throw` builtin's table entry, with the signature lucet-module lists for it.
    /// It never returns.
    pub(crate) fn lucet_runtime_exn_throw_entry(vmctx: *mut u8, tag: u32, values: u64);
    /// The `ThrowRef` builtin's table entry; it never returns.
    pub(crate) fn lucet_runtime_exn_throw_ref_entry(vmctx: *mut u8, exn: u64);
    /// What adapters call for host closures: `(ctx, values)`.
    pub(crate) fn lucet_runtime_host_func_entry();
}

/// Runs a host closure for an adapter (through `lucet_runtime_host_func_entry`) and
/// raises the exception it threw, if any, from the guest frame that called the adapter.
///
/// # Safety
/// Called by the entry stub only: `ctx` and `values` as an adapter passes them, `regs`
/// the guest's callee-saved registers pushed by the stub, `adapter_fp` the adapter's
/// frame pointer.
unsafe extern "C" fn host_func_entry(
    ctx: *mut u8,
    values: *mut [u8; VALUE_SLOT_SIZE],
    regs: *const Registers,
    adapter_fp: usize,
) {
    // SAFETY: (caller) as an adapter passes them, on the guest stack of a run.
    let thrown = unsafe { run_host_func(ctx, values) };
    if let Some(boxed) = thrown {
        // Out of its box here: `raise_from_adapter` never returns, so a box still alive
        // across it would never be freed.
        let exn = {
            let b = boxed;
            *b
        };
        // SAFETY: called by an adapter in a run on this thread, through the entry stub,
        // which passed the adapter's frame pointer and the guest's registers; the
        // closure's frames are gone and this one owns only `exn`, which moves.
        unsafe { raise_from_adapter(exn, adapter_fp, *regs) }
    }
}

// The throw stubs push the guest's callee-saved registers (a `Registers` array) and
// call the Rust function with the guest's frame pointer (rbp, which the stub does not
// touch), its return address and the registers as extra arguments:
// `throw(vmctx, tag, values, fp, pc, regs)` and `throw_ref(vmctx, exn, fp, pc, regs)`.
// Five pushes after the call's return address leave the stack 16-byte aligned.
global_asm!(
    ".pushsection .text.lucet_runtime_exn,\"ax\",@progbits",
    ".globl lucet_runtime_exn_throw_entry",
    ".hidden lucet_runtime_exn_throw_entry",
    ".type lucet_runtime_exn_throw_entry,@function",
    ".p2align 4",
    "lucet_runtime_exn_throw_entry:",
    ".cfi_startproc",
    "push r15",
    "push r14",
    "push r13",
    "push r12",
    "push rbx",
    "mov r9, rsp",
    "mov rcx, rbp",
    "mov r8, [rsp + 40]",
    "call {throw}",
    "ud2",
    ".cfi_endproc",
    ".size lucet_runtime_exn_throw_entry, . - lucet_runtime_exn_throw_entry",
    ".globl lucet_runtime_exn_throw_ref_entry",
    ".hidden lucet_runtime_exn_throw_ref_entry",
    ".type lucet_runtime_exn_throw_ref_entry,@function",
    ".p2align 4",
    "lucet_runtime_exn_throw_ref_entry:",
    ".cfi_startproc",
    "push r15",
    "push r14",
    "push r13",
    "push r12",
    "push rbx",
    "mov r8, rsp",
    "mov rdx, rbp",
    "mov rcx, [rsp + 40]",
    "call {throw_ref}",
    "ud2",
    ".cfi_endproc",
    ".size lucet_runtime_exn_throw_ref_entry, . - lucet_runtime_exn_throw_ref_entry",
    // host_func_entry(ctx: rdi, values: rsi): calls
    // host_func_entry(ctx, values, regs, adapter_fp) and returns as it does.
    ".globl lucet_runtime_host_func_entry",
    ".hidden lucet_runtime_host_func_entry",
    ".type lucet_runtime_host_func_entry,@function",
    ".p2align 4",
    "lucet_runtime_host_func_entry:",
    ".cfi_startproc",
    "push r15",
    "push r14",
    "push r13",
    "push r12",
    "push rbx",
    "mov rdx, rsp",
    "mov rcx, rbp",
    "call {host_func}",
    "pop rbx",
    "pop r12",
    "pop r13",
    "pop r14",
    "pop r15",
    "ret",
    ".cfi_endproc",
    ".size lucet_runtime_host_func_entry, . - lucet_runtime_host_func_entry",
    ".popsection",
    throw = sym throw,
    throw_ref = sym throw_ref,
    host_func = sym host_func_entry,
);
