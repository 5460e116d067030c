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
//! Trampoline ABI (`SystemV`): `extern "C" fn(vmctx: *mut u8, callee: *const u8, values: *mut [u8; 16])`.
//! It loads the callee's parameters from `values[0..n_params]`, calls
//! `callee(vmctx, params...)`, and stores the results into `values[0..n_results]`.
//! Each value occupies one 16-byte slot ([`crate::VALUE_SLOT_SIZE`]), little-endian,
//! in the low bytes of the slot.
//!
//! Adapter ABI: a function with the wasm calling convention for its type
//! (`fn(vmctx, params...) -> results`) that treats its `vmctx` argument as a pointer to a
//! host context whose first word is `extern "C" fn(ctx: *mut u8, values: *mut [u8; 16])`.
//! It spills the parameters into a stack array of value slots, calls that function, and
//! returns the results read back from the same array. This lets the runtime provide any
//! import with an ordinary Rust closure.

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
