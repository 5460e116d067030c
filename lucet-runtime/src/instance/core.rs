//! The instance itself: what one module's state in one slot consists of, the `Arc`
//! cell that holds it, and how compiled code finds it from a vmctx.

use super::host::{HostFuncCtx, HostGlobal};
use super::tags::Exceptions;
use crate::exec::{ExecState, FaultRanges, TrapLookup};
use crate::module::{DlModule, Module};
use crate::region::mmap::{HeapArea, Slot};
use lucet_module::{AdapterContext, FuncRef, MemoryDef, ModuleData, TableDef, TableType, VmctxHeader, VmctxLayout, VALUE_SLOT_SIZE};
use std::any::{Any, TypeId};
use std::cell::{RefCell, UnsafeCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

pub(super) const HOST_PAGE: usize = crate::limits::HOST_PAGE_SIZE;
pub(super) const WASM_PAGE: u64 = crate::limits::WASM_PAGE_SIZE as u64;
/// Calls with at most this many value slots (the larger of the parameter and result
/// counts) keep them inside the instance.
pub(super) const INLINE_SLOTS: usize = 4;
/// Tables never grow past this many elements, whatever their declared maximum.
pub(super) const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

#[derive(Debug)]
pub(super) enum State {
    Ready,
    Yielded,
    Faulted,
    Terminated,
}

/// Where one memory of an instance's memory index space lives.
#[derive(Clone, Copy)]
pub(crate) struct MemLoc {
    pub def: *mut MemoryDef,
    /// The vmctx of the instance that defines it (see [`Instance::at_vmctx`]).
    pub owner_vmctx: *mut u8,
    /// Index among the owner's defined memories.
    pub defined: usize,
    pub ty: lucet_module::MemoryType,
}

#[derive(Clone, Copy)]
pub(crate) struct TableLoc {
    pub def: *mut TableDef,
    /// The vmctx of the instance that defines it.
    pub owner_vmctx: *mut u8,
    /// Index among the owner's defined tables.
    pub defined: usize,
    pub ty: TableType,
}

/// A call in progress or yielded: its results will appear in `Instance::values`.
pub(super) struct Pending {
    /// Module type index of the function called.
    pub(super) type_index: u32,
}

/// A module instantiated in a region slot.
pub struct Instance {
    pub(super) module: Arc<dyn Module>,
    pub(super) layout: VmctxLayout,
    /// At the start of the slot when `layout.heap_offset()` is `Some`, which the slot
    /// owns; otherwise from the allocator (`vmctx_alloc_layout`), freed on drop.
    pub(super) vmctx: *mut u8,
    pub(crate) memories: Vec<MemLoc>,
    pub(crate) tables: Vec<TableLoc>,
    /// Storage of every global of the global index space.
    pub(crate) globals: Vec<*mut [u8; 16]>,
    pub(crate) defined_tables: Vec<Vec<usize>>,
    pub(crate) dropped_data: Vec<bool>,
    pub(crate) dropped_elem: Vec<bool>,
    pub(super) max_heap: u64,
    // Boxed because FuncRefs point at them: their addresses must not move.
    #[allow(clippy::vec_box)]
    pub(super) host_funcs: Vec<Box<HostFuncCtx>>,
    /// The adapter contexts of imports bound to native hostcalls. Boxed for the same reason.
    #[allow(clippy::vec_box)]
    pub(super) native_hostcalls: Vec<Box<AdapterContext>>,
    pub(super) host_globals: Vec<Arc<HostGlobal>>,
    /// Instances this one imports from (directly).
    pub(super) deps: Vec<Arc<InstanceCell>>,
    /// vmctx of every instance reachable through imports (they run on our stack).
    pub(super) linked_vmctxs: Vec<*mut u8>,
    /// `LINK_GENERATION` when `lookup`/`linked_vmctxs` were computed.
    pub(super) link_gen: u64,
    pub(super) lookup: Arc<dyn TrapLookup>,
    /// Where compiled code running on our stack may fault: see `memory_fault_ranges`.
    /// Computed with `lookup`.
    pub(super) fault_ranges: Arc<FaultRanges>,
    /// Boxed: `ExecState::run` holds `&mut ExecState` while the guest runs, and builtins
    /// and hostcalls then make references to the `Instance`; those must not cover it.
    pub(super) exec: Box<ExecState>,
    pub(super) state: State,
    pub(super) start_ran: bool,
    pub(super) pending: Option<Pending>,
    /// The value slots of the call in progress, outside the `Instance` (the trampoline
    /// writes them while builtins may hold `&mut Instance`). Reused from call to call
    /// and allocated at instantiation with room for `INLINE_SLOTS`, so most calls do
    /// not allocate; a call never starts while another is in progress or yielded
    /// (`run` needs `&mut Instance`), so the buffer never moves under a running guest.
    pub(super) values: Vec<[u8; VALUE_SLOT_SIZE]>,
    /// How many value slots the call in progress uses.
    pub(super) n_slots: usize,
    /// Stack limits replaced by the call in progress (see `set_stack_limits`).
    pub(super) saved_limits: Vec<(*mut VmctxHeader, usize)>,
    /// Our own stack limit replaced by the call in progress.
    pub(super) saved_own_limit: usize,
    pub(crate) heap_borrow: RefCell<()>,
    pub(crate) embed_ctx: HashMap<TypeId, RefCell<Box<dyn Any + Send>>>,
    pub(super) me: Weak<InstanceCell>,
    /// The thread this instance is bound to while it shares state (see `handle.rs`).
    pub(super) home: Home,
    /// Heaps of defined memories after the first.
    pub(super) extra_heaps: Vec<HeapArea>,
    /// Tags and caught exception objects.
    pub(crate) exceptions: Exceptions,
    // Dropped last: the heap and stack must outlive everything that points into them.
    pub(super) slot: Slot,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.exec.is_yielded() {
            self.exec.abandon();
        }
        if self.layout.heap_offset().is_none() {
            // SAFETY: allocated in `InstanceBuilder::build` with this layout (a vmctx
            // that the layout places in the slot belongs to the slot).
            unsafe { std::alloc::dealloc(self.vmctx, vmctx_alloc_layout(&self.layout)) };
        }
        // A chain of importers can be long: release it without recursing.
        release_deps(std::mem::take(&mut self.deps));
    }
}

pub(super) fn vmctx_alloc_layout(l: &VmctxLayout) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align((l.size as usize).max(16), 16).expect("vmctx size is small")
}

/// The `Arc`-shared home of an instance. Not `Send` or `Sync` (it holds raw pointers):
/// see the module docs for how its holders stay on one thread.
pub(crate) struct InstanceCell {
    pub(super) inst: UnsafeCell<Instance>,
    /// The instance's vmctx, whose header says how to reach the instance right now.
    pub(super) vmctx: *mut u8,
}

impl InstanceCell {
    /// The cell's own pointer: for the handle, which is the only host-side access path
    /// and is never used while its instance runs (a run holds it mutably).
    pub(crate) fn get(&self) -> *mut Instance {
        self.inst.get()
    }

    /// The pointer valid for reaching the instance at this moment, for every holder
    /// other than the handle: the one its run derived while it runs (a holder may be
    /// used in one of its hostcalls), else the cell's (see `Instance::at_vmctx`).
    pub(crate) fn current(&self) -> *mut Instance {
        // SAFETY: the vmctx lives as long as the instance, which the cell holds.
        unsafe { Instance::at_vmctx(self.vmctx) }
    }
}

thread_local! {
    static THIS_THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// The thread an instance that shares state is bound to: a number given to each thread
/// once, never reused, or 0 before the instance first shared anything.
#[derive(Default)]
pub(crate) struct Home(AtomicU64);

impl Home {
    /// Binds the instance to the calling thread; called wherever it starts sharing
    /// (export handles, linking), which always happens on the thread using it.
    pub(crate) fn bind_here(&self) {
        self.0.store(THIS_THREAD.with(|t| *t), Ordering::Relaxed);
    }

    #[inline]
    pub(super) fn is_here(&self) -> bool {
        self.0.load(Ordering::Relaxed) == THIS_THREAD.with(|t| *t)
    }
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
    let Some(deps) = deps.filter(|d| !d.is_empty()) else {
        return;
    };
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

impl Instance {
    pub(super) fn dl(&self) -> &DlModule {
        self.module.as_dl_module()
    }

    pub(super) fn data(&self) -> &ModuleData {
        self.module.module_data()
    }

    /// The execution state, for the kill switch and timeouts (`kill_switch.rs`).
    pub(crate) fn exec(&self) -> &ExecState {
        &self.exec
    }

    pub(crate) fn exec_mut(&mut self) -> &mut ExecState {
        &mut self.exec
    }

    #[inline]
    pub(crate) fn funcref_ptr(&self, index: u32) -> *mut FuncRef {
        // SAFETY: callers pass a function index of this module.
        unsafe { self.vmctx.add(self.layout.funcref(index) as usize) as *mut FuncRef }
    }

    pub(crate) fn arc(&self) -> Arc<InstanceCell> {
        self.me.upgrade().expect("an instance in use is alive")
    }

    /// The instance whose vmctx is `vmctx`, through the pointer its header holds.
    ///
    /// That pointer is always the one valid for reaching the instance at this moment:
    /// while `run`/`resume` of the instance is on the stack (its guest code, builtins and
    /// hostcalls, and anything nested in those), the pointer they derived from their
    /// `&mut self` just before entering the guest; at any other time the pointer of the
    /// instance's `InstanceCell`. Every path from guest code to an instance goes through
    /// here (builtins, `Vmctx`, the owners of imported memories and tables), so none
    /// of them uses a pointer that a later `&mut` has invalidated.
    ///
    /// # Safety
    /// `vmctx` must be the vmctx of a live instance.
    pub(crate) unsafe fn at_vmctx(vmctx: *mut u8) -> *mut Instance {
        // SAFETY: (caller) a live instance's vmctx starts with its header.
        unsafe { (*(vmctx as *const VmctxHeader)).instance as *mut Instance }
    }
}
