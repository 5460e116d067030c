//! Linking: filling the vmctx imports from externs and hostcalls, and recomputing what
//! a run of an instance reaches (code maps, memories, vmctxs) when that changes.

use super::core::{Instance, InstanceCell, HOST_PAGE, WASM_PAGE};
use super::externs::{Extern, FuncKind, GlobalKind};
use super::handle;
use super::exceptions::lucet_runtime_host_func_entry;
use super::host::HostFuncCtx;
use super::memory_geometry::describe_plan;
use crate::error::Error;
use crate::exec::FaultRanges;
use crate::module::{
    describe_global, describe_memory, describe_table, unresolved, DlModule, MultiCodeMap, ResolvedImport,
};
use crate::region::mmap::HeapArea;
use crate::val::Val;
use lucet_module::{AdapterContext, DefinedMemoryIndex, FuncRef, ImportCounts, ImportKind, MemoryDef, TableDef};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bumped whenever an instance gains a dependency, so others recompute what they reach.
pub(super) static LINK_GENERATION: AtomicU64 = AtomicU64::new(1);

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
    /// Every instance reachable through `deps` (including this one), each once, this
    /// one first. Only their `deps` are read.
    pub(super) fn reachable(&self) -> Vec<*const Instance> {
        // SAFETY: `self` is live, and deps lists only change in `build` (of this or
        // another instance bound to the same thread) and `collect_cycles`, neither of
        // which can run while we hold `&self`.
        unsafe { handle::reachable(self) }
    }

    /// Recomputes what a run of this instance may reach: the code maps the signal
    /// handler consults and the vmctxs whose stack limit must follow our stack.
    pub(super) fn relink(&mut self) {
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
    pub(super) fn memory_fault_ranges(&self) -> FaultRanges {
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

    pub(super) fn link_imports(
        &mut self,
        dl: &DlModule,
        defs: &HashMap<(String, String), Extern>,
    ) -> Result<(), Error> {
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
                                    let fr = unsafe { **funcref };
                                    // Equal `FuncType`s may still differ in the function
                                    // types of typed references, or in their recursion
                                    // groups; the ids tell them apart.
                                    if fr.type_id != type_id {
                                        return Err(mismatch(
                                            format!("function {want}"),
                                            format!("a function of another type with the same values ({})", f.ty()),
                                        ));
                                    }
                                    fr
                                }
                                FuncKind::Host { callback, .. } => {
                                    let mut ctx = Box::new(HostFuncCtx {
                                        callback: lucet_runtime_host_func_entry,
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
                            // Guest code calls with the wasm convention, the hostcall is
                            // `extern "C"`: the module's adapter for the type calls it, with
                            // this instance's vmctx.
                            let mut ctx = Box::new(AdapterContext {
                                values_fn: std::ptr::null(),
                                native_fn: p,
                                native_vmctx: self.vmctx,
                            });
                            let ctx_ptr = &mut *ctx as *mut AdapterContext as *mut u8;
                            self.native_hostcalls.push(ctx);
                            FuncRef { func_ptr: dl.adapter(*ty), vmctx: ctx_ptr, type_id, _pad: 0 }
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
                        Some(Extern::Tag(t)) if t.has_type_id(dl.type_ids()[*ty as usize]) => {
                            self.exceptions.tags.push(t.clone())
                        }
                        Some(Extern::Tag(t)) if t.ty() == want => {
                            // Same payload, different type: another recursion group, or
                            // typed references to other function types.
                            return Err(mismatch(
                                format!("tag {want}"),
                                format!("a tag of another type with the same values ({})", t.ty()),
                            ));
                        }
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
                        let owner_plan = &owner_data.memory_plans[ImportCounts::of(owner_data)
                            .defined_memory_index(DefinedMemoryIndex::from_u32(loc.defined as u32))
                            .index()];
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
                    // Table element types must be equal, typed references included.
                    let want_shape = want.shape.map_func_type(|i| dl.type_ids().get(i as usize).copied());
                    if cur < want.min
                        || !max_ok
                        || want.elem != loc.ty.elem
                        || want.table64 != loc.ty.table64
                        || want_shape != loc.ty.shape
                    {
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
                    let have = g.ty();
                    let want_shape = want.shape.map_func_type(|i| dl.type_ids().get(i as usize).copied());
                    // A mutable global's type must be equal; an immutable one's may be a
                    // subtype (a non-null or typed reference where the import allows more).
                    let shape_ok =
                        if want.mutable { have.shape == want_shape } else { have.shape.matches(want_shape) };
                    if have.ty != want.ty || have.mutable != want.mutable || !shape_ok {
                        return Err(mismatch(describe_global(want), describe_global(&have)));
                    }
                    match &g.kind {
                        GlobalKind::Instance { owner, .. } => self.add_dep(owner),
                        GlobalKind::Host { storage, .. } => {
                            // Guest code would call through a non-null funcref; a host
                            // global cannot prove that it names a real function.
                            if let Val::FuncRef(p @ 1..) = g.get() {
                                return Err(mismatch(
                                    describe_global(want),
                                    format!("a host global holding funcref {p:#x}; host funcref globals must be null"),
                                ));
                            }
                            self.host_globals.push(storage.clone())
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

    pub(super) fn add_dep(&mut self, owner: &Arc<InstanceCell>) {
        if !self.deps.iter().any(|d| Arc::ptr_eq(d, owner)) {
            self.deps.push(owner.clone());
        }
    }
}
