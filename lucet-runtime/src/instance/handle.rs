//! The handles that own an instance or keep it alive, and walks over the graph that
//! instances form by importing from each other.
//!
//! Every walk here is a loop over a work list with a visited set: linked instances can
//! form cycles (an importer of a funcref table is kept alive by the table's owner), and
//! chains of any length, so nothing recurses along `deps`.
//!
//! # Who may reference an instance, and when
//!
//! An instance lives in an `Arc<InstanceCell>`. The cell is neither `Send` nor `Sync`:
//! besides the one [`InstanceHandle`], the `Arc`s are held by export handles
//! ([`crate::Extern`], not `Send`), by importers (`deps`), and by the owners of funcref
//! tables an instance wrote into, all of which reach the instance without any lock.
//! What makes that sound is that all of them are used on one thread:
//!
//! - The handle is the only source of `&Instance`/`&mut Instance` on the host side
//!   (`Deref`/`DerefMut`). It is not `Sync`, so those references stay on one thread.
//! - An instance that shares state (another `Arc` exists, or it imports from another
//!   instance or a host global) is bound to the thread on which it started sharing
//!   ([`Home`]): export handles are made there and cannot leave it, importers are built
//!   there from them. Its handle may still be sent elsewhere, but using it there panics,
//!   and dropping it there leaves cycle collection to the home thread. An instance that
//!   shares nothing is free to move (`InstanceHandle: Send`), which is what lets a run
//!   yield on one thread and resume on another.
//! - On the home thread, accesses are sequential. Guest code, builtins and hostcalls
//!   reach instances through vmctx headers under the discipline described at
//!   `Instance::at_vmctx`; host-side `&mut` access needs the handle, which a running
//!   instance's caller holds mutably.

use super::core::{release_deps, Instance, InstanceCell};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// Owns an instance; dereferences to [`Instance`].
///
/// A handle can move to another thread, but cannot be shared between threads:
///
/// ```compile_fail
/// fn shared_between_threads<T: Sync>() {}
/// shared_between_threads::<lucet_runtime::InstanceHandle>();
/// ```
///
/// An instance that shares state with others (it is linked to another instance, or an
/// export handle from [`Instance::get_export`] or [`crate::Linker::instance`] is alive)
/// is bound to the thread where that started, and using its handle on another thread
/// panics.
pub struct InstanceHandle {
    inner: Arc<InstanceCell>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: everything an instance owns may move between threads (embedder contexts are
// `Send`, host functions `Send + Sync`, the rest is memory it owns exclusively). Moving
// the handle moves the only host-side access path; state it shares with other holders
// (see the module docs) is only touched on its home thread, which `deref`/`deref_mut`
// check before handing out a reference, and `drop` before walking other instances.
unsafe impl Send for InstanceHandle {}

impl InstanceHandle {
    pub(super) fn new(inner: Arc<InstanceCell>) -> InstanceHandle {
        InstanceHandle { inner, _not_sync: PhantomData }
    }

    /// Whether the instance may be used on this thread: it shares nothing, or this is
    /// the thread it is bound to.
    #[inline]
    fn usable_here(&self) -> bool {
        if Arc::strong_count(&self.inner) == 1 {
            // SAFETY: only this handle holds the instance, and it is used on this thread
            // (`&self`, and the handle is not `Sync`), so reading these fields races
            // with nothing.
            let inst = unsafe { &*self.inner.get() };
            if inst.deps.is_empty() && inst.host_globals.is_empty() {
                return true;
            }
        }
        // SAFETY: `home` is atomic; reading it through the cell's pointer makes no
        // reference to the rest of the instance.
        unsafe { (*self.inner.get()).home.is_here() }
    }

    #[inline]
    fn check_thread(&self) {
        if !self.usable_here() {
            wrong_thread()
        }
    }
}

#[cold]
fn wrong_thread() -> ! {
    panic!(
        "this instance shares state with other instances or export handles, which live on the thread where it \
         was linked or its exports were taken; use it on that thread (an instance that shares nothing may \
         move between threads)"
    );
}

impl Drop for InstanceHandle {
    fn drop(&mut self) {
        // Off its home thread the other instances may be in use: leave them alone. (A
        // cycle that this drop would have freed is then freed by the home thread's next
        // drop of a handle to it, or leaks.)
        if self.usable_here() {
            collect_cycles(&self.inner);
        }
    }
}

/// A reference to an instance from an export handle. Like an `InstanceHandle`, dropping
/// it may free a group of instances that only keep each other alive. It reaches the
/// instance through [`InstanceCell::current`].
#[derive(Clone)]
pub(crate) struct OwnerRef(pub Arc<InstanceCell>);

impl Deref for OwnerRef {
    type Target = Arc<InstanceCell>;
    fn deref(&self) -> &Arc<InstanceCell> {
        &self.0
    }
}

impl Drop for OwnerRef {
    fn drop(&mut self) {
        collect_cycles(&self.0);
    }
}

/// Every instance reachable through `deps` from `start`, each once, `start` first.
///
/// # Safety
/// `start` must point to a live instance, and no one may change any `deps` list during
/// the walk. Every other instance found is kept alive by a `deps` entry of one found
/// before it, and reached through `InstanceCell::current`.
pub(super) unsafe fn reachable(start: *const Instance) -> Vec<*const Instance> {
    let mut seen: HashSet<*const Instance> = HashSet::from([start]);
    let mut found = vec![start];
    let mut next = 0;
    while next < found.len() {
        // SAFETY: (caller) `start` is live; the others are kept alive by the deps they
        // were found in. Only the `deps` field is read.
        let deps = unsafe { &(*found[next]).deps };
        for d in deps {
            let p = d.current() as *const Instance;
            if seen.insert(p) {
                found.push(p);
            }
        }
        next += 1;
    }
    found
}

/// Called when `root` (an `Arc` the caller is about to drop) loses a user-held
/// reference. Instances form cycles when one imports a funcref table from another
/// (the table's owner keeps the importer alive). If every reference to the instances
/// reachable from `root` now comes from those instances themselves (plus the caller's
/// `root`), nothing outside can reach them any more: their dependency lists are
/// emptied, which breaks the cycles and frees them once `root` is dropped.
fn collect_cycles(root: &Arc<InstanceCell>) {
    let root_ptr = root.current();
    // SAFETY: `root` is alive, and this is its home thread (export handles never leave
    // it; a handle checks before calling us). Only `deps` is read, through the pointer
    // valid now, even if we are in a hostcall of one of these instances.
    if unsafe { (*root_ptr).deps.is_empty() } {
        // An instance that imports nothing reaches no one, so it is in no cycle.
        return;
    }
    // SAFETY: as above; no deps list changes while we walk.
    let members = unsafe { reachable(root_ptr) };
    if members.len() < 2 {
        return;
    }
    let index: HashMap<*const Instance, usize> = members.iter().enumerate().map(|(i, &m)| (m, i)).collect();
    let mut internal = vec![0usize; members.len()];
    for &m in &members {
        // SAFETY: members are kept alive by `root` through deps.
        for d in unsafe { &(*m).deps } {
            if let Some(&i) = index.get(&(d.current() as *const Instance)) {
                internal[i] += 1;
            }
        }
    }
    for (i, &m) in members.iter().enumerate() {
        // SAFETY: as above; the cell is the instance's `Arc` allocation.
        let strong = unsafe { &(*m).me }.strong_count();
        let held_by_caller = usize::from(std::ptr::eq(m, root_ptr));
        if strong != internal[i] + held_by_caller {
            return;
        }
    }
    let mut released = Vec::new();
    for &m in &members {
        // SAFETY: every member pointer is its cell's `current()`, so it may write;
        // nothing else references the members (their only references are each other's
        // deps and `root`, counted above: no handle, so none of them runs). Taking the
        // lists moves the `Arc`s into `released`, so every member stays alive until
        // `released` is dropped.
        released.push(std::mem::take(unsafe { &mut (*(m as *mut Instance)).deps }));
    }
    release_deps(released.into_iter().flatten().collect());
}

impl Deref for InstanceHandle {
    type Target = Instance;
    #[inline]
    fn deref(&self) -> &Instance {
        self.check_thread();
        // SAFETY: this handle is the only host-side source of references to the
        // instance, and we are on the thread where all its other holders are used (just
        // checked). Guest code is not running it: that needs `&mut` of this handle.
        unsafe { &*self.inner.get() }
    }
}

impl DerefMut for InstanceHandle {
    #[inline]
    fn deref_mut(&mut self) -> &mut Instance {
        self.check_thread();
        // SAFETY: as in `deref`; `&mut self` excludes every other host-side reference.
        // The other holders on this thread (export handles, importers, table owners)
        // reach it through raw pointers only while it is not borrowed here, or, during
        // a run that this `&mut` starts, through the header pointer derived from it.
        unsafe { &mut *self.inner.get() }
    }
}

impl std::fmt::Debug for InstanceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InstanceHandle({})", self.dl().path())
    }
}
