//! Instances: a module's state in one slot, and running its functions.
//!
//! An [`Instance`] lives behind an `Arc` so that the handles of its exports
//! ([`crate::Extern`]) and the instances that import from it keep it alive; only the
//! [`InstanceHandle`] hands out `&mut Instance`. Compiled code and hostcalls reach the
//! instance through the vmctx header's `instance` pointer.

pub(crate) mod exceptions;
mod handle;
mod memory_geometry;

use crate::error::FaultDetails;
use crate::exec::{Entry, ExecState, FaultRanges, GuestExit, GuestStack, TrapLookup};
use crate::linker::{Extern, Func, FuncKind, Global, GlobalKind, HostFuncCtx, Linker, Memory, Table};
use crate::module::{
    describe_global, describe_memory, describe_table, unresolved, DlModule, Module, MultiCodeMap, ResolvedImport,
};
use crate::region::mmap::{HeapArea, MmapRegion, Slot, STACK_GUARD_SIZE};
use crate::val::{RunResult, UntypedRetVal, Val, YieldedVal};
use crate::{Error, TerminationDetails};
pub use exceptions::Tag;
pub use handle::InstanceHandle;
pub(crate) use handle::{InstanceCell, OwnerRef};
use lucet_module::{
    ConstExpr, ConstOp, ExportKind, FuncRef, FuncType, GlobalType, ImportKind, MemoryDef, ModuleData, SegmentKind,
    TableDef, TableType, TrapCode, VmctxHeader, VmctxLayout, VALUE_SLOT_SIZE,
};
use memory_geometry::{describe_plan, MemoryGeometry};
use std::any::{Any, TypeId};
use std::cell::{BorrowError, BorrowMutError, Ref, RefCell, RefMut, UnsafeCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

pub(crate) const HOST_PAGE: usize = crate::limits::HOST_PAGE_SIZE;
const WASM_PAGE: u64 = crate::limits::WASM_PAGE_SIZE as u64;
/// Calls with at most this many value slots (the larger of the parameter and result
/// counts) keep them inside the instance.
const INLINE_SLOTS: usize = 4;
/// Tables never grow past this many elements, whatever their declared maximum.
const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

/// Bumped whenever an instance gains a dependency, so others recompute what they reach.
static LINK_GENERATION: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
enum State {
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
struct Pending {
    /// Module type index of the function called.
    type_index: u32,
}

/// A module instantiated in a region slot.
pub struct Instance {
    module: Arc<dyn Module>,
    layout: VmctxLayout,
    vmctx: *mut u8,
    pub(crate) memories: Vec<MemLoc>,
    pub(crate) tables: Vec<TableLoc>,
    /// Storage of every global of the global index space.
    pub(crate) globals: Vec<*mut [u8; 16]>,
    pub(crate) defined_tables: Vec<Vec<usize>>,
    pub(crate) dropped_data: Vec<bool>,
    pub(crate) dropped_elem: Vec<bool>,
    max_heap: u64,
    // Boxed because FuncRefs point at them: their addresses must not move.
    #[allow(clippy::vec_box)]
    host_funcs: Vec<Box<HostFuncCtx>>,
    host_globals: Vec<Global>,
    /// Instances this one imports from (directly).
    deps: Vec<Arc<InstanceCell>>,
    /// vmctx of every instance reachable through imports (they run on our stack).
    linked_vmctxs: Vec<*mut u8>,
    /// `LINK_GENERATION` when `lookup`/`linked_vmctxs` were computed.
    link_gen: u64,
    lookup: Arc<dyn TrapLookup>,
    /// Where compiled code running on our stack may fault: see `memory_fault_ranges`.
    /// Computed with `lookup`.
    fault_ranges: Arc<FaultRanges>,
    /// Boxed: `ExecState::run` holds `&mut ExecState` while the guest runs, and builtins
    /// and hostcalls then make references to the `Instance`; those must not cover it.
    exec: Box<ExecState>,
    state: State,
    start_ran: bool,
    pending: Option<Pending>,
    /// The value slots of the call in progress, outside the `Instance` (the trampoline
    /// writes them while builtins may hold `&mut Instance`). Reused from call to call
    /// and allocated at instantiation with room for `INLINE_SLOTS`, so most calls do
    /// not allocate; a call never starts while another is in progress or yielded
    /// (`run` needs `&mut Instance`), so the buffer never moves under a running guest.
    values: Vec<[u8; VALUE_SLOT_SIZE]>,
    /// How many value slots the call in progress uses.
    n_slots: usize,
    /// Stack limits replaced by the call in progress (see `set_stack_limits`).
    saved_limits: Vec<(*mut VmctxHeader, usize)>,
    pub(crate) heap_borrow: RefCell<()>,
    pub(crate) embed_ctx: HashMap<TypeId, RefCell<Box<dyn Any + Send>>>,
    me: Weak<InstanceCell>,
    /// The thread this instance is bound to while it shares state (see `handle.rs`).
    home: handle::Home,
    /// Heaps of defined memories after the first.
    extra_heaps: Vec<HeapArea>,
    /// Tags and caught exception objects.
    pub(crate) exceptions: exceptions::Exceptions,
    // Dropped last: the heap and stack must outlive everything that points into them.
    slot: Slot,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.exec.is_yielded() {
            self.exec.abandon();
        }
        // SAFETY: allocated in `InstanceBuilder::build` with this layout.
        unsafe { std::alloc::dealloc(self.vmctx, vmctx_alloc_layout(&self.layout)) };
        // A chain of importers can be long: release it without recursing.
        handle::release_deps(std::mem::take(&mut self.deps));
    }
}

fn vmctx_alloc_layout(l: &VmctxLayout) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align((l.size as usize).max(16), 16).expect("vmctx size is small")
}

/// Configures and creates an instance.
pub struct InstanceBuilder {
    region: Arc<MmapRegion>,
    module: Arc<dyn Module>,
    embed_ctx: Vec<(TypeId, Box<dyn Any + Send>)>,
    imports: HashMap<(String, String), Extern>,
    heap_limit: Option<usize>,
}

impl InstanceBuilder {
    pub(crate) fn new(region: Arc<MmapRegion>, module: Arc<dyn Module>) -> InstanceBuilder {
        InstanceBuilder { region, module, embed_ctx: Vec::new(), imports: HashMap::new(), heap_limit: None }
    }

    /// Adds an embedder context that hostcalls can reach with `Vmctx::get_embed_ctx`.
    /// It moves with the instance, which may move to another thread, so it must be `Send`:
    ///
    /// ```compile_fail
    /// fn with_rc(b: lucet_runtime::InstanceBuilder) -> lucet_runtime::InstanceBuilder {
    ///     b.with_embed_ctx(std::rc::Rc::new(1))
    /// }
    /// ```
    pub fn with_embed_ctx<T: Any + Send>(mut self, ctx: T) -> Self {
        self.embed_ctx.push((TypeId::of::<T>(), Box::new(ctx)));
        self
    }

    /// Resolves imports from `linker` (before registered hostcalls).
    pub fn with_linker(mut self, linker: &Linker) -> Self {
        for (k, v) in linker.items() {
            self.imports.insert(k.clone(), v.clone());
        }
        self
    }

    /// Caps this instance's heap below the region's `heap_memory_size`.
    pub fn with_heap_size_limit(mut self, bytes: usize) -> Self {
        self.heap_limit = Some(bytes);
        self
    }

    /// Creates the instance: takes a slot, links imports, initialises globals, tables
    /// and memories, applies the active segments and runs the start function.
    pub fn build(self) -> Result<InstanceHandle, Error> {
        let module = self.module.clone();
        let dl = module.as_dl_module();
        let data = dl.module_data();
        let path = dl.path();

        // Check the module fits the slot before taking one.
        let limits = *self.region.limits();
        let max_heap = self.heap_limit.unwrap_or(usize::MAX).min(limits.heap_memory_size) as u64;
        for (i, plan) in data.memory_plans.iter().skip(data.num_imported_memories()).enumerate() {
            // Only the first defined memory lives in the slot's heap reservation, which
            // the stack guard follows.
            let hass = limits.heap_address_space_size as u64;
            let slot = MemoryGeometry {
                reservation: hass,
                guard: STACK_GUARD_SIZE as u64,
                max_len: memory_geometry::max_len(&plan.memory, max_heap).min(hass),
            };
            if i == 0 && !slot.covers(plan) {
                return Err(Error::LimitsExceeded(format!(
                    "module {path} was compiled for {}: its code may touch {} bytes from the heap base, but \
                     the region's slots give a heap {slot} ({} bytes); raise Limits::heap_address_space_size or \
                     recompile with a smaller `lucetc --reserved-size`/`--guard-size`",
                    describe_plan(plan),
                    plan.reach(slot.max_len),
                    slot.span()
                )));
            }
            let initial = plan.memory.min_pages.saturating_mul(WASM_PAGE);
            if initial > max_heap {
                return Err(Error::LimitsExceeded(format!(
                    "module {path} needs an initial heap of {initial} bytes ({} pages), more than the limit of \
                     {max_heap} bytes; raise Limits::heap_memory_size",
                    plan.memory.min_pages
                )));
            }
        }
        let globals_bytes = data.defined_globals.len() * VmctxLayout::GLOBAL_SIZE as usize;
        if globals_bytes > limits.globals_size {
            return Err(Error::LimitsExceeded(format!(
                "module {path} defines {} globals ({globals_bytes} bytes), more than Limits::globals_size ({})",
                data.defined_globals.len(),
                limits.globals_size
            )));
        }

        // The first defined memory lives in the slot; any others (multi-memory) get
        // mappings of their own, with room for their largest size and, after it, all the
        // rest their code can reach as guard.
        let mut extra_heaps = Vec::new();
        for plan in data.memory_plans.iter().skip(data.num_imported_memories() + 1) {
            let g = MemoryGeometry::for_plan(plan, max_heap);
            let (Ok(reservation), Ok(guard)) = (usize::try_from(g.reservation), usize::try_from(g.guard)) else {
                return Err(Error::LimitsExceeded(format!(
                    "module {path} needs a memory mapping of {} bytes, more than the address space",
                    g.span()
                )));
            };
            let area = HeapArea::reserve(reservation, guard)?;
            debug_assert!(MemoryGeometry::of(&area, &plan.memory, max_heap).covers(plan));
            extra_heaps.push(area);
        }
        let slot = self.region.take_slot(dl.memory_image())?;
        let layout = VmctxLayout::new(data);
        // SAFETY: non-zero size, valid alignment.
        let vmctx = unsafe { std::alloc::alloc_zeroed(vmctx_alloc_layout(&layout)) };
        if vmctx.is_null() {
            std::alloc::handle_alloc_error(vmctx_alloc_layout(&layout));
        }
        let stack_limit = slot.stack_bottom as usize + limits.hostcall_reservation;
        let cell = Arc::new_cyclic(|me| InstanceCell {
            vmctx,
            inst: UnsafeCell::new(Instance {
                module: module.clone(),
                layout: layout.clone(),
                vmctx,
                memories: Vec::new(),
                tables: Vec::new(),
                globals: Vec::new(),
                defined_tables: Vec::new(),
                dropped_data: vec![false; data.data_segments.len()],
                dropped_elem: vec![false; data.elem_segments.len()],
                max_heap,
                host_funcs: Vec::new(),
                host_globals: Vec::new(),
                deps: Vec::new(),
                linked_vmctxs: Vec::new(),
                link_gen: 0,
                lookup: dl.code_map().clone(),
                fault_ranges: Arc::default(),
                exec: Box::new(ExecState::new()),
                state: State::Ready,
                start_ran: false,
                pending: None,
                values: Vec::with_capacity(INLINE_SLOTS),
                n_slots: 0,
                saved_limits: Vec::new(),
                heap_borrow: RefCell::new(()),
                embed_ctx: HashMap::new(),
                me: me.clone(),
                home: handle::Home::default(),
                extra_heaps,
                exceptions: Default::default(),
                slot,
            }),
        });
        let cell_ptr = cell.get();
        let mut handle = InstanceHandle::new(cell);
        let inst: &mut Instance = &mut handle;
        // Linking shares state with the exporters, which live on this thread.
        inst.home.bind_here();
        for (t, b) in self.embed_ctx {
            inst.embed_ctx.insert(t, RefCell::new(b));
        }
        // SAFETY: the vmctx block was sized by `layout` for this module.
        unsafe {
            let h = &mut *(vmctx as *mut VmctxHeader);
            h.stack_limit = stack_limit;
            h.builtins = crate::builtins::table();
            h.type_ids = dl.type_ids().as_ptr();
            // Not running: the cell's own pointer (see `Instance::at_vmctx`).
            h.instance = cell_ptr as *mut u8;
        }
        inst.link_imports(dl, &self.imports)?;
        inst.define_tags(dl);
        inst.create_definitions(dl)?;
        // Instances whose tables we write keep us alive: their funcref elements may
        // point into our vmctx and code (Wasm lets segments applied before a failing
        // one persist, even when instantiation then fails).
        let me_arc = inst.arc();
        for i in 0..inst.tables.len() {
            let t = inst.tables[i];
            if t.owner_vmctx != vmctx && t.ty.elem == lucet_module::RefType::FuncRef {
                // SAFETY: the owner is another instance, alive (held in our deps) and
                // bound to this thread. Its header holds the pointer that is valid now
                // (its run's, if this `build` happens in one of its hostcalls, else its
                // cell's; see `at_vmctx`), and nothing else references it meanwhile: a
                // run's hostcall frames keep no reference to their instance.
                let owner = unsafe { &mut *Instance::at_vmctx(t.owner_vmctx) };
                owner.add_dep(&me_arc);
                // Everything that reaches the owner now reaches us too.
                LINK_GENERATION.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(me_arc);
        inst.relink();
        // A slot is handed out clean, so there is nothing to restore.
        inst.initialize(false)?;
        Ok(handle)
    }
}

fn restore_stack_limits(saved: &[(*mut VmctxHeader, usize)]) {
    for &(h, limit) in saved {
        // SAFETY: saved by `set_stack_limits` from vmctxs of instances that are still
        // alive (the running instance keeps them).
        unsafe { (*h).stack_limit = limit };
    }
}

fn ty_name(k: &Extern) -> &'static str {
    match k {
        Extern::Func(_) => "a function",
        Extern::Global(_) => "a global",
        Extern::Table(_) => "a table",
        Extern::Memory(_) => "a memory",
        Extern::Tag(_) => "a tag",
    }
}

impl Instance {
    fn dl(&self) -> &DlModule {
        self.module.as_dl_module()
    }

    fn data(&self) -> &ModuleData {
        self.module.module_data()
    }

    /// Every instance reachable through `deps` (including this one), each once, this
    /// one first. Only their `deps` are read.
    fn reachable(&self) -> Vec<*const Instance> {
        // SAFETY: `self` is live, and deps lists only change in `build` (of this or
        // another instance bound to the same thread) and `collect_cycles`, neither of
        // which can run while we hold `&self`.
        unsafe { handle::reachable(self) }
    }

    /// Recomputes what a run of this instance may reach: the code maps the signal
    /// handler consults and the vmctxs whose stack limit must follow our stack.
    fn relink(&mut self) {
        if self.deps.is_empty() {
            // The common case: only our own code runs on our stack.
            self.linked_vmctxs.clear();
            self.lookup = self.dl().code_map().clone();
            self.fault_ranges = Arc::new(self.memory_fault_ranges());
            self.link_gen = LINK_GENERATION.load(Ordering::Relaxed);
            return;
        }
        let mut maps: Vec<Arc<crate::module::CodeMap>> = Vec::new();
        let mut vmctxs = Vec::new();
        for p in self.reachable() {
            // SAFETY: reachable instances are alive (see `reachable`).
            let inst = unsafe { &*p };
            let m = inst.dl().code_map();
            if !maps.iter().any(|x| Arc::ptr_eq(x, m)) {
                maps.push(m.clone());
            }
            if !std::ptr::eq(p, self) {
                vmctxs.push(inst.vmctx);
            }
        }
        self.linked_vmctxs = vmctxs;
        self.lookup = Arc::new(MultiCodeMap { maps });
        self.fault_ranges = Arc::new(self.memory_fault_ranges());
        self.link_gen = LINK_GENERATION.load(Ordering::Relaxed);
    }

    /// The heap reservations, guards included, of every memory defined by an instance
    /// reachable from this one: the only addresses where code running on our stack may
    /// fault by design, besides the stack guard, which the engine adds. An imported
    /// memory is defined by an instance we reach, whose code runs on our stack as well.
    /// Memories never move and their reservations are fixed at instantiation, so this
    /// changes only when what we reach does.
    fn memory_fault_ranges(&self) -> FaultRanges {
        // A Spectre-guarded access that is out of bounds has its address replaced by 0
        // before it is made, so it faults in the first page, which nothing can map.
        let mut ranges = vec![0..HOST_PAGE];
        for p in self.reachable() {
            // SAFETY: reachable instances are alive (see `reachable`).
            let inst = unsafe { &*p };
            let data = inst.data();
            if data.memory_plans.len() > data.num_imported_memories() {
                ranges.push(inst.slot.heap.reservation_range());
            }
            ranges.extend(inst.extra_heaps.iter().map(HeapArea::reservation_range));
        }
        FaultRanges::new(ranges)
    }

    /// The execution state, for the kill switch and timeouts (`kill_switch.rs`).
    pub(crate) fn exec(&self) -> &ExecState {
        &self.exec
    }

    pub(crate) fn exec_mut(&mut self) -> &mut ExecState {
        &mut self.exec
    }

    pub(crate) fn funcref_ptr(&self, index: u32) -> *mut FuncRef {
        // SAFETY: callers pass a function index of this module.
        unsafe { self.vmctx.add(self.layout.funcref(index) as usize) as *mut FuncRef }
    }

    pub(crate) fn owner_ref(&self) -> OwnerRef {
        // An export handle shares this instance's state with the thread it is made on.
        self.home.bind_here();
        OwnerRef(self.arc())
    }

    pub(crate) fn arc(&self) -> Arc<InstanceCell> {
        self.me.upgrade().expect("an instance in use is alive")
    }

    fn link_imports(&mut self, dl: &DlModule, defs: &HashMap<(String, String), Extern>) -> Result<(), Error> {
        let data = dl.module_data();
        let path = dl.path();
        let (mut nf, mut nm, mut nt, mut ng) = (0u32, 0u32, 0u32, 0u32);
        for (i, imp) in data.imports.iter().enumerate() {
            let def = defs.get(&(imp.module.clone(), imp.field.clone()));
            let mismatch = |want: String, got: String| {
                Error::UnresolvedImport(format!(
                    "module {path} imports `{}`.`{}` as {want}, but the linker provides {got}",
                    imp.module, imp.field
                ))
            };
            match &imp.kind {
                ImportKind::Func(ty) => {
                    let want = &data.types[*ty as usize];
                    let type_id = dl.type_ids()[*ty as usize];
                    let fr = match (def, dl.resolved_imports()[i]) {
                        (Some(Extern::Func(f)), _) => {
                            if f.ty() != want {
                                return Err(mismatch(format!("function {want}"), format!("function {}", f.ty())));
                            }
                            match &f.kind {
                                FuncKind::Instance { owner, funcref, .. } => {
                                    self.add_dep(owner);
                                    // SAFETY: the owner is alive (just added to deps).
                                    unsafe { **funcref }
                                }
                                FuncKind::Host { callback, .. } => {
                                    let mut ctx = Box::new(HostFuncCtx {
                                        callback: crate::exec::unwind::lucet_runtime_host_func_entry,
                                        ty: want.clone(),
                                        f: callback.clone(),
                                    });
                                    let ctx_ptr = &mut *ctx as *mut HostFuncCtx as *mut u8;
                                    self.host_funcs.push(ctx);
                                    FuncRef { func_ptr: dl.adapter(*ty), vmctx: ctx_ptr, type_id, _pad: 0 }
                                }
                            }
                        }
                        (Some(other), _) => return Err(mismatch(format!("function {want}"), ty_name(other).into())),
                        (None, ResolvedImport::Hostcall(p)) => {
                            FuncRef { func_ptr: p, vmctx: self.vmctx, type_id, _pad: 0 }
                        }
                        (None, ResolvedImport::Unresolved) => {
                            return Err(unresolved(path, &imp.module, &imp.field, &format!("function {want}")))
                        }
                    };
                    // SAFETY: nf < number of imported functions <= num_funcs.
                    unsafe { *self.funcref_ptr(nf) = fr };
                    nf += 1;
                }
                ImportKind::Tag(ty) => {
                    let want = &data.types[*ty as usize];
                    match def {
                        Some(Extern::Tag(t)) if t.ty() == want => self.exceptions.tags.push(t.clone()),
                        Some(Extern::Tag(t)) => {
                            return Err(mismatch(format!("tag {want}"), format!("tag {}", t.ty())))
                        }
                        Some(o) => return Err(mismatch(format!("tag {want}"), ty_name(o).into())),
                        None => return Err(unresolved(path, &imp.module, &imp.field, &format!("tag {want}"))),
                    }
                }
                ImportKind::Memory(want) => {
                    let Some(Extern::Memory(m)) = def else {
                        return Err(match def {
                            Some(o) => mismatch("a memory".into(), ty_name(o).into()),
                            None => unresolved(path, &imp.module, &imp.field, &describe_memory(want)),
                        });
                    };
                    self.add_dep(&m.owner);
                    let loc = m.loc();
                    // SAFETY: the owner is alive; its MemoryDef lives in its vmctx.
                    let cur_pages = unsafe { (*loc.def).current_length } / WASM_PAGE;
                    let max_ok = match (want.max_pages, loc.ty.max_pages) {
                        (Some(w), Some(h)) => h <= w,
                        (Some(_), None) => false,
                        (None, _) => true,
                    };
                    if cur_pages < want.min_pages || !max_ok || want.memory64 != loc.ty.memory64 {
                        return Err(mismatch(
                            describe_memory(want),
                            format!("{} currently of {cur_pages} pages", describe_memory(&loc.ty)),
                        ));
                    }
                    // The importer's code accesses this memory as its own plan says; the
                    // memory's mapping must make every access it leaves unchecked fault.
                    let plan = &data.memory_plans[nm as usize];
                    // SAFETY: the owner is alive (just added to deps) and no guest runs
                    // while we link (`build` runs on the thread the exporter is bound to,
                    // see `InstanceHandle`); this only reads its heap geometry and module.
                    let owner = unsafe { &*Instance::at_vmctx(loc.owner_vmctx) };
                    let have = owner.memory_geometry(loc.defined, &loc.ty);
                    if !have.covers(plan) {
                        let owner_data = owner.data();
                        let owner_plan = &owner_data.memory_plans[owner_data.num_imported_memories() + loc.defined];
                        return Err(Error::UnresolvedImport(format!(
                            "module {path} imports memory `{}`.`{}`, and its code was compiled for {}: it may touch \
                             {} bytes from the memory's base without a check. The memory provided, defined by \
                             module {} (compiled for {}), has {have} ({} bytes), so the importer could reach \
                             past it into other memory. Compile both modules with the same `lucetc \
                             --reserved-size`/`--guard-size`, and give the exporter's region a \
                             Limits::heap_address_space_size that covers them",
                            imp.module,
                            imp.field,
                            describe_plan(plan),
                            plan.reach(have.max_len),
                            owner.dl().path(),
                            describe_plan(owner_plan),
                            have.span()
                        )));
                    }
                    // SAFETY: offset inside the vmctx for imported memory nm.
                    unsafe {
                        *(self.vmctx.add(self.layout.imported_memory(nm) as usize) as *mut *mut MemoryDef) = loc.def
                    };
                    self.memories.push(loc);
                    nm += 1;
                }
                ImportKind::Table(want) => {
                    let Some(Extern::Table(t)) = def else {
                        return Err(match def {
                            Some(o) => mismatch("a table".into(), ty_name(o).into()),
                            None => unresolved(path, &imp.module, &imp.field, &describe_table(want)),
                        });
                    };
                    self.add_dep(&t.owner);
                    let loc = t.loc();
                    // SAFETY: the owner is alive; its TableDef lives in its vmctx.
                    let cur = unsafe { (*loc.def).current_elements } as u64;
                    let max_ok = match (want.max, loc.ty.max) {
                        (Some(w), Some(h)) => h <= w,
                        (Some(_), None) => false,
                        (None, _) => true,
                    };
                    if cur < want.min || !max_ok || want.elem != loc.ty.elem {
                        return Err(mismatch(
                            describe_table(want),
                            format!("{} currently of {cur} elements", describe_table(&loc.ty)),
                        ));
                    }
                    // SAFETY: offset inside the vmctx for imported table nt.
                    unsafe {
                        *(self.vmctx.add(self.layout.imported_table(nt) as usize) as *mut *mut TableDef) = loc.def
                    };
                    self.tables.push(loc);
                    nt += 1;
                }
                ImportKind::Global(want) => {
                    let Some(Extern::Global(g)) = def else {
                        return Err(match def {
                            Some(o) => mismatch("a global".into(), ty_name(o).into()),
                            None => unresolved(path, &imp.module, &imp.field, &describe_global(want)),
                        });
                    };
                    if g.ty() != *want {
                        return Err(mismatch(describe_global(want), describe_global(&g.ty())));
                    }
                    match &g.kind {
                        GlobalKind::Instance { owner, .. } => self.add_dep(owner),
                        GlobalKind::Host { .. } => {
                            // Guest code would call through a non-null funcref; a host
                            // global cannot prove that it names a real function.
                            if let Val::FuncRef(p @ 1..) = g.get() {
                                return Err(mismatch(
                                    describe_global(want),
                                    format!("a host global holding funcref {p:#x}; host funcref globals must be null"),
                                ));
                            }
                            self.host_globals.push(g.clone())
                        }
                    }
                    let p = g.storage();
                    // SAFETY: offset inside the vmctx for imported global ng.
                    unsafe { *(self.vmctx.add(self.layout.imported_global(ng) as usize) as *mut *mut [u8; 16]) = p };
                    self.globals.push(p);
                    ng += 1;
                }
            }
        }
        Ok(())
    }

    fn add_dep(&mut self, owner: &Arc<InstanceCell>) {
        if !self.deps.iter().any(|d| Arc::ptr_eq(d, owner)) {
            self.deps.push(owner.clone());
        }
    }

    /// Creates defined memories, tables, globals and function references (once).
    fn create_definitions(&mut self, dl: &DlModule) -> Result<(), Error> {
        let data = dl.module_data();
        let me = self.vmctx;
        for (i, plan) in data.memory_plans.iter().skip(data.num_imported_memories()).enumerate() {
            let def = self.def_memory_ptr(i as u32);
            let base = self.heap_area(i).base;
            // SAFETY: offset inside the vmctx.
            unsafe { *def = MemoryDef { base, current_length: 0 } };
            self.memories.push(MemLoc { def, owner_vmctx: me, defined: i, ty: plan.memory });
        }
        for (i, t) in data.defined_tables.iter().enumerate() {
            let def = self.def_table_ptr(i as u32);
            self.defined_tables.push(Vec::new());
            self.tables.push(TableLoc { def, owner_vmctx: me, defined: i, ty: *t });
        }
        for i in 0..data.defined_globals.len() {
            // SAFETY: offset inside the vmctx.
            let p = unsafe { self.vmctx.add(self.layout.defined_global(i as u32) as usize) } as *mut [u8; 16];
            self.globals.push(p);
        }
        let n_imp = data.num_imported_funcs();
        for (k, fr) in dl.defined_funcrefs().iter().enumerate() {
            // SAFETY: n_imp + k is a function index of this module.
            unsafe { *self.funcref_ptr((n_imp + k) as u32) = FuncRef { vmctx: self.vmctx, ..*fr } };
        }
        Ok(())
    }

    fn def_memory_ptr(&self, i: u32) -> *mut MemoryDef {
        // SAFETY: offset inside the vmctx.
        unsafe { self.vmctx.add(self.layout.defined_memory(i) as usize) as *mut MemoryDef }
    }

    fn def_table_ptr(&self, i: u32) -> *mut TableDef {
        // SAFETY: offset inside the vmctx.
        unsafe { self.vmctx.add(self.layout.defined_table(i) as usize) as *mut TableDef }
    }

    /// Brings definitions to their initial state, applies segments, runs start.
    /// `restore`: the heaps may hold data from earlier runs (a reset), rather than being
    /// clean (a fresh slot).
    fn initialize(&mut self, restore: bool) -> Result<(), Error> {
        let module = self.module.clone();
        let data = module.module_data();
        let image = module.as_dl_module().memory_image().cloned();
        // Memories: back to their clean contents, at the initial size.
        for (i, plan) in data.memory_plans.iter().skip(data.num_imported_memories()).enumerate() {
            let len = plan.memory.min_pages * WASM_PAGE;
            let area = self.heap_area(i);
            if restore {
                area.restore()?;
            }
            // A slot may still carry the image of the module that used it before.
            // (An image always belongs to memory 0, the first defined one.)
            let want = if i == 0 { image.as_ref() } else { None };
            if !area.has_image(want) {
                area.remove_image()?;
            }
            area.set_accessible(len as usize)?;
            // SAFETY: defined memory i of this vmctx.
            unsafe { (*self.def_memory_ptr(i as u32)).current_length = len };
        }
        for (i, t) in data.defined_tables.iter().enumerate() {
            let v = &mut self.defined_tables[i];
            v.clear();
            v.resize(t.min.min(MAX_TABLE_ELEMENTS) as usize, 0);
            let def = TableDef { base: v.as_mut_ptr(), current_elements: v.len() as u32, _pad: 0 };
            // SAFETY: defined table i of this vmctx.
            unsafe { *self.def_table_ptr(i as u32) = def };
        }
        let n_imp_g = data.num_imported_globals();
        for (i, g) in data.defined_globals.iter().enumerate() {
            let bits = self.eval_const(&g.init).map_err(|e| self.init_error(e))?;
            // SAFETY: storage of defined global i.
            unsafe { *self.globals[n_imp_g + i] = bits.to_le_bytes() };
        }
        self.dropped_data.iter_mut().for_each(|d| *d = false);
        self.dropped_elem.iter_mut().for_each(|d| *d = false);

        for (i, seg) in data.elem_segments.iter().enumerate() {
            match &seg.kind {
                SegmentKind::Active { index, offset } => {
                    let off = self.eval_const(offset).map_err(|e| self.init_error(e))? as u32;
                    if self.table_init(*index, i as u32, off, 0, seg.items.len() as u32).is_err() {
                        // No data segment may appear applied: a function stored in an
                        // imported table before the failure can still read the memory.
                        if image.is_some() {
                            self.heap_area(0).remove_image()?;
                        }
                        return Err(Error::InstantiationTrap(self.fault(TrapCode::TableOutOfBounds)));
                    }
                    self.dropped_elem[i] = true;
                }
                SegmentKind::Declared => self.dropped_elem[i] = true,
                SegmentKind::Passive => {}
            }
        }
        // The image holds exactly the segments it covers (all of memory 0's, all in
        // bounds), so mapping it is applying them.
        if let Some(image) = &image {
            self.heap_area(0).install_image(image)?;
        }
        for (i, seg) in data.data_segments.iter().enumerate() {
            if let SegmentKind::Active { index, offset } = &seg.kind {
                if module.as_dl_module().image_covers(i) {
                    self.dropped_data[i] = true;
                    continue;
                }
                let off = self.eval_const(offset).map_err(|e| self.init_error(e))? as u64;
                if self.memory_init(*index, i as u32, off, 0, seg.data.len() as u32).is_err() {
                    return Err(Error::InstantiationTrap(self.fault(TrapCode::HeapOutOfBounds)));
                }
                self.dropped_data[i] = true;
            }
        }
        self.state = State::Ready;
        self.start_ran = false;
        if let Some(start) = data.start {
            self.start_ran = true;
            match self.call_index(start, &[]) {
                Ok(_) => {}
                Err(Error::RuntimeFault(d)) => return Err(Error::InstantiationTrap(d)),
                Err(e) => return Err(e),
            }
        }
        self.start_ran = true;
        Ok(())
    }

    fn fault(&self, code: TrapCode) -> FaultDetails {
        FaultDetails { trap_code: code, function: None, wasm_offset: None, rip: 0, fault_addr: None }
    }

    fn init_error(&self, e: String) -> Error {
        Error::InvalidModule { path: self.dl().path().to_string(), reason: e }
    }

    /// Evaluates a constant expression to the bits of its value.
    pub(crate) fn eval_const(&self, e: &ConstExpr) -> Result<u128, String> {
        // Almost every initialiser is a single constant, `ref.func` or `global.get`:
        // evaluate those without a stack (this runs for every element of every segment).
        if let [op] = e.ops.as_slice() {
            match *op {
                ConstOp::I32Const(v) => return Ok(v as u32 as u128),
                ConstOp::I64Const(v) => return Ok(v as u64 as u128),
                ConstOp::RefNull => return Ok(0),
                ConstOp::RefFunc(f) if (f as usize) < self.data().functions.len() => {
                    return Ok(self.funcref_ptr(f) as usize as u128)
                }
                _ => {}
            }
        }
        let mut st: Vec<u128> = Vec::with_capacity(2);
        let pop = |st: &mut Vec<u128>| st.pop().ok_or_else(|| "constant expression pops an empty stack".to_string());
        for op in &e.ops {
            let v = match *op {
                ConstOp::I32Const(v) => v as u32 as u128,
                ConstOp::I64Const(v) => v as u64 as u128,
                ConstOp::F32Const(v) => v as u128,
                ConstOp::F64Const(v) => v as u128,
                ConstOp::V128Const(v) => v,
                ConstOp::RefNull => 0,
                ConstOp::RefFunc(f) => {
                    if f as usize >= self.data().functions.len() {
                        return Err(format!("ref.func {f} names no function"));
                    }
                    self.funcref_ptr(f) as usize as u128
                }
                ConstOp::GlobalGet(g) => {
                    let p = *self.globals.get(g as usize).ok_or_else(|| format!("global.get {g} names no global"))?;
                    // SAFETY: global storage pointers stay valid for the instance's life.
                    u128::from_le_bytes(unsafe { *p })
                }
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let b = pop(&mut st)? as u32;
                    let a = pop(&mut st)? as u32;
                    (match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    }) as u128
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let b = pop(&mut st)? as u64;
                    let a = pop(&mut st)? as u64;
                    (match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    }) as u128
                }
            };
            st.push(v);
        }
        st.pop().ok_or_else(|| "empty constant expression".to_string())
    }

    // ---- operations shared by instantiation and the builtins ----

    pub(crate) fn memory_slice(&self, mem: u32) -> Option<(*mut u8, u64)> {
        let loc = self.memories.get(mem as usize)?;
        // SAFETY: MemoryDefs stay valid while their owner lives (kept by deps).
        let d = unsafe { *loc.def };
        Some((d.base, d.current_length))
    }

    pub(crate) fn memory_init(&mut self, mem: u32, data: u32, dst: u64, src: u32, len: u32) -> Result<(), ()> {
        let module = self.module.clone();
        let seg = module.module_data().data_segments.get(data as usize).ok_or(())?;
        let bytes: &[u8] = if self.dropped_data[data as usize] { &[] } else { &seg.data };
        let (base, cur) = self.memory_slice(mem).ok_or(())?;
        let end_src = (src as u64).checked_add(len as u64).ok_or(())?;
        let end_dst = dst.checked_add(len as u64).ok_or(())?;
        if end_src > bytes.len() as u64 || end_dst > cur {
            return Err(());
        }
        // SAFETY: both ranges were bounds-checked above; the segment bytes are not in
        // guest memory, so they do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(src as usize), base.add(dst as usize), len as usize)
        };
        Ok(())
    }

    pub(crate) fn table_init(&mut self, table: u32, elem: u32, dst: u32, src: u32, len: u32) -> Result<(), ()> {
        let module = self.module.clone();
        let seg = module.module_data().elem_segments.get(elem as usize).ok_or(())?;
        let n = if self.dropped_elem[elem as usize] { 0 } else { seg.items.len() as u64 };
        let loc = *self.tables.get(table as usize).ok_or(())?;
        // SAFETY: TableDefs stay valid while their owner lives.
        let cur = unsafe { (*loc.def).current_elements } as u64;
        if src as u64 + len as u64 > n || dst as u64 + len as u64 > cur {
            return Err(());
        }
        for k in 0..len {
            let v = self.eval_const(&seg.items[(src + k) as usize]).map_err(|_| ())? as usize;
            // SAFETY: index bounds-checked above.
            unsafe { *(*loc.def).base.add((dst + k) as usize) = v };
        }
        Ok(())
    }

    fn heap_area(&mut self, defined: usize) -> &mut HeapArea {
        match defined {
            0 => &mut self.slot.heap,
            n => &mut self.extra_heaps[n - 1],
        }
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

    /// Grows the defined memory at `loc` (of this instance's memory index space) in its
    /// owner; returns the old size in pages.
    pub(crate) fn grow_memory_at(&mut self, loc: &MemLoc, delta: u64) -> Option<u64> {
        if loc.owner_vmctx == self.vmctx {
            return self.grow_defined_memory(loc, delta);
        }
        // SAFETY: another instance (we keep it alive through deps), bound to our thread.
        // Nothing references it now: its handle is not in use while we are (one thread),
        // and if its run is up the stack, that run reaches it only through the same
        // header pointer and is suspended in guest code until we return.
        let owner = unsafe { &mut *Instance::at_vmctx(loc.owner_vmctx) };
        owner.grow_defined_memory(loc, delta)
    }

    /// Grows the defined table at `loc` in its owner; returns the old size.
    pub(crate) fn grow_table_at(&mut self, loc: &TableLoc, delta: u32, init: usize) -> Option<u32> {
        if loc.owner_vmctx == self.vmctx {
            return self.grow_defined_table(loc.defined, loc.def, loc.ty, delta, init);
        }
        // SAFETY: as in `grow_memory_at`.
        let owner = unsafe { &mut *Instance::at_vmctx(loc.owner_vmctx) };
        owner.grow_defined_table(loc.defined, loc.def, loc.ty, delta, init)
    }

    /// How this instance's defined memory `defined` (of type `ty`) is mapped.
    fn memory_geometry(&self, defined: usize, ty: &lucet_module::MemoryType) -> MemoryGeometry {
        let area = match defined {
            0 => &self.slot.heap,
            n => &self.extra_heaps[n - 1],
        };
        MemoryGeometry::of(area, ty, self.max_heap)
    }

    /// Grows defined memory `loc` (of this instance); returns the old size in pages.
    pub(crate) fn grow_defined_memory(&mut self, loc: &MemLoc, delta: u64) -> Option<u64> {
        let (def, ty) = (loc.def, loc.ty);
        // SAFETY: `def` is one of this instance's MemoryDefs.
        let cur = unsafe { (*def).current_length };
        let old_pages = cur / WASM_PAGE;
        let new_pages = old_pages.checked_add(delta)?;
        let abs_max = if ty.memory64 { u64::MAX / WASM_PAGE } else { 65536 };
        let max = ty.max_pages.unwrap_or(abs_max).min(abs_max).min(self.max_heap / WASM_PAGE);
        if new_pages > max {
            return None;
        }
        if delta == 0 {
            return Some(old_pages);
        }
        let new_len = new_pages * WASM_PAGE;
        self.heap_area(loc.defined).set_accessible(usize::try_from(new_len).ok()?).ok()?;
        // SAFETY: as above.
        unsafe { (*def).current_length = new_len };
        Some(old_pages)
    }

    /// Grows defined table `defined` of this instance; returns the old size.
    pub(crate) fn grow_defined_table(
        &mut self,
        defined: usize,
        def: *mut TableDef,
        ty: TableType,
        delta: u32,
        init: usize,
    ) -> Option<u32> {
        let v = &mut self.defined_tables[defined];
        let old = v.len() as u64;
        let new = old.checked_add(delta as u64)?;
        if new > ty.max.unwrap_or(u32::MAX as u64).min(MAX_TABLE_ELEMENTS) {
            return None;
        }
        v.try_reserve(delta as usize).ok()?;
        v.resize(new as usize, init);
        // SAFETY: `def` is this table's TableDef in our vmctx.
        unsafe { *def = TableDef { base: v.as_mut_ptr(), current_elements: new as u32, _pad: 0 } };
        Some(old as u32)
    }

    // ---- running ----

    /// Runs the exported function `entrypoint` with `args`.
    pub fn run(&mut self, entrypoint: &str, args: &[Val]) -> Result<RunResult, Error> {
        let index = self.export_func_index(entrypoint)?;
        self.call_index(index, args)
    }

    /// Runs a function by its index in the module's function index space.
    pub fn run_func_index(&mut self, index: u32, args: &[Val]) -> Result<RunResult, Error> {
        if index as usize >= self.data().functions.len() {
            return Err(Error::SymbolNotFound(format!("the module has no function with index {index}")));
        }
        self.call_index(index, args)
    }

    /// Runs the module's start function if instantiation has not already done so.
    /// (Instantiation runs it, as WebAssembly requires, so this is normally a no-op.)
    pub fn run_start(&mut self) -> Result<(), Error> {
        if self.start_ran {
            return Ok(());
        }
        self.start_ran = true;
        match self.data().start {
            Some(s) => self.call_index(s, &[]).map(|_| ()),
            None => Ok(()),
        }
    }

    /// The index of the exported function `name`, or an error listing what the module
    /// does export (and pointing a WASI `main` to `_start`).
    pub(crate) fn export_func_index(&self, name: &str) -> Result<u32, Error> {
        let data = self.data();
        match data.export(name) {
            Some(ExportKind::Func(i)) => Ok(i),
            Some(other) => Err(Error::SymbolNotFound(format!(
                "export `{name}` of module {} is a {}, not a function",
                self.dl().path(),
                match other {
                    ExportKind::Memory(_) => "memory",
                    ExportKind::Table(_) => "table",
                    ExportKind::Global(_) => "global",
                    ExportKind::Func(_) => "function",
                    ExportKind::Tag(_) => "tag",
                }
            ))),
            None => {
                let funcs: Vec<&str> = data
                    .exports
                    .iter()
                    .filter(|e| matches!(e.kind, ExportKind::Func(_)))
                    .map(|e| e.name.as_str())
                    .collect();
                let mut msg = format!("module {} has no exported function `{name}`; ", self.dl().path());
                if funcs.is_empty() {
                    msg.push_str("it exports no functions");
                } else {
                    msg.push_str(&format!("its function exports are: {}", funcs.join(", ")));
                }
                if name == "main" && funcs.contains(&"_start") {
                    msg.push_str(". This is a WASI command: run `_start` instead of `main` (it calls main and exits)");
                }
                Err(Error::SymbolNotFound(msg))
            }
        }
    }

    fn check_runnable(&self) -> Result<(), Error> {
        match &self.state {
            State::Ready => Ok(()),
            State::Yielded => Err(Error::InstanceNotReturned),
            // A trap ends only the call that trapped (WebAssembly semantics, and the
            // original Lucet's behaviour for non-fatal faults): memory, tables and globals
            // keep their state and the instance can run again.
            State::Faulted => Ok(()),
            State::Terminated => Err(Error::InstanceNeedsReset("it was terminated".into())),
        }
    }

    pub(crate) fn call_index(&mut self, index: u32, args: &[Val]) -> Result<RunResult, Error> {
        self.check_runnable()?;
        // Nothing here allocates on the way in: this is the host->guest call path.
        let module = &self.module;
        let data = module.module_data();
        let f = &data.functions[index as usize];
        let type_index = f.type_index;
        let ty: &FuncType = &data.types[type_index as usize];
        let coerced = args.iter().zip(&ty.params).position(|(a, t)| a.coerce(*t).is_err());
        if args.len() != ty.params.len() || coerced.is_some() {
            return Err(self.argument_error(index, ty, args, coerced));
        }
        let n_slots = ty.params.len().max(ty.results.len()).max(1);
        let trampoline = module.as_dl_module().trampoline(type_index);
        if args.iter().any(|a| matches!(a, Val::FuncRef(_))) {
            for a in args {
                self.check_funcref(a)?;
            }
        }
        self.n_slots = n_slots;
        // Within the capacity reserved at instantiation for most calls: no allocation.
        self.values.clear();
        self.values.resize(n_slots, [0u8; VALUE_SLOT_SIZE]);
        for ((slot, a), t) in self.values.iter_mut().zip(args).zip(&ty.params) {
            // Checked above; a failure here could only repeat the same answer.
            *slot = a.coerce(*t).unwrap_or(*a).to_slot();
        }
        // SAFETY: funcref of a valid function index, filled at instantiation.
        let fr = unsafe { *self.funcref_ptr(index) };
        self.pending = Some(Pending { type_index });
        if self.link_gen != LINK_GENERATION.load(Ordering::Relaxed) {
            self.relink();
        }
        self.check_no_memory_borrowed()?;
        self.set_stack_limits();
        let stack = self.guest_stack();
        let values = self.values.as_mut_ptr();
        let entry = Entry { trampoline, vmctx: fr.vmctx, callee: fr.func_ptr, values };
        let exit = self.enter(|exec, lookup, faults| {
            // SAFETY: the entry was built from this module's trampoline and a funcref of
            // the right type; the stack is this slot's, unused by anyone else.
            unsafe { exec.run(&stack, entry, lookup, faults) }
        });
        restore_stack_limits(&self.saved_limits);
        self.finish(exit)
    }

    /// Why `args` cannot be passed to function `index` of type `ty`: a wrong count, or
    /// argument `bad` that does not fit its parameter.
    #[cold]
    fn argument_error(&self, index: u32, ty: &FuncType, args: &[Val], bad: Option<usize>) -> Error {
        let name = self.dl().function_name(index);
        let got: Vec<&str> = args.iter().map(|a| a.type_name()).collect();
        let mut msg = format!("function `{name}` has signature {ty}, but was called with ({})", got.join(", "));
        if let Some(i) = bad {
            let (a, t) = (args[i], ty.params[i]);
            let why = match a.coerce(t) {
                Err(crate::val::ValMismatch::Range) => "does not fit in",
                _ => "cannot be passed as",
            };
            msg.push_str(&format!(
                ": argument {i} ({} {a}) {why} {t}; pass a value of the parameter's type, e.g. `Val::{}`",
                a.type_name(),
                match t {
                    lucet_module::ValType::I32 => "I32",
                    lucet_module::ValType::I64 => "I64",
                    lucet_module::ValType::F32 => "F32",
                    lucet_module::ValType::F64 => "F64",
                    lucet_module::ValType::V128 => "V128",
                    lucet_module::ValType::FuncRef => "FuncRef",
                    lucet_module::ValType::ExternRef => "ExternRef",
                    lucet_module::ValType::ExnRef => "ExnRef",
                }
            ));
        } else {
            msg.push_str(&format!(": it takes {} arguments, not {}", ty.params.len(), args.len()));
        }
        Error::InvalidArgument(msg)
    }

    /// Runs `go` (which enters the guest) under the aliasing discipline of
    /// [`Instance::at_vmctx`]: the header's instance pointer is derived from `&mut self`
    /// first, and from then until the guest has left, `self` is not used: guest code,
    /// builtins and hostcalls reach the instance through that pointer, one at a time on
    /// this thread. What the entry path itself keeps using meanwhile (the `ExecState`,
    /// the trap lookup, the value slots) lives in allocations of its own, so the
    /// references they make to the `Instance` overlap nothing it holds.
    fn enter(
        &mut self,
        go: impl FnOnce(&mut ExecState, &Arc<dyn TrapLookup>, &Arc<FaultRanges>) -> GuestExit,
    ) -> GuestExit {
        let exec: *mut ExecState = &mut *self.exec;
        let lookup = self.lookup.clone();
        let faults = self.fault_ranges.clone();
        let header = self.vmctx as *mut VmctxHeader;
        let me: *mut Instance = self;
        // SAFETY: our own vmctx header; writing it creates no reference to `self`.
        let previous = unsafe { std::mem::replace(&mut (*header).instance, me as *mut u8) };
        // SAFETY: `exec` points into our box, which nothing else references: only the
        // entry path uses the `ExecState`, and it is not re-entered for this instance
        // (a nested run of it would need `&mut` to it, which the caller holds).
        let exit = go(unsafe { &mut *exec }, &lookup, &faults);
        // Leaving: back to the cell's pointer, which `previous` is (a run of this
        // instance never nests in another run of it: both would need `&mut self`).
        // SAFETY: as above.
        unsafe { (*header).instance = previous };
        exit
    }

    /// A run reaches every memory of the instances it is linked to. A hostcall further up
    /// this thread's stack may hold a view of one of them (`Vmctx::heap`); the guest
    /// must not write under it.
    fn check_no_memory_borrowed(&self) -> Result<(), Error> {
        let busy = |i: &Instance| i.heap_borrow.try_borrow_mut().is_err();
        if busy(self)
            || self.linked_vmctxs.iter().any(|&v| {
                // SAFETY: linked instances are alive (kept through deps) and, bound to
                // this thread, not otherwise referenced (see `grow_memory_at`); only
                // their borrow flag is read.
                busy(unsafe { &*Instance::at_vmctx(v) })
            })
        {
            return Err(Error::InvalidArgument(
                "a hostcall up the stack holds a view of a memory this run can write (Vmctx::heap or \
                 heap_mut); drop it before running a linked instance"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A `funcref` from the host must be null or point at a function reference of this
    /// instance or of one it reaches: guest code will call through it.
    fn check_funcref(&self, v: &Val) -> Result<(), Error> {
        let Val::FuncRef(p) = *v else { return Ok(()) };
        if p == 0 {
            return Ok(());
        }
        let size = std::mem::size_of::<FuncRef>();
        for i in self.reachable() {
            // SAFETY: reachable instances are alive (see `reachable`).
            let inst = unsafe { &*i };
            let start = inst.vmctx as usize + inst.layout.funcrefs as usize;
            let end = start + inst.layout.num_funcs as usize * size;
            // `is_multiple_of` is newer than the workspace's minimum Rust version.
            #[allow(clippy::manual_is_multiple_of)]
            let aligned = p.wrapping_sub(start) % size == 0;
            if (start..end).contains(&p) && aligned {
                return Ok(());
            }
        }
        Err(Error::InvalidArgument(format!(
            "funcref {p:#x} is not a function of this instance or of an instance it is linked to; pass a \
             funcref obtained from one of them (e.g. `Func::as_funcref`) or null"
        )))
    }

    fn guest_stack(&self) -> GuestStack {
        GuestStack {
            guard_start: self.slot.guard_start as usize,
            guard_end: self.slot.stack_bottom as usize,
            top: self.slot.stack_top() as usize & !15,
        }
    }

    /// Every instance reachable through imports runs on our stack during our calls,
    /// so their prologue checks must compare against our stack's limit. Returns the
    /// previous limits: when this run is nested in a hostcall of another run, that run's
    /// limits must be back in place when we return to it.
    fn set_stack_limits(&mut self) {
        let limit = self.slot.stack_bottom as usize + self.slot.limits().hostcall_reservation;
        self.saved_limits.clear();
        for &v in std::iter::once(&self.vmctx).chain(self.linked_vmctxs.iter()) {
            let h = v as *mut VmctxHeader;
            // SAFETY: the vmctxs of live instances (kept alive through deps).
            unsafe {
                self.saved_limits.push((h, (*h).stack_limit));
                (*h).stack_limit = limit;
            }
        }
    }

    fn finish(&mut self, exit: GuestExit) -> Result<RunResult, Error> {
        self.clean_run_borrows();
        match exit {
            GuestExit::Returned => {
                let p = self.pending.take().expect("a call was pending");
                let results = &self.module.module_data().types[p.type_index as usize].results;
                let slots = &self.values[..self.n_slots];
                let vals = results.iter().zip(slots).map(|(t, s)| Val::from_slot(*t, s)).collect();
                self.state = State::Ready;
                Ok(RunResult::Returned(UntypedRetVal::new(vals)))
            }
            GuestExit::Yielded(v) => {
                self.state = State::Yielded;
                Ok(RunResult::Yielded(YieldedVal(v)))
            }
            GuestExit::Terminated(TerminationDetails::Provided(d)) if d.is::<exceptions::Uncaught>() => {
                self.pending = None;
                self.state = State::Faulted;
                let tag = d.downcast_ref::<exceptions::Uncaught>().map(|u| u.tag.clone()).unwrap_or_default();
                Err(Error::UncaughtException { tag })
            }
            GuestExit::Terminated(d) => {
                self.pending = None;
                self.state = State::Terminated;
                Err(Error::RuntimeTerminated(d))
            }
            GuestExit::Faulted { trap, rip, fault_addr } => {
                self.pending = None;
                let function = self.function_at(rip).or_else(|| trap.function.map(|f| self.dl().function_name(f)));
                let details =
                    FaultDetails { trap_code: trap.code, function, wasm_offset: trap.wasm_offset, rip, fault_addr };
                self.state = State::Faulted;
                Err(Error::RuntimeFault(details))
            }
        }
    }

    /// Name of the guest function containing `pc`, searching linked modules too.
    fn function_at(&self, pc: usize) -> Option<String> {
        if let Some(r) = self.dl().code_map().find(pc) {
            return Some(self.dl().function_name(r.func_index));
        }
        // Linked instances may form cycles: walk them once each.
        self.reachable().into_iter().skip(1).find_map(|p| {
            // SAFETY: reachable instances are alive (see `reachable`); their modules
            // never change.
            let dl = unsafe { (*p).module.as_dl_module() };
            dl.code_map().find(pc).map(|r| dl.function_name(r.func_index))
        })
    }

    /// After a run: terminating abandons hostcall frames, possibly with live borrows; no
    /// such borrow can be used again, so the flags are reset. That is sound for the
    /// memory views of every instance the run reached, because `check_no_memory_borrowed`
    /// found them all free when the run (or resume) began, and hostcalls outside the run
    /// stay suspended until it ends: every borrow now held comes from the run's frames.
    /// (A yielded run holds none; see `Vmctx::yield_val`.)
    fn clean_run_borrows(&mut self) {
        self.clean_own_borrows();
        for &v in &self.linked_vmctxs {
            // SAFETY: a linked instance, alive (kept through deps) and bound to this
            // thread; its header pointer is the valid one (`at_vmctx`). Replacing the
            // flag in place makes no reference to the rest of it.
            unsafe { std::ptr::addr_of_mut!((*Instance::at_vmctx(v)).heap_borrow).write(RefCell::new(())) };
        }
    }

    /// Resets this instance's own borrow flags; see `clean_run_borrows`. Its embedder
    /// contexts are only reachable from hostcalls of its own runs, so they are free
    /// whenever this instance does not run.
    fn clean_own_borrows(&mut self) {
        self.heap_borrow = RefCell::new(());
        for cell in self.embed_ctx.values_mut() {
            let v = std::mem::replace(cell.get_mut(), Box::new(()));
            *cell = RefCell::new(v);
        }
    }

    /// Continues a yielded run.
    pub fn resume(&mut self) -> Result<RunResult, Error> {
        self.resume_inner(None)
    }

    /// Continues a yielded run; the yielding hostcall receives `val`.
    pub fn resume_with_val<A: Any + Send + 'static>(&mut self, val: A) -> Result<RunResult, Error> {
        self.resume_inner(Some(Box::new(val)))
    }

    fn resume_inner(&mut self, val: Option<Box<dyn Any + Send>>) -> Result<RunResult, Error> {
        if !matches!(self.state, State::Yielded) || !self.exec.is_yielded() {
            return Err(Error::InstanceNotYielded);
        }
        self.check_no_memory_borrowed()?;
        self.state = State::Ready;
        self.set_stack_limits();
        let exit = self.enter(|exec, _, _| {
            // SAFETY: the guest yielded on this instance's stack and has not been abandoned.
            unsafe { exec.resume(val) }
        });
        restore_stack_limits(&self.saved_limits);
        self.finish(exit)
    }

    /// Returns the instance to its freshly-instantiated state: heap zeroed and data
    /// re-applied, globals and tables re-initialised, dropped segments restored, start
    /// function run again. A yielded run is abandoned.
    pub fn reset(&mut self) -> Result<(), Error> {
        // Restoring the heaps writes them: not under a hostcall's view.
        self.check_no_memory_borrowed()?;
        if self.exec.is_yielded() {
            self.exec.abandon();
        }
        self.pending = None;
        self.clean_own_borrows();
        self.state = State::Ready;
        self.exceptions.clear_objects();
        self.initialize(true)
    }

    /// Forgets that the last run trapped (`is_faulted()` becomes false). Running again
    /// does not require it: a trap ends only the call that trapped.
    pub fn clear_trap(&mut self) {
        if matches!(self.state, State::Faulted) {
            self.state = State::Ready;
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }
    pub fn is_yielded(&self) -> bool {
        matches!(self.state, State::Yielded)
    }
    pub fn is_faulted(&self) -> bool {
        matches!(self.state, State::Faulted)
    }
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    // ---- memory ----

    /// Host slices of memory 0 must not coexist with a hostcall's view of it through
    /// `Vmctx::heap_mut` (a hostcall further up this thread's stack, of an instance
    /// that imports this memory, holding a handle to this one).
    fn expect_heap_not_viewed(&self) {
        let Some(loc) = self.memories.first() else { return };
        let viewed = if loc.owner_vmctx == self.vmctx {
            self.heap_borrow.try_borrow_mut().is_err()
        } else {
            // SAFETY: the owner is alive (kept through deps) and bound to this thread;
            // only its borrow flag is read.
            unsafe { &*Instance::at_vmctx(loc.owner_vmctx) }.heap_borrow.try_borrow_mut().is_err()
        };
        assert!(!viewed, "memory 0 is borrowed by a hostcall up the stack (Vmctx::heap/heap_mut); drop that first");
    }

    /// Linear memory 0 (empty if the module has none).
    pub fn heap(&self) -> &[u8] {
        self.expect_heap_not_viewed();
        match self.memory_slice(0) {
            // SAFETY: the accessible part of memory 0; `&self` prevents a concurrent
            // run (which needs `&mut self`) from growing or writing it.
            Some((b, len)) => unsafe { std::slice::from_raw_parts(b, len as usize) },
            None => &[],
        }
    }

    /// Linear memory 0, writable.
    pub fn heap_mut(&mut self) -> &mut [u8] {
        self.expect_heap_not_viewed();
        match self.memory_slice(0) {
            // SAFETY: as in `heap`, with exclusive access.
            Some((b, len)) => unsafe { std::slice::from_raw_parts_mut(b, len as usize) },
            None => &mut [],
        }
    }

    /// Linear memory 0 as 32-bit words.
    pub fn heap_u32s(&self) -> &[u32] {
        self.expect_heap_not_viewed();
        match self.memory_slice(0) {
            // SAFETY: the heap base is page-aligned and its length a multiple of 4.
            Some((b, len)) => unsafe { std::slice::from_raw_parts(b as *const u32, len as usize / 4) },
            None => &[],
        }
    }

    /// The original Lucet's name for [`Instance::heap_u32s`].
    pub fn heap_u32(&self) -> &[u32] {
        self.heap_u32s()
    }

    /// The original Lucet's name for [`Instance::heap_u32s_mut`].
    pub fn heap_u32_mut(&mut self) -> &mut [u32] {
        self.heap_u32s_mut()
    }

    /// Grows memory 0 by `additional_pages` from the host; returns the old size in pages.
    pub fn grow_memory(&mut self, additional_pages: u32) -> Result<u32, Error> {
        let loc = *self.memories.first().ok_or_else(|| Error::InvalidArgument("the module has no memory".into()))?;
        self.grow_memory_at(&loc, additional_pages as u64).map(|p| p as u32).ok_or_else(|| {
            Error::LimitsExceeded(format!(
                "cannot grow the heap by {additional_pages} pages: past the memory's maximum or Limits::heap_memory_size"
            ))
        })
    }

    pub fn heap_u32s_mut(&mut self) -> &mut [u32] {
        self.expect_heap_not_viewed();
        match self.memory_slice(0) {
            // SAFETY: as in `heap_u32s`, with exclusive access.
            Some((b, len)) => unsafe { std::slice::from_raw_parts_mut(b as *mut u32, len as usize / 4) },
            None => &mut [],
        }
    }

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

    // ---- exports ----

    pub fn module(&self) -> &Arc<dyn Module> {
        &self.module
    }

    /// Names of every export.
    pub fn exports(&self) -> impl Iterator<Item = &str> + '_ {
        self.data().exports.iter().map(|e| e.name.as_str())
    }

    /// A handle to the export `name`; it keeps this instance alive.
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        let kind = self.data().export(name)?;
        Some(self.extern_for(kind))
    }

    pub(crate) fn extern_for(&self, kind: ExportKind) -> Extern {
        let owner = self.owner_ref();
        let data = self.data();
        match kind {
            ExportKind::Func(i) => Extern::Func(Func {
                kind: FuncKind::Instance {
                    owner,
                    funcref: self.funcref_ptr(i),
                    ty: data.func_type(i).cloned().unwrap_or_default(),
                },
            }),
            ExportKind::Global(i) => {
                let ty = self.global_type(i);
                Extern::Global(Global { kind: GlobalKind::Instance { owner, ptr: self.globals[i as usize], ty } })
            }
            ExportKind::Table(i) => Extern::Table(Table { owner, index: i, _not_send: std::marker::PhantomData }),
            ExportKind::Memory(i) => Extern::Memory(Memory { owner, index: i, _not_send: std::marker::PhantomData }),
            ExportKind::Tag(i) => Extern::Tag(self.exceptions.tags[i as usize].clone()),
        }
    }

    pub(crate) fn global_type(&self, i: u32) -> GlobalType {
        let data = self.data();
        let imported: Vec<GlobalType> = data
            .imports
            .iter()
            .filter_map(|im| if let ImportKind::Global(g) = im.kind { Some(g) } else { None })
            .collect();
        match imported.get(i as usize) {
            Some(g) => *g,
            None => data.defined_globals[i as usize - imported.len()].ty,
        }
    }

    /// The current value of the exported global `name`.
    pub fn get_global(&self, name: &str) -> Result<Val, Error> {
        match self.data().export(name) {
            Some(ExportKind::Global(i)) => {
                let ty = self.global_type(i);
                // SAFETY: global storage stays valid for the instance's life.
                Ok(Val::from_slot(ty.ty, unsafe { &*self.globals[i as usize] }))
            }
            _ => Err(Error::SymbolNotFound(format!("module {} exports no global `{name}`", self.dl().path()))),
        }
    }

    /// Sets the exported mutable global `name`.
    pub fn set_global(&mut self, name: &str, val: Val) -> Result<(), Error> {
        match self.data().export(name) {
            Some(ExportKind::Global(i)) => {
                let ty = self.global_type(i);
                self.check_funcref(&val)?;
                let val = match val.coerce(ty.ty) {
                    Ok(v) if ty.mutable => v,
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "global `{name}` is {}{}; cannot set it to the {} {val}",
                            if ty.mutable { "" } else { "immutable " },
                            ty.ty,
                            val.type_name()
                        )))
                    }
                };
                // SAFETY: global storage stays valid for the instance's life.
                unsafe { *self.globals[i as usize] = val.to_slot() };
                Ok(())
            }
            _ => Err(Error::SymbolNotFound(format!("module {} exports no global `{name}`", self.dl().path()))),
        }
    }

    /// The signature of exported function `name`.
    pub fn export_func_type(&self, name: &str) -> Option<&FuncType> {
        match self.data().export(name)? {
            ExportKind::Func(i) => self.data().func_type(i),
            _ => None,
        }
    }
}
