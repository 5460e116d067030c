//! The handles that own an instance or keep it alive, and walks over the graph that
//! instances form by importing from each other.
//!
//! Every walk here is a loop over a work list with a visited set: linked instances can
//! form cycles (an importer of a funcref table is kept alive by the table's owner), and
//! chains of any length, so nothing recurses along `deps`.

use super::Instance;
use std::cell::{RefCell, UnsafeCell};
use std::collections::{HashMap, HashSet};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// The `Arc`-shared home of an instance.
pub(crate) struct InstanceCell(pub(super) UnsafeCell<Instance>);

// SAFETY: an instance is used by one thread at a time: `&mut` access only comes from
// the single `InstanceHandle`, other holders only keep it alive or read through raw
// pointers at link time.
unsafe impl Send for InstanceCell {}
// SAFETY: as above.
unsafe impl Sync for InstanceCell {}

impl InstanceCell {
    pub(crate) fn get(&self) -> *mut Instance {
        self.0.get()
    }
}

/// Owns an instance; dereferences to [`Instance`].
pub struct InstanceHandle {
    pub(super) inner: Arc<InstanceCell>,
}

impl Drop for InstanceHandle {
    fn drop(&mut self) {
        collect_cycles(&self.inner);
    }
}

/// A reference to an instance from an export handle. Like an `InstanceHandle`, dropping
/// it may free a group of instances that only keep each other alive.
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
/// before it; the pointers of those are the cells' own (`InstanceCell::get`).
pub(super) unsafe fn reachable(start: *const Instance) -> Vec<*const Instance> {
    let mut seen: HashSet<*const Instance> = HashSet::from([start]);
    let mut found = vec![start];
    let mut next = 0;
    while next < found.len() {
        // SAFETY: (caller) `start` is live; the others are kept alive by the deps they
        // were found in. Only the `deps` field is read.
        let deps = unsafe { &(*found[next]).deps };
        for d in deps {
            let p = d.get() as *const Instance;
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
    let root_ptr = root.get();
    // SAFETY: `root` is alive; no run is in progress on it (the handle is being
    // dropped, or an export handle that cannot coexist with a `&mut` use of it).
    // Only `deps` is read.
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
            if let Some(&i) = index.get(&(d.get() as *const Instance)) {
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
        // SAFETY: every member pointer comes from its cell (`root.get()` or a dep's
        // `get()`), so it may write; nothing else references the members (their only
        // references are each other's deps and `root`, counted above). Taking the
        // lists moves the `Arc`s into `released`, so every member stays alive until
        // `released` is dropped.
        released.push(std::mem::take(unsafe { &mut (*(m as *mut Instance)).deps }));
    }
    release_deps(released.into_iter().flatten().collect());
}

thread_local! {
    /// Dependencies waiting to be dropped by the `release_deps` loop running on this
    /// thread, if one is.
    static RELEASING: RefCell<Option<Vec<Arc<InstanceCell>>>> = const { RefCell::new(None) };
}

/// Drops `deps`. Dropping the last reference to an instance drops its own deps in turn;
/// instead of recursing along a chain of any length, nested calls hand their lists to
/// the loop of the outermost call on this thread.
pub(super) fn release_deps(deps: Vec<Arc<InstanceCell>>) {
    if deps.is_empty() {
        return;
    }
    let mut deps = Some(deps);
    RELEASING.with(|r| {
        if let Some(queue) = r.borrow_mut().as_mut() {
            queue.append(deps.as_mut().expect("not taken yet"));
        }
    });
    let Some(deps) = deps.filter(|d| !d.is_empty()) else { return };
    RELEASING.with(|r| *r.borrow_mut() = Some(deps));
    loop {
        // The borrow ends before the drop, which may call `release_deps` again.
        let next = RELEASING.with(|r| r.borrow_mut().as_mut().and_then(|q| q.pop()));
        match next {
            Some(dep) => drop(dep),
            None => break,
        }
    }
    RELEASING.with(|r| *r.borrow_mut() = None);
}

impl Deref for InstanceHandle {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        // SAFETY: see `InstanceCell`: this handle is the only source of references.
        unsafe { &*self.inner.get() }
    }
}

impl DerefMut for InstanceHandle {
    fn deref_mut(&mut self) -> &mut Instance {
        // SAFETY: see `InstanceCell`; `&mut self` makes this access exclusive.
        unsafe { &mut *self.inner.get() }
    }
}

impl std::fmt::Debug for InstanceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InstanceHandle({})", self.dl().path())
    }
}
