//! Embedder contexts: host values that hostcalls reach by type.

use super::core::Instance;
use std::any::{Any, TypeId};
use std::cell::{BorrowError, BorrowMutError, Ref, RefCell, RefMut};

impl Instance {
    // ---- embedder contexts ----

    /// Stores `ctx`, replacing any earlier context of the same type. It moves with the
    /// instance, which may move to another thread, so it must be `Send`.
    pub fn insert_embed_ctx<T: Any + Send>(&mut self, ctx: T) {
        self.embed_ctx.insert(TypeId::of::<T>(), RefCell::new(Box::new(ctx)));
    }

    pub fn contains_embed_ctx<T: Any>(&self) -> bool {
        self.embed_ctx.contains_key(&TypeId::of::<T>())
    }

    pub fn get_embed_ctx<T: Any>(&self) -> Option<Result<Ref<'_, T>, BorrowError>> {
        self.embed_ctx
            .get(&TypeId::of::<T>())
            .map(|c| c.try_borrow().map(|b| Ref::map(b, |b| b.downcast_ref::<T>().expect("keyed by its TypeId"))))
    }

    pub fn get_embed_ctx_mut<T: Any>(&mut self) -> Option<Result<RefMut<'_, T>, BorrowMutError>> {
        self.embed_ctx.get(&TypeId::of::<T>()).map(|c| {
            c.try_borrow_mut().map(|b| RefMut::map(b, |b| b.downcast_mut::<T>().expect("keyed by its TypeId")))
        })
    }

    pub fn remove_embed_ctx<T: Any>(&mut self) -> Option<T> {
        let b = self.embed_ctx.remove(&TypeId::of::<T>())?.into_inner();
        b.downcast::<T>().ok().map(|b| *b)
    }
}
