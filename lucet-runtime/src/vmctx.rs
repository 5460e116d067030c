//! What a hostcall sees of the instance that called it.
//!
//! Compiled code passes its vmctx pointer as the first argument of every call; a
//! hostcall declares that parameter as `&Vmctx`. `Vmctx` is an opaque, zero-sized
//! handle: a `&Vmctx` *is* the vmctx pointer (see `lucet_module::VmctxLayout`), and
//! its methods reach the owning instance through the header's `instance` field.

use crate::error::TerminationDetails;
use std::any::Any;
use std::cell::{Ref, RefMut};

/// The calling instance, as seen from a hostcall.
#[repr(C)]
pub struct Vmctx {
    _opaque: [u8; 0],
}

impl Vmctx {
    /// The guest's linear memory (memory 0). Panics if it is mutably borrowed.
    pub fn heap(&self) -> Ref<'_, [u8]> {
        todo!()
    }

    /// The guest's linear memory (memory 0), writable. Panics if it is borrowed.
    pub fn heap_mut(&self) -> RefMut<'_, [u8]> {
        todo!()
    }

    /// Whether an embedder context of type `T` was inserted.
    pub fn contains_embed_ctx<T: Any>(&self) -> bool {
        todo!()
    }

    /// The embedder context of type `T`. Panics if there is none or it is mutably borrowed.
    pub fn get_embed_ctx<T: Any>(&self) -> Ref<'_, T> {
        todo!()
    }

    /// The embedder context of type `T`, mutably. Panics if there is none or it is borrowed.
    pub fn get_embed_ctx_mut<T: Any>(&self) -> RefMut<'_, T> {
        todo!()
    }

    /// Ends the current run: `run` returns `Error::RuntimeTerminated(TerminationDetails::Provided(details))`.
    ///
    /// Frames between the guest entry and this call are abandoned, not unwound, so
    /// drop every borrow (`heap()`, `get_embed_ctx*()`) before calling it.
    pub fn terminate<D: Any + Send + 'static>(&self, details: D) -> ! {
        let _ = details;
        todo!()
    }

    /// Ends the current run with the given details.
    pub fn terminate_with(&self, details: TerminationDetails) -> ! {
        let _ = details;
        todo!()
    }
}
