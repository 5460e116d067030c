//! What a hostcall sees of the instance that called it.
//!
//! Compiled code passes its vmctx pointer as the first argument of every call; a
//! hostcall declares that parameter as `&Vmctx`. `Vmctx` is an opaque, zero-sized
//! handle: a `&Vmctx` *is* the vmctx pointer (see `lucet_module::VmctxLayout`), and
//! its methods reach the owning instance through the header's `instance` field.

use crate::error::TerminationDetails;
use crate::instance::Instance;
use lucet_module::VmctxHeader;
use std::any::Any;
use std::any::TypeId;
use std::cell::{Ref, RefMut};

/// The calling instance, as seen from a hostcall.
#[repr(C)]
pub struct Vmctx {
    _opaque: [u8; 0],
}

impl Vmctx {
    fn instance(&self) -> &Instance {
        let vmctx = self as *const Vmctx as *const VmctxHeader;
        // SAFETY: a `&Vmctx` is only ever created from the vmctx pointer compiled code
        // passes to a hostcall; its header's instance pointer was set at instantiation
        // and the instance outlives the run that is calling us.
        unsafe { &*((*vmctx).instance as *const Instance) }
    }

    fn heap_raw(&self) -> (*mut u8, usize) {
        match self.instance().memory_slice(0) {
            Some((base, len)) => (base, len as usize),
            None => (std::ptr::NonNull::dangling().as_ptr(), 0),
        }
    }

    /// The guest's linear memory (memory 0). Panics if it is mutably borrowed.
    pub fn heap(&self) -> Ref<'_, [u8]> {
        let (base, len) = self.heap_raw();
        let b = self.instance().heap_borrow.try_borrow().expect("the heap is already mutably borrowed");
        // SAFETY: the accessible part of memory 0; host-side access to it is tracked by
        // `heap_borrow`, and it cannot shrink or move while a hostcall runs.
        Ref::map(b, |_| unsafe { std::slice::from_raw_parts(base, len) })
    }

    /// The guest's linear memory (memory 0), writable. Panics if it is borrowed.
    pub fn heap_mut(&self) -> RefMut<'_, [u8]> {
        let (base, len) = self.heap_raw();
        let b = self.instance().heap_borrow.try_borrow_mut().expect("the heap is already borrowed");
        // SAFETY: as in `heap`; the mutable borrow of `heap_borrow` makes this the only
        // host-side view.
        RefMut::map(b, |_| unsafe { std::slice::from_raw_parts_mut(base, len) })
    }

    /// Whether an embedder context of type `T` was inserted.
    pub fn contains_embed_ctx<T: Any>(&self) -> bool {
        self.instance().contains_embed_ctx::<T>()
    }

    /// The embedder context of type `T`. Panics if there is none or it is mutably borrowed.
    pub fn get_embed_ctx<T: Any>(&self) -> Ref<'_, T> {
        let cell = self.embed_cell::<T>();
        let b = cell
            .try_borrow()
            .unwrap_or_else(|_| panic!("the embed context {} is already mutably borrowed", std::any::type_name::<T>()));
        Ref::map(b, |b| b.downcast_ref::<T>().expect("keyed by its TypeId"))
    }

    /// The embedder context of type `T`, mutably. Panics if there is none or it is borrowed.
    pub fn get_embed_ctx_mut<T: Any>(&self) -> RefMut<'_, T> {
        let cell = self.embed_cell::<T>();
        let b = cell
            .try_borrow_mut()
            .unwrap_or_else(|_| panic!("the embed context {} is already borrowed", std::any::type_name::<T>()));
        RefMut::map(b, |b| b.downcast_mut::<T>().expect("keyed by its TypeId"))
    }

    fn embed_cell<T: Any>(&self) -> &std::cell::RefCell<Box<dyn Any>> {
        self.instance().embed_ctx.get(&TypeId::of::<T>()).unwrap_or_else(|| {
            panic!(
                "the instance has no embed context of type {}; insert one with insert_embed_ctx or \
                 InstanceBuilder::with_embed_ctx",
                std::any::type_name::<T>()
            )
        })
    }

    /// Ends the current run: `run` returns `Error::RuntimeTerminated(TerminationDetails::Provided(details))`.
    ///
    /// Frames between the guest entry and this call are abandoned, not unwound, so
    /// drop every borrow (`heap()`, `get_embed_ctx*()`) before calling it.
    pub fn terminate<D: Any + Send + Sync + 'static>(&self, details: D) -> ! {
        self.terminate_with(TerminationDetails::Provided(Box::new(details)))
    }

    /// Ends the current run with the given details.
    pub fn terminate_with(&self, details: TerminationDetails) -> ! {
        // SAFETY: hostcalls run on the guest stack inside a run on this thread; the
        // frames being abandoned belong to the guest and to this hostcall.
        unsafe { crate::exec::terminate_current(details) }
    }

    /// Runs a hostcall body so that a panic in it ends the run with
    /// `TerminationDetails::HostcallPanic` instead of aborting the process (a panic
    /// cannot unwind through guest frames, and `extern "C"` functions abort on unwind).
    ///
    /// ```ignore
    /// unsafe extern "C" fn my_hostcall(vmctx: &Vmctx, x: u32) -> u32 {
    ///     vmctx.catch_panics(|vmctx| vmctx.heap()[x as usize] as u32)
    /// }
    /// ```
    pub fn catch_panics<R>(&self, f: impl FnOnce(&Vmctx) -> R) -> R {
        // SAFETY: as in `terminate_with`; on a panic, `f`'s frames were already
        // unwound by `catch_unwind`.
        unsafe { crate::exec::terminate_on_panic(|| f(self)) }
    }

    /// Suspends the run: `run`/`resume` returns `RunResult::Yielded` with no value.
    pub fn yield_(&self) {
        // SAFETY: as in `terminate_with`.
        let _ = unsafe { crate::exec::yield_current(None) };
    }

    /// Suspends the run, handing `val` to the host.
    pub fn yield_val<A: Any + Send + 'static>(&self, val: A) {
        // SAFETY: as in `terminate_with`.
        let _ = unsafe { crate::exec::yield_current(Some(Box::new(val))) };
    }

    /// Suspends the run and returns the value the host passes to `resume_with_val`.
    /// Panics if the host resumes with no value or one of another type.
    pub fn yield_expecting_val<R: Any + 'static>(&self) -> R {
        // SAFETY: as in `terminate_with`.
        let v = unsafe { crate::exec::yield_current(None) };
        Self::expect_resumed(v)
    }

    /// Suspends the run, handing `val` to the host, and returns the value it resumes with.
    pub fn yield_val_expecting_val<A: Any + Send + 'static, R: Any + 'static>(&self, val: A) -> R {
        // SAFETY: as in `terminate_with`.
        let v = unsafe { crate::exec::yield_current(Some(Box::new(val))) };
        Self::expect_resumed(v)
    }

    fn expect_resumed<R: Any + 'static>(v: Option<Box<dyn Any + Send>>) -> R {
        match v.map(|b| b.downcast::<R>()) {
            Some(Ok(r)) => *r,
            _ => panic!("the host resumed without a value of type {}", std::any::type_name::<R>()),
        }
    }
}
