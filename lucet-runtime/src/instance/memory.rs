//! Memories and tables: host views of the heap, `memory.init`/`table.init`, growth.

use super::core::{Instance, MemLoc, TableLoc, MAX_TABLE_ELEMENTS, WASM_PAGE};
use super::memory_geometry::MemoryGeometry;
use crate::error::Error;
use crate::region::mmap::HeapArea;
use lucet_module::{TableDef, TableType};

impl Instance {
    // ---- operations shared by instantiation and the builtins ----

    pub(crate) fn memory_slice(&self, mem: u32) -> Option<(*mut u8, u64)> {
        let loc = self.memories.get(mem as usize)?;
        // SAFETY: MemoryDefs stay valid while their owner lives (kept by deps).
        let d = unsafe { *loc.def };
        Some((d.base, d.current_length))
    }

    pub(crate) fn memory_init(&mut self, mem: u32, data: u32, dst: u64, src: u32, len: u32) -> Result<(), ()> {
        let module = self.module.clone();
        module.module_data().data_segments.get(data as usize).ok_or(())?;
        let bytes = if self.dropped_data[data as usize] { &[] } else { module.as_dl_module().data_segment(data) };
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

    pub(super) fn heap_area(&mut self, defined: usize) -> &mut HeapArea {
        match defined {
            0 => &mut self.slot.heap,
            n => &mut self.extra_heaps[n - 1],
        }
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
    pub(super) fn memory_geometry(&self, defined: usize, ty: &lucet_module::MemoryType) -> MemoryGeometry {
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

    // ---- memory ----

    /// Host slices of memory 0 must not coexist with a hostcall's view of it through
    /// `Vmctx::heap_mut` (a hostcall further up this thread's stack, of an instance
    /// that imports this memory, holding a handle to this one).
    pub(super) fn expect_heap_not_viewed(&self) {
        let Some(loc) = self.memories.first() else {
            return;
        };
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
}
