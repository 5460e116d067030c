//! What the host supplies to an instance: closures behind adapters, and global storage.

use super::tags::{InFlight, Tag};
use crate::error::TerminationDetails;
use crate::val::Val;
use lucet_module::{FuncType, VALUE_SLOT_SIZE};
use std::sync::Arc;

/// Why a host function failed; the run ends with `Error::RuntimeTerminated`, unless
/// the host function throws a WebAssembly exception ([`Trap::exception`]).
#[derive(Debug, Clone)]
pub struct Trap {
    pub message: String,
    exception: Option<(Tag, Vec<Val>)>,
}

impl Trap {
    pub fn new(message: impl Into<String>) -> Trap {
        Trap { message: message.into(), exception: None }
    }

    /// Throws a WebAssembly exception of `tag` with the payload `values` into the guest
    /// that called the host function. The host function's frames are left normally
    /// (destructors run); the exception is raised again at the boundary, in the guest
    /// frame that made the call. The values must have the tag's parameter types.
    pub fn exception(tag: Tag, values: Vec<Val>) -> Trap {
        Trap { message: "a WebAssembly exception".into(), exception: Some((tag, values)) }
    }
}

impl std::fmt::Display for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Trap {}

pub(crate) type HostFn = dyn Fn(&[Val]) -> Result<Vec<Val>, Trap> + Send + Sync;

pub(crate) struct HostGlobal(pub(crate) std::cell::UnsafeCell<[u8; 16]>);
// SAFETY: written only by guest code and `Global::set`, which the embedder serialises
// with runs (instances are single-threaded).
unsafe impl Send for HostGlobal {}
// SAFETY: as above.
unsafe impl Sync for HostGlobal {}

/// The host context an adapter receives as its vmctx (see `lucet_module`'s
/// descriptor docs): the callback must be the first field.
#[repr(C)]
pub(crate) struct HostFuncCtx {
    /// The entry stub in `exceptions.rs`, which calls [`run_host_func`] and re-raises
    /// what it throws.
    pub callback: unsafe extern "C" fn(),
    pub ty: FuncType,
    pub f: Arc<HostFn>,
}

/// Called (through the entry stub) by an adapter on the guest stack: runs the closure on
/// the spilled values. Returns the exception the closure threw, which the caller raises
/// once this frame, and everything the closure left in it, is gone.
///
/// # Safety
/// `ctx` and `values` are what an adapter passes, on the guest stack of a run on this
/// thread.
// The exception is boxed: a thrown exception is rare, and returning the whole
// `Option<InFlight>` on every call went through memory, written in one shape and read
// back in another (a store-forwarding stall that cost a third of a hostcall).
pub(crate) unsafe fn run_host_func(ctx: *mut u8, values: *mut [u8; VALUE_SLOT_SIZE]) -> Option<Box<InFlight>> {
    // SAFETY: adapters pass the HostFuncCtx the runtime stored in the FuncRef. It is
    // boxed in the importing instance, which outlives the call, and never written after
    // linking: other references to it (nested calls of the same import) are shared too.
    // It is not part of any `Instance`, so builtins' `&mut Instance` does not cover it.
    let ctx = unsafe { &*(ctx as *const HostFuncCtx) };
    let n = ctx.ty.params.len().max(ctx.ty.results.len());
    // SAFETY: the adapter's value array has a slot for every param and result.
    let slots = unsafe { std::slice::from_raw_parts_mut(values, n) };
    let mut thrown = None;
    let failure = {
        // Arguments live on the stack for the usual handful of parameters: this runs on
        // every call from the guest.
        const INLINE: usize = 8;
        let mut inline: [Val; INLINE];
        let heap: Vec<Val>;
        let n_params = ctx.ty.params.len();
        let args: &[Val] = if n_params == 0 {
            &[]
        } else if n_params <= INLINE {
            inline = [Val::I32(0); INLINE];
            for ((a, t), s) in inline.iter_mut().zip(&ctx.ty.params).zip(slots.iter()) {
                *a = Val::from_slot(*t, s);
            }
            &inline[..n_params]
        } else {
            heap = ctx.ty.params.iter().zip(slots.iter()).map(|(t, s)| Val::from_slot(*t, s)).collect();
            &heap
        };
        // The context, and so the closure, lives as long as the instance that calls it.
        let f = &ctx.f;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(args))) {
            Ok(Ok(res)) => {
                if res.len() == ctx.ty.results.len() && res.iter().zip(&ctx.ty.results).all(|(v, t)| v.ty() == *t) {
                    for (s, v) in slots.iter_mut().zip(&res) {
                        *s = v.to_slot();
                    }
                    None
                } else {
                    let types: Vec<_> = res.iter().map(|v| v.ty()).collect();
                    Some(TerminationDetails::Other(format!(
                        "a host function of signature {} returned values of types {types:?}",
                        ctx.ty
                    )))
                }
            }
            Ok(Err(Trap { exception: Some((tag, values)), .. })) => {
                if values.iter().map(|v| v.ty()).eq(tag.ty().params.iter().copied()) {
                    let payload = values.iter().map(|v| v.to_slot()).collect();
                    thrown = Some(Box::new(InFlight::new(tag, payload)));
                    None
                } else {
                    Some(TerminationDetails::Other(format!(
                        "a host function threw an exception of type {} with values {values:?}",
                        tag.ty()
                    )))
                }
            }
            Ok(Err(trap)) => Some(TerminationDetails::Other(format!("host function trapped: {trap}"))),
            Err(p) => Some(TerminationDetails::HostcallPanic(crate::error::panic_message(p.as_ref()))),
        }
    };
    if let Some(details) = failure {
        // SAFETY: we are on the guest stack inside a run; every local with a
        // destructor has been dropped above.
        unsafe { crate::exec::terminate_current(details) }
    }
    thrown
}
