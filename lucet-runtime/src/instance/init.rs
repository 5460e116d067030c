//! Instantiation and reset: definitions, segments and the start function.

use super::core::{Instance, MemLoc, State, TableLoc, MAX_TABLE_ELEMENTS, WASM_PAGE};
use crate::error::{Error, FaultDetails};
use crate::module::DlModule;
use lucet_module::{
    DefinedFuncIndex, DefinedGlobalIndex, FuncRef, ImportCounts, MemoryDef, SegmentKind, TableDef, TableType, TrapCode,
};

impl Instance {
    /// Creates defined memories, tables, globals and function references (once).
    pub(super) fn create_definitions(&mut self, dl: &DlModule) -> Result<(), Error> {
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
            // Live table types carry process-wide signature ids (see `RefShape`).
            let ty = TableType { shape: t.shape.map_func_type(|i| dl.type_ids().get(i as usize).copied()), ..*t };
            self.tables.push(TableLoc { def, owner_vmctx: me, defined: i, ty });
        }
        for i in 0..data.defined_globals.len() {
            // SAFETY: offset inside the vmctx.
            let p = unsafe { self.vmctx.add(self.layout.defined_global(i as u32) as usize) } as *mut [u8; 16];
            self.globals.push(p);
        }
        let counts = ImportCounts::of(data);
        for (k, fr) in dl.defined_funcrefs().iter().enumerate() {
            let index = counts.defined_func_index(DefinedFuncIndex::from_u32(k as u32));
            // SAFETY: a function index of this module.
            unsafe { *self.funcref_ptr(index.as_u32()) = FuncRef { vmctx: self.vmctx, ..*fr } };
        }
        Ok(())
    }

    pub(super) fn def_memory_ptr(&self, i: u32) -> *mut MemoryDef {
        // SAFETY: offset inside the vmctx.
        unsafe { self.vmctx.add(self.layout.defined_memory(i) as usize) as *mut MemoryDef }
    }

    pub(super) fn def_table_ptr(&self, i: u32) -> *mut TableDef {
        // SAFETY: offset inside the vmctx.
        unsafe { self.vmctx.add(self.layout.defined_table(i) as usize) as *mut TableDef }
    }

    /// Brings definitions to their initial state, applies segments, runs start.
    pub(super) fn initialize(&mut self, heaps: Heaps) -> Result<(), Error> {
        let module = self.module.clone();
        let data = module.module_data();
        let image = module.as_dl_module().memory_image().cloned();
        // Memories: back to their clean contents, at the initial size.
        for (i, plan) in data.memory_plans.iter().skip(data.num_imported_memories()).enumerate() {
            let len = plan.memory.min_pages * WASM_PAGE;
            let area = self.heap_area(i);
            if heaps == Heaps::MayBeDirty {
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
        let counts = ImportCounts::of(data);
        for (i, g) in data.defined_globals.iter().enumerate() {
            let bits = self.eval_const(&g.init).map_err(|e| self.init_error(e))?;
            let index = counts.defined_global_index(DefinedGlobalIndex::from_u32(i as u32));
            // SAFETY: storage of defined global i.
            unsafe { *self.globals[index.index()] = bits.to_le_bytes() };
        }
        // Initialiser expressions may read globals, so they run after them. The
        // elements change in place: the TableDef stays valid.
        for (i, init) in data.table_inits.iter().enumerate() {
            if let Some(init) = init {
                let value = self.eval_const(init).map_err(|e| self.init_error(e))? as usize;
                if let Some(elements) = self.defined_tables.get_mut(i) {
                    elements.fill(value);
                }
            }
        }
        self.dropped_data.iter_mut().for_each(|d| *d = false);
        self.dropped_elem.iter_mut().for_each(|d| *d = false);

        for (i, seg) in data.elem_segments.iter().enumerate() {
            match &seg.kind {
                SegmentKind::Active { index, offset } => {
                    // A 64-bit table's offset past u32::MAX is out of bounds like u32::MAX.
                    let off = self.eval_const(offset).map_err(|e| self.init_error(e))?;
                    let off = u32::try_from(off).unwrap_or(u32::MAX);
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
                let len = module.as_dl_module().data_segment(i as u32).len() as u32;
                if self.memory_init(*index, i as u32, off, 0, len).is_err() {
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

    pub(super) fn fault(&self, code: TrapCode) -> FaultDetails {
        FaultDetails { trap_code: code, function: None, wasm_offset: None, rip: 0, fault_addr: None }
    }

    pub(super) fn init_error(&self, e: String) -> Error {
        Error::InvalidModule { path: self.dl().path().to_string(), reason: e }
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
        self.initialize(Heaps::MayBeDirty)
    }
}

/// What the heaps hold when an instance is (re-)initialised.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Heaps {
    /// A slot fresh from the region: clean bytes only.
    Clean,
    /// Data of earlier runs (a reset): restored to clean bytes first.
    MayBeDirty,
}
