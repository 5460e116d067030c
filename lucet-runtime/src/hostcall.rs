//! The process-wide table of native hostcalls that modules may import.
//!
//! A compiled module names its imports by `(module, field)`; the runtime resolves
//! them at `DlModule::load` against this table — never through the dynamic linker —
//! which is why host programs need no `-rdynamic` and no "keep these symbols"
//! calls. Libraries such as lucet-wasi register their tables from a constructor that
//! runs before `main` (see [`register_hostcalls`]); a host can register its own.

use lucet_module::{FuncType, ValType};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

/// A native function a module may import.
///
/// `func` must be an `unsafe extern "C" fn(vmctx: &Vmctx, params...) -> result` whose
/// native parameters match `params` (i32 → i32/u32, i64 → i64/u64, f32, f64) and that
/// returns at most one value. It runs on the guest's stack with the calling
/// instance's [`crate::Vmctx`].
#[derive(Debug, Clone, Copy)]
pub struct HostcallDef {
    pub module: &'static str,
    pub name: &'static str,
    pub params: &'static [ValType],
    pub results: &'static [ValType],
    pub func: *const u8,
}

// SAFETY: `func` is the address of a function, which is immutable and valid for the
// whole life of the process; nothing is ever written through it.
unsafe impl Send for HostcallDef {}
// SAFETY: as above.
unsafe impl Sync for HostcallDef {}

impl HostcallDef {
    pub fn func_type(&self) -> FuncType {
        FuncType { params: self.params.to_vec(), results: self.results.to_vec() }
    }
}

type Table = HashMap<&'static str, HashMap<&'static str, HostcallDef>>;

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// Makes `defs` available to every module loaded afterwards. Registering the same
/// `(module, name)` again replaces the earlier definition.
pub fn register_hostcalls(defs: &'static [HostcallDef]) {
    let mut t = table().write().unwrap_or_else(|e| e.into_inner());
    for d in defs {
        t.entry(d.module).or_default().insert(d.name, *d);
    }
}

/// Looks up a registered hostcall.
pub fn lookup_hostcall(module: &str, name: &str) -> Option<HostcallDef> {
    let t = table().read().unwrap_or_else(|e| e.into_inner());
    t.get(module).and_then(|m| m.get(name)).copied()
}

/// Whether any hostcall is registered under the import module name `module`.
pub fn has_hostcall_module(module: &str) -> bool {
    let t = table().read().unwrap_or_else(|e| e.into_inner());
    t.contains_key(module)
}

/// Kept for programs written for the original Lucet, which had to call it so the
/// linker would keep the runtime's symbols. Nothing needs keeping here; it does nothing.
pub fn lucet_internal_ensure_linked() {}
