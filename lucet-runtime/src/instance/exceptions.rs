//! Exception tags and exception objects of an instance, and the `Throw` and `ThrowRef`
//! builtins (the frame walk itself is in `exec/unwind.rs`).
//!
//! - A [`Tag`] has an identity: two tags are the same exactly when they are the same
//!   allocation. Each instantiation makes new tags for the module's definitions, and an
//!   imported tag is the exporter's (or a host's) `Tag`.
//! - An exception object is an array of 16-byte slots laid out as
//!   `lucet_module::ExceptionHeader` says; an `exnref` is its address. Objects live in
//!   the instance whose handler caught them (a throw copies the payload into it), and
//!   are discarded when that instance is reset or dropped, along with the globals and
//!   tables that could hold references to them.

use super::Instance;
use crate::exec::unwind::{self, Landing, Registers};
use crate::exec::terminate_current;
use crate::TerminationDetails;
use lucet_module::{ExceptionHeader, FuncType};
use std::sync::Arc;

struct TagDef {
    ty: FuncType,
    /// How messages name the tag.
    name: String,
}

/// An exception tag: what `throw` names and `catch` matches, by identity.
#[derive(Clone)]
pub struct Tag(Arc<TagDef>);

impl Tag {
    /// A new tag whose exceptions carry values of `ty`'s parameter types (`ty` must have
    /// no results).
    pub fn new(ty: FuncType) -> Tag {
        Tag::named(ty, "a host tag".to_string())
    }

    pub(crate) fn named(ty: FuncType, name: String) -> Tag {
        Tag(Arc::new(TagDef { ty, name }))
    }

    /// The tag's type: its parameters are the payload's types.
    pub fn ty(&self) -> &FuncType {
        &self.0.ty
    }

    /// Whether `self` and `other` are the same tag.
    pub fn same(&self, other: &Tag) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    /// What exception objects record as their tag.
    fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tag({} {})", self.0.name, self.0.ty)
    }
}

/// One exception object: its slots, and its tag, kept alive so that the identity its
/// header records is never reused while the object exists.
struct Object {
    slots: Box<[[u8; 16]]>,
    tag: Tag,
}

/// An instance's tags and the exception objects it caught.
#[derive(Default)]
pub(crate) struct Exceptions {
    /// Every tag of the tag index space, imports first.
    pub tags: Vec<Tag>,
    /// Objects that handlers kept (`catch_ref`, or a legacy catch that may rethrow):
    /// they live until reset.
    objects: Vec<Object>,
    /// The object of the last exception caught by a handler that reads the payload
    /// first and keeps nothing: reused by the next such catch, so that a loop that
    /// throws and catches does not grow the instance.
    scratch: Option<Object>,
}

fn fill(slots: &mut [[u8; 16]], tag: &Tag, payload: &[[u8; 16]]) {
    let header = ExceptionHeader { tag: tag.identity(), len: payload.len() as u32, _pad: 0 };
    // SAFETY: `ExceptionHeader` is 16 bytes of plain data (checked in lucet-module),
    // and slot 0 is 16 bytes.
    slots[0] = unsafe { std::mem::transmute::<ExceptionHeader, [u8; 16]>(header) };
    slots[1..].copy_from_slice(payload);
}

impl Exceptions {
    /// An exception object with `tag` and `payload` for a handler that keeps it (or
    /// not, `keeps`); returns its address.
    fn alloc(&mut self, tag: &Tag, payload: &[[u8; 16]], keeps: bool) -> usize {
        if !keeps {
            // The handler that read the last scratch object has run its first
            // instructions: every throw leaves the handler's code first.
            let fits = self.scratch.as_ref().is_some_and(|o| o.slots.len() == payload.len() + 1);
            if !fits {
                self.scratch =
                    Some(Object { slots: vec![[0u8; 16]; payload.len() + 1].into_boxed_slice(), tag: tag.clone() });
            }
            let o = self.scratch.as_mut().expect("just made");
            o.tag = tag.clone();
            fill(&mut o.slots, tag, payload);
            return o.slots.as_ptr() as usize;
        }
        let mut slots = vec![[0u8; 16]; payload.len() + 1].into_boxed_slice();
        fill(&mut slots, tag, payload);
        let addr = slots.as_ptr() as usize;
        self.objects.push(Object { slots, tag: tag.clone() });
        addr
    }

    /// Discards every exception object (on reset).
    pub(crate) fn clear_objects(&mut self) {
        self.objects.clear();
        self.scratch = None;
    }

    /// The tag and payload of the kept object at `addr`, if it is one of ours.
    fn object(&self, addr: usize) -> Option<InFlight> {
        let o = self.objects.iter().rev().find(|o| o.slots.as_ptr() as usize == addr)?;
        Some(InFlight { tag: o.tag.clone(), payload: o.slots[1..].to_vec() })
    }
}

/// How an exception that no handler caught ends the run.
#[derive(Debug)]
pub(crate) struct Uncaught {
    pub tag: String,
}

/// A thrown exception on its way to a handler.
pub(crate) struct InFlight {
    tag: Tag,
    payload: Vec<[u8; 16]>,
}

impl InFlight {
    /// An exception of `tag` whose payload (checked against the tag's type) is `payload`.
    pub(crate) fn new(tag: Tag, payload: Vec<[u8; 16]>) -> InFlight {
        InFlight { tag, payload }
    }
}

/// Raises an exception a host function threw, from the guest frame that called the
/// adapter whose frame pointer is `adapter_fp`.
///
/// # Safety
/// `adapter_fp` is the frame pointer of an adapter running on the current guest stack,
/// `regs` the guest's callee-saved registers at the adapter's call (adapters save
/// none), and the caller's frames own nothing.
pub(crate) unsafe fn raise_from_adapter(exn: InFlight, adapter_fp: usize, regs: Registers) -> ! {
    // SAFETY: (caller) the adapter's frame: saved frame pointer and return address.
    let (fp, pc) = unsafe { (*(adapter_fp as *const usize), *((adapter_fp + 8) as *const usize)) };
    // SAFETY: (caller) the guest frame that called the adapter.
    unsafe { raise(exn, fp, pc, regs) }
}

/// The `Throw` builtin, reached through the stub in `exec/unwind.rs`.
///
/// # Safety
/// Called by compiled code only: `vmctx` is the caller's, `tag` one of its tags (the
/// validator checked it), `values` points at as many value slots as the tag's payload
/// has values, and `fp`/`pc` are the caller's frame pointer and return address.
pub(crate) unsafe extern "C" fn throw(
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
        InFlight { tag, payload }
    };
    // SAFETY: (caller) fp/pc/registers of the guest frame that called, pushed by the
    // stub; this frame owns nothing.
    unsafe { raise(exn, fp, pc, *regs) }
}

/// The `ThrowRef` builtin (`throw_ref` of a non-null exnref, and `rethrow`).
///
/// # Safety
/// As for [`throw`]; `exn` is a non-null exception object the guest holds.
pub(crate) unsafe extern "C" fn throw_ref(
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
            self.exceptions.tags.push(Tag::named(data.types[ty as usize].clone(), name));
        }
    }
}
