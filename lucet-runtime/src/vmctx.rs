//! What a hostcall sees of the instance that called it.
//!
//! Compiled code passes its vmctx pointer as the first argument of every call; a
//! hostcall declares that parameter as `&Vmctx`. `Vmctx` is an opaque, zero-sized
//! handle: a `&Vmctx` *is* the vmctx pointer (see `lucet_module::VmctxLayout`), and
//! its methods reach the owning instance through the header's `instance` field.

use crate::error::TerminationDetails;
use crate::instance::Instance;
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
        let vmctx = self as *const Vmctx as *mut u8;
        // SAFETY: a `&Vmctx` is only ever created from the vmctx pointer compiled code
        // passes to a hostcall, which runs inside a run of that instance on this thread.
        // The header pointer is the one that run derived (`Instance::at_vmctx`); the run
        // frame is suspended, and builtins, which take `&mut`, never run while a hostcall
        // does. The reference lives no longer than the `&Vmctx`, and what the methods
        // below hand out from it (`Ref`s into the embedder context map, guest memory)
        // lies outside the `Instance`.
        unsafe { &*Instance::at_vmctx(vmctx) }
    }

    /// Memory 0 and the instance that defines it (whose borrow flag guards host views
    /// of it: it may be imported from another instance).
    fn heap_raw(&self) -> (*mut u8, usize, &Instance) {
        let inst = self.instance();
        let Some(loc) = inst.memories.first() else {
            return (std::ptr::NonNull::dangling().as_ptr(), 0, inst);
        };
        let owner = if loc.owner_vmctx == self as *const Vmctx as *mut u8 {
            inst
        } else {
            // SAFETY: the owner is alive (the caller keeps it through deps) and bound to
            // this thread; as for the caller, its header pointer is the valid one and no
            // `&mut` to it is live while this hostcall runs. Only its borrow flag is used.
            unsafe { &*Instance::at_vmctx(loc.owner_vmctx) }
        };
        // SAFETY: MemoryDefs stay valid while their owner lives.
        let d = unsafe { *loc.def };
        (d.base, d.current_length as usize, owner)
    }

    /// The guest's linear memory (memory 0). Panics if it is mutably borrowed.
    pub fn heap(&self) -> Ref<'_, [u8]> {
        let (base, len, owner) = self.heap_raw();
        let b = owner.heap_borrow.try_borrow().expect("the heap is already mutably borrowed");
        // SAFETY: the accessible part of memory 0; host-side access to it is tracked by
        // `heap_borrow`, and it cannot shrink or move while a hostcall runs.
        Ref::map(b, |_| unsafe { std::slice::from_raw_parts(base, len) })
    }

    /// The guest's linear memory (memory 0), writable. Panics if it is borrowed.
    pub fn heap_mut(&self) -> RefMut<'_, [u8]> {
        let (base, len, owner) = self.heap_raw();
        let b = owner.heap_borrow.try_borrow_mut().expect("the heap is already borrowed");
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

    fn embed_cell<T: Any>(&self) -> &std::cell::RefCell<Box<dyn Any + Send>> {
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
        self.expect_no_borrows_across_yield();
        // SAFETY: as in `terminate_with`.
        let _ = unsafe { crate::exec::yield_current(None) };
    }

    /// Suspends the run, handing `val` to the host.
    pub fn yield_val<A: Any + Send + 'static>(&self, val: A) {
        self.expect_no_borrows_across_yield();
        // SAFETY: as in `terminate_with`.
        let _ = unsafe { crate::exec::yield_current(Some(Box::new(val))) };
    }

    /// Suspends the run and returns the value the host passes to `resume_with_val`.
    /// Panics if the host resumes with no value or one of another type.
    pub fn yield_expecting_val<R: Any + 'static>(&self) -> R {
        self.expect_no_borrows_across_yield();
        // SAFETY: as in `terminate_with`.
        let v = unsafe { crate::exec::yield_current(None) };
        Self::expect_resumed(v)
    }

    /// Suspends the run, handing `val` to the host, and returns the value it resumes with.
    pub fn yield_val_expecting_val<A: Any + Send + 'static, R: Any + 'static>(&self, val: A) -> R {
        self.expect_no_borrows_across_yield();
        // SAFETY: as in `terminate_with`.
        let v = unsafe { crate::exec::yield_current(Some(Box::new(val))) };
        Self::expect_resumed(v)
    }

    /// While a run is yielded the host may use the instance (`heap_mut`,
    /// `remove_embed_ctx`, ...), so a hostcall may not keep a borrow of its memory or of
    /// an embedder context across a yield: the run ends instead.
    pub(crate) fn expect_no_borrows_across_yield(&self) {
        let (_, _, owner) = self.heap_raw();
        let inst = self.instance();
        let borrowed =
            owner.heap_borrow.try_borrow_mut().is_err() || inst.embed_ctx.values().any(|c| c.try_borrow_mut().is_err());
        if borrowed {
            self.terminate_with(TerminationDetails::Other(
                "a hostcall yielded while holding a borrow of the heap or an embedder context (Vmctx::heap, \
                 heap_mut, get_embed_ctx, get_embed_ctx_mut); drop such borrows before yielding"
                    .to_string(),
            ));
        }
    }

    fn expect_resumed<R: Any + 'static>(v: Option<Box<dyn Any + Send>>) -> R {
        match v.map(|b| b.downcast::<R>()) {
            Some(Ok(r)) => *r,
            _ => panic!("the host resumed without a value of type {}", std::any::type_name::<R>()),
        }
    }
}
