//! The one exported data symbol of a compiled module.
//!
//! ```text
//!  lucet_module (ModuleDescriptor, #[repr(C)])
//!  +-----------------------------+
//!  | magic      "LUCETMOD"       |  checked before anything else is trusted
//!  | format_version  u32         |
//!  | metadata_ptr/len  ----------+--> metadata blob (crate::tables): header, ModuleData, tables, image
//!  | functions_ptr/len ----------+--> [*const u8; n_defined]      code of each defined function
//!  | trampolines_ptr/len --------+--> [*const u8; n_types]        host->wasm trampoline per type
//!  | adapters_ptr/len -----------+--> [*const u8; n_types]        wasm->host adapter per type
//!  +-----------------------------+
//! ```
//!
//! The pointers are absolute; lucetc emits them as relocations that the dynamic
//! linker resolves at `dlopen` time. The runtime reads `magic` and `format_version`
//! straight from the file (with the `object` crate) before it calls `dlopen`, so a
//! foreign or out-of-date shared object never has its code run.
//!
//! Every wasm function, and everything a [`crate::FuncRef`] points at, has the wasm
//! calling convention: cranelift's `tail` convention, `fn(vmctx, params...) -> results`.
//! It is the only one in which `return_call`, `return_call_indirect` and
//! `return_call_ref` can reuse the caller's frame. The host's `extern "C"` code never
//! calls it or is called by it directly: trampolines and adapters bridge the two.
//!
//! Trampoline ABI (`SystemV`): `extern "C" fn(vmctx: *mut u8, callee: *const u8, values: *mut [u8; 16])`.
//! It loads the callee's parameters from `values[0..n_params]`, calls
//! `callee(vmctx, params...)` with the wasm convention, and stores the results into
//! `values[0..n_results]`. Each value occupies one 16-byte slot
//! ([`crate::VALUE_SLOT_SIZE`]), little-endian, in the low bytes of the slot.
//!
//! Adapter ABI: a function with the wasm calling convention for its type
//! (`fn(vmctx, params...) -> results`) that treats its `vmctx` argument as a pointer to
//! an [`AdapterContext`]. If its first word (`values_fn`) is not null, the adapter
//! spills the parameters into a stack array of value slots, calls
//! `values_fn(ctx, values)`, and returns the results read back from the same array;
//! this lets the runtime provide any import with an ordinary Rust closure. If it is
//! null, the import is a native hostcall: the adapter calls
//! `native_fn(native_vmctx, params...) -> results` with the `SystemV` convention and
//! returns what it returned.

/// What an adapter's vmctx argument points to (see the module docs). A host closure's
/// context may continue past `values_fn` with data of the runtime's own; the other two
/// fields are read only when `values_fn` is null.
#[repr(C)]
#[derive(Debug)]
pub struct AdapterContext {
    /// `extern "C" fn(ctx: *mut u8, values: *mut [u8; 16])`, or null for a native hostcall.
    pub values_fn: *const u8,
    /// The native hostcall: `extern "C" fn(vmctx, params...) -> results`.
    pub native_fn: *const u8,
    /// The vmctx the native hostcall receives: the importing instance's.
    pub native_vmctx: *mut u8,
}

impl AdapterContext {
    pub const VALUES_FN: i32 = std::mem::offset_of!(AdapterContext, values_fn) as i32;
    pub const NATIVE_FN: i32 = std::mem::offset_of!(AdapterContext, native_fn) as i32;
    pub const NATIVE_VMCTX: i32 = std::mem::offset_of!(AdapterContext, native_vmctx) as i32;
}

/// Name of the exported symbol holding the [`ModuleDescriptor`].
pub const MODULE_SYMBOL: &str = "lucet_module";

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ModuleDescriptor {
    pub magic: [u8; 8],
    pub format_version: u32,
    pub _reserved: u32,
    pub metadata_ptr: *const u8,
    pub metadata_len: u64,
    pub functions_ptr: *const *const u8,
    pub functions_len: u64,
    pub trampolines_ptr: *const *const u8,
    pub trampolines_len: u64,
    pub adapters_ptr: *const *const u8,
    pub adapters_len: u64,
}

// SAFETY: the descriptor points only at immutable data inside a loaded shared
// object; sharing those pointers between threads cannot cause a data race.
unsafe impl Send for ModuleDescriptor {}
// SAFETY: as above, the pointed-to data is never written after `dlopen`.
unsafe impl Sync for ModuleDescriptor {}
