//! `InstanceBuilder`, and the `Region` trait through which hosts get one.

use super::core::{vmctx_alloc_layout, Home, Instance, InstanceCell, State, INLINE_SLOTS, MAX_TABLE_ELEMENTS, WASM_PAGE};
use super::externs::Extern;
use super::handle::InstanceHandle;
use super::init::Heaps;
use super::link::LINK_GENERATION;
use super::memory_geometry::{self, describe_plan, MemoryGeometry};
use crate::error::Error;
use crate::exec::ExecState;
use crate::module::Module;
use crate::region::mmap::{HeapArea, MmapRegion, STACK_GUARD_SIZE};
use lucet_module::{VmctxHeader, VmctxLayout};
use std::any::{Any, TypeId};
use std::cell::{RefCell, UnsafeCell};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Configures and creates an instance.
pub struct InstanceBuilder {
    region: Arc<MmapRegion>,
    module: Arc<dyn Module>,
    embed_ctx: Vec<(TypeId, Box<dyn Any + Send>)>,
    pub(crate) imports: HashMap<(String, String), Extern>,
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
        // A table smaller than its declared minimum would break the guest's view of it
        // (`table.size`, bounds of `table.init`), so one that cannot be allocated in
        // full is refused here rather than cut short.
        for (i, t) in data.defined_tables.iter().enumerate() {
            if t.min > MAX_TABLE_ELEMENTS {
                return Err(Error::LimitsExceeded(format!(
                    "module {path}: defined table {i} declares a minimum of {} elements, more than the {} \
                     elements lucet allows in a table; lower the table's minimum in the module",
                    t.min, MAX_TABLE_ELEMENTS
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
        let mut slot = self.region.take_slot(dl.memory_image())?;
        let layout = VmctxLayout::new(data);
        let vmctx = match layout.heap_offset() {
            // The code addresses the first defined memory, which lives in the slot, at
            // `vmctx + k`: the vmctx must sit exactly `k` bytes below the slot's heap.
            Some(k) => {
                let vmctx = slot.vmctx_block(layout.size as usize)?;
                if vmctx.wrapping_add(k as usize) != slot.heap.base {
                    return Err(Error::Internal(format!(
                        "module {path}: its code finds the heap {k} bytes past the vmctx, but the slot's heap \
                         is not there; the region's slot layout and lucet-module's VMCTX_AREA disagree, a bug of \
                         this lucet-runtime build, not of the module"
                    )));
                }
                vmctx
            }
            None => {
                // SAFETY: non-zero size, valid alignment.
                let vmctx = unsafe { std::alloc::alloc_zeroed(vmctx_alloc_layout(&layout)) };
                if vmctx.is_null() {
                    std::alloc::handle_alloc_error(vmctx_alloc_layout(&layout));
                }
                vmctx
            }
        };
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
                native_hostcalls: Vec::new(),
                host_globals: Vec::new(),
                deps: Vec::new(),
                linked_vmctxs: Vec::new(),
                link_gen: 0,
                lookup: dl.code_map().clone(),
                fault_ranges: Arc::default(),
                exec: Box::new(ExecState::new().with_signal_stack_size(limits.signal_stack_size)),
                state: State::Ready,
                start_ran: false,
                pending: None,
                values: Vec::with_capacity(INLINE_SLOTS),
                n_slots: 0,
                saved_limits: Vec::new(),
                saved_own_limit: 0,
                heap_borrow: RefCell::new(()),
                embed_ctx: HashMap::new(),
                me: me.clone(),
                home: Home::default(),
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
        let stack_limit = inst.own_stack_limit();
        // SAFETY: the vmctx block was sized by `layout` for this module.
        unsafe {
            let h = &mut *(vmctx as *mut VmctxHeader);
            h.stack_limit = stack_limit;
            h.builtins = super::builtins::table();
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
        inst.initialize(Heaps::Clean)?;
        Ok(handle)
    }
}

/// A source of instance slots.
pub trait Region: Send + Sync {
    /// Creates an instance of `module` in a free slot with default options.
    fn new_instance(&self, module: Arc<dyn Module>) -> Result<InstanceHandle, Error> {
        self.new_instance_builder(module).build()
    }

    /// Starts configuring an instance of `module` (embed contexts, a linker, ...).
    fn new_instance_builder(&self, module: Arc<dyn Module>) -> InstanceBuilder;

    /// Slots not currently used by an instance.
    fn free_slots(&self) -> usize;

    /// Slots currently used by an instance.
    fn used_slots(&self) -> usize {
        self.capacity() - self.free_slots()
    }

    /// Total number of slots.
    fn capacity(&self) -> usize;
}

impl Region for MmapRegion {
    fn new_instance_builder(&self, module: Arc<dyn Module>) -> InstanceBuilder {
        InstanceBuilder::new(self.arc(), module)
    }

    fn free_slots(&self) -> usize {
        self.free_slot_count()
    }

    fn capacity(&self) -> usize {
        self.slot_count()
    }
}
