//! Runtime functions that compiled code calls through `VmctxHeader::builtins`.
//!
//! Each takes the caller's vmctx first and finds its instance through the header's
//! `instance` pointer. Index arguments are in the *caller's* index spaces; a memory or
//! table imported from another instance is changed in its owner. None of them faults:
//! out-of-bounds operations return a non-zero status and the compiled code traps.
//!
//! A builtin holds `&mut Instance` of its caller for the length of the call. Nothing
//! else references that instance meanwhile: its `run`/`resume` frame is suspended in
//! guest code and touches it only after the guest leaves (see `Instance::at_vmctx`),
//! hostcalls do not run during a builtin, and other threads never reach it (instances
//! that share state are bound to one thread, see `instance/handle.rs`).

use super::core::Instance;
// The throw builtins are assembly stubs that add the caller's frame to the arguments.
use super::exceptions::{
    lucet_runtime_exn_throw_entry as exn_throw, lucet_runtime_exn_throw_ref_entry as exn_throw_ref,
};
use lucet_module::Builtin;

/// # Safety
/// `vmctx` must be the vmctx of a live instance, as passed by compiled code, and the
/// reference must not outlive the builtin call.
unsafe fn instance<'a>(vmctx: *mut u8) -> &'a mut Instance {
    // SAFETY: (caller) a live instance's vmctx; the header pointer is the one valid now,
    // and no other reference to the instance is live during the call (module docs).
    unsafe { &mut *Instance::at_vmctx(vmctx) }
}

unsafe extern "C" fn memory_grow(vmctx: *mut u8, mem: u32, delta: i64) -> i64 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    let Some(loc) = inst.memories.get(mem as usize).copied() else { return -1 };
    if delta < 0 {
        return -1;
    }
    inst.grow_memory_at(&loc, delta as u64).map(|p| p as i64).unwrap_or(-1)
}

unsafe extern "C" fn memory_fill(vmctx: *mut u8, mem: u32, dst: u64, val: u32, len: u64) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    let Some((base, cur)) = inst.memory_slice(mem) else { return 1 };
    match dst.checked_add(len) {
        Some(end) if end <= cur => {
            // SAFETY: range checked against the accessible length.
            unsafe { std::ptr::write_bytes(base.add(dst as usize), val as u8, len as usize) };
            0
        }
        _ => 1,
    }
}

unsafe extern "C" fn memory_copy(vmctx: *mut u8, dst_mem: u32, dst: u64, src_mem: u32, src: u64, len: u64) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    let (Some((db, dl)), Some((sb, sl))) = (inst.memory_slice(dst_mem), inst.memory_slice(src_mem)) else { return 1 };
    match (dst.checked_add(len), src.checked_add(len)) {
        (Some(de), Some(se)) if de <= dl && se <= sl => {
            // SAFETY: both ranges checked; `copy` allows overlap.
            unsafe { std::ptr::copy(sb.add(src as usize), db.add(dst as usize), len as usize) };
            0
        }
        _ => 1,
    }
}

unsafe extern "C" fn memory_init(vmctx: *mut u8, mem: u32, data: u32, dst: u64, src: u32, len: u32) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    inst.memory_init(mem, data, dst, src, len).is_err() as u32
}

unsafe extern "C" fn data_drop(vmctx: *mut u8, data: u32) {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    if let Some(d) = inst.dropped_data.get_mut(data as usize) {
        *d = true;
    }
}

unsafe extern "C" fn table_grow(vmctx: *mut u8, table: u32, delta: u32, init: u64) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    let Some(loc) = inst.tables.get(table as usize).copied() else { return u32::MAX };
    inst.grow_table_at(&loc, delta, init as usize).unwrap_or(u32::MAX)
}

unsafe extern "C" fn table_fill(vmctx: *mut u8, table: u32, dst: u32, val: u64, len: u32) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    let Some(loc) = inst.tables.get(table as usize) else { return 1 };
    // SAFETY: TableDefs stay valid while their owner lives.
    let d = unsafe { *loc.def };
    if dst as u64 + len as u64 > d.current_elements as u64 {
        return 1;
    }
    for k in 0..len {
        // SAFETY: index checked above.
        unsafe { *d.base.add((dst + k) as usize) = val as usize };
    }
    0
}

unsafe extern "C" fn table_copy(vmctx: *mut u8, dst_t: u32, src_t: u32, dst: u32, src: u32, len: u32) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    let (Some(dl), Some(sl)) = (inst.tables.get(dst_t as usize), inst.tables.get(src_t as usize)) else { return 1 };
    // SAFETY: TableDefs stay valid while their owners live.
    let (d, s) = unsafe { (*dl.def, *sl.def) };
    if dst as u64 + len as u64 > d.current_elements as u64 || src as u64 + len as u64 > s.current_elements as u64 {
        return 1;
    }
    // SAFETY: both ranges checked; `copy` allows overlap within one table.
    unsafe { std::ptr::copy(s.base.add(src as usize), d.base.add(dst as usize), len as usize) };
    0
}

unsafe extern "C" fn table_init(vmctx: *mut u8, table: u32, elem: u32, dst: u32, src: u32, len: u32) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    inst.table_init(table, elem, dst, src, len).is_err() as u32
}

unsafe extern "C" fn elem_drop(vmctx: *mut u8, elem: u32) {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    if let Some(d) = inst.dropped_elem.get_mut(elem as usize) {
        *d = true;
    }
}

struct Table([*const u8; Builtin::COUNT]);
// SAFETY: function addresses, never written.
unsafe impl Sync for Table {}

// Expanded from lucet-module's list: each entry must name a function here with exactly
// the listed signature (the cast to that function pointer type checks it).
macro_rules! builtin_table {
    ($($variant:ident $name:ident($($p:ident: $pt:ty),*) -> $rt:ty;)*) => {
        static TABLE: Table = Table([$($name as unsafe extern "C" fn(*mut u8 $(, $pt)*) -> $rt as *const u8),*]);
    };
}
lucet_module::foreach_builtin!(builtin_table);

/// The builtin table every vmctx header points to.
pub(crate) fn table() -> *const *const u8 {
    TABLE.0.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_matches_the_contract() {
        // SAFETY: `table()` points at a static array of `Builtin::COUNT` entries.
        let t = unsafe { std::slice::from_raw_parts(table(), Builtin::COUNT) };
        assert_eq!(t[Builtin::MemoryGrow as usize], memory_grow as *const u8);
        assert_eq!(t[Builtin::TableInit as usize], table_init as *const u8);
        assert_eq!(t[Builtin::ElemDrop as usize], elem_drop as *const u8);
        assert_eq!(t[Builtin::Throw as usize], exn_throw as *const u8);
        assert_eq!(t[Builtin::ThrowRef as usize], exn_throw_ref as *const u8);
    }
}
