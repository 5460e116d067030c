//! The per-instance context ("vmctx") that compiled code receives as its first argument.
//!
//! Every wasm function, defined or imported, is called with cranelift's `tail` convention
//! as `fn(vmctx: *mut u8, params...) -> results` (see [`crate::ModuleDescriptor`]'s module
//! docs for why, and for how host code is reached). The vmctx is one contiguous block owned
//! by the runtime; its size and field offsets depend on the module and are computed by
//! [`VmctxLayout::new`], which both lucetc (to emit loads) and the runtime (to fill the
//! block in) call.
//!
//! ```text
//!  vmctx ──► +0   VmctxHeader            stack_limit, builtins, type_ids, instance
//!            funcrefs       [FuncRef; n_funcs]          whole function index space; a call
//!                                                       to an imported function loads
//!                                                       (func_ptr, vmctx) from its entry
//!            imported_memories [*mut MemoryDef; n]      point into the exporter's vmctx
//!            defined_memories  [MemoryDef; n]           { base, current_length }
//!            imported_tables   [*mut TableDef; n]
//!            defined_tables    [TableDef; n]            { base, current_elements }
//!            imported_globals  [*mut [u8; 16]; n]
//!            defined_globals   [[u8; 16]; n]            16-byte aligned, value in low bytes
//!            size
//! ```
//!
//! Where the vmctx lies. When [`VmctxLayout::heap_offset`] says so, the runtime places
//! the vmctx at the start of its instance's slot, [`VMCTX_AREA`] bytes below the base of
//! the first defined memory, and compiled code addresses that memory from the vmctx
//! itself, without loading `MemoryDef::base`:
//!
//! ```text
//!  slot ─► +0            vmctx (size bytes), then PROT_NONE up to the heap
//!          +VMCTX_AREA   heap base of the first defined memory  = vmctx + VMCTX_AREA
//!          ...           heap reservation, guard, stack guard, stack
//! ```
//!
//! Why: the heap base is then no value of its own. A function that touches memory keeps
//! one pointer live instead of two, and in large functions the register allocator
//! otherwise spills one of them and reloads it on every access (`tinygo-regex`'s main
//! function had 4,244 stack accesses with a loaded base and 2,773 without one).
//!
//! Invariants the compiled code relies on (and the runtime upholds):
//! * `MemoryDef::base` never changes for the life of an instance: memories grow in
//!   place inside their reservation. Compiled code may therefore load it once.
//! * When [`VmctxLayout::heap_offset`] is `Some(k)`, the first defined memory's base is
//!   exactly `vmctx + k`; the runtime refuses to instantiate the module otherwise.
//! * `stack_limit` is the lowest stack address guest code may use; every function
//!   prologue compares the stack pointer against it and traps with `StackOverflow`.
//! * Table elements are pointer-sized: `*const FuncRef` for funcref tables, an opaque
//!   word for externref tables; 0 is null.
//! * `type_ids[t]` is the process-wide id of the module's type `t`; two functions have
//!   the same id exactly when their signatures are equal, so `call_indirect` compares
//!   ids across modules.

use crate::module_data::{ImportKind, ModuleData};
use std::mem::{offset_of, size_of};

/// Size of one value slot in trampoline/adapter value arrays (large enough for v128).
pub const VALUE_SLOT_SIZE: usize = 16;

/// The bytes at the start of an instance slot that hold the vmctx, when it sits below
/// the heap (see the module docs). A multiple of every host page size; 4 MiB of address
/// space per slot, of which only the vmctx's own pages are ever made accessible.
///
/// Why this size: the vmctx grows with the module (24 bytes per function, 16 per
/// global), and 4 MiB holds the vmctx of a module of about 170,000 functions. Larger
/// modules keep their vmctx elsewhere and load the heap base.
pub const VMCTX_AREA: u32 = 4 << 20;

/// The fixed head of every vmctx.
#[repr(C)]
#[derive(Debug)]
pub struct VmctxHeader {
    /// Lowest stack address guest code may grow into (checked in every prologue).
    pub stack_limit: usize,
    /// Table of runtime functions, indexed by [`Builtin`].
    pub builtins: *const *const u8,
    /// Process-wide signature id of each module type index.
    pub type_ids: *const u32,
    /// The runtime's instance; opaque to compiled code.
    pub instance: *mut u8,
}

/// A function reference: what `funcref` values and table elements point to.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FuncRef {
    /// Code to call, with the wasm calling convention of its type.
    pub func_ptr: *const u8,
    /// The vmctx to pass as the first argument: the defining instance's vmctx for wasm
    /// functions, an [`crate::AdapterContext`] for adapters (host closures and native
    /// hostcalls).
    pub vmctx: *mut u8,
    /// Process-wide signature id.
    pub type_id: u32,
    pub _pad: u32,
}

/// A linear memory's current state.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MemoryDef {
    pub base: *mut u8,
    /// Accessible bytes from `base`.
    pub current_length: u64,
}

/// A table's current state. `base` may move when the table grows.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub base: *mut usize,
    pub current_elements: u32,
    pub _pad: u32,
}

/// Runtime functions that compiled code calls through `VmctxHeader::builtins`.
///
/// All use the `SystemV` convention and take the caller's vmctx first. Those that
/// return an `i32` status return 0 on success and non-zero when the operation is out
/// of bounds; the compiled code then traps with the code named below.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `(vmctx, memory: i32, delta_pages: i64) -> i64` — old size in pages, or -1.
    MemoryGrow = 0,
    /// `(vmctx, memory: i32, dst: i64, val: i32, len: i64) -> i32` — HeapOutOfBounds.
    MemoryFill,
    /// `(vmctx, dst_memory: i32, dst: i64, src_memory: i32, src: i64, len: i64) -> i32` — HeapOutOfBounds.
    MemoryCopy,
    /// `(vmctx, memory: i32, data: i32, dst: i64, src: i32, len: i32) -> i32` — HeapOutOfBounds.
    MemoryInit,
    /// `(vmctx, data: i32)`.
    DataDrop,
    /// `(vmctx, table: i32, delta: i32, init: i64) -> i32` — old size, or -1.
    TableGrow,
    /// `(vmctx, table: i32, dst: i32, val: i64, len: i32) -> i32` — TableOutOfBounds.
    TableFill,
    /// `(vmctx, dst_table: i32, src_table: i32, dst: i32, src: i32, len: i32) -> i32` — TableOutOfBounds.
    TableCopy,
    /// `(vmctx, table: i32, elem: i32, dst: i32, src: i32, len: i32) -> i32` — TableOutOfBounds.
    TableInit,
    /// `(vmctx, elem: i32)`.
    ElemDrop,
    /// `(vmctx, tag: i32, values: *const [u8; 16])` — throws a new exception of the
    /// caller's tag `tag` with the payload in `values`; never returns.
    Throw,
    /// `(vmctx, exn: i64)` — throws the (non-null) exception object again; never returns.
    ThrowRef,
}

/// The builtin list, defined once. `foreach_builtin!(m)` invokes `m!` with one entry per
/// builtin, in table order: `Variant name(param: type, ...) -> result;`. Types are as the
/// runtime receives them after the vmctx (`u32` carries a wasm `i32`, `u64` and `i64` a
/// wasm `i64`; `()` is no result). lucet-module derives [`Builtin::params`] and
/// [`Builtin::result`] from it, lucetc the signatures it calls, and the runtime its
/// table, whose functions must have exactly these types.
#[macro_export]
macro_rules! foreach_builtin {
    ($m:ident) => {
        $m! {
            MemoryGrow memory_grow(mem: u32, delta: i64) -> i64;
            MemoryFill memory_fill(mem: u32, dst: u64, val: u32, len: u64) -> u32;
            MemoryCopy memory_copy(dst_mem: u32, dst: u64, src_mem: u32, src: u64, len: u64) -> u32;
            MemoryInit memory_init(mem: u32, data: u32, dst: u64, src: u32, len: u32) -> u32;
            DataDrop data_drop(data: u32) -> ();
            TableGrow table_grow(table: u32, delta: u32, init: u64) -> u32;
            TableFill table_fill(table: u32, dst: u32, val: u64, len: u32) -> u32;
            TableCopy table_copy(dst_table: u32, src_table: u32, dst: u32, src: u32, len: u32) -> u32;
            TableInit table_init(table: u32, elem: u32, dst: u32, src: u32, len: u32) -> u32;
            ElemDrop elem_drop(elem: u32) -> ();
            Throw exn_throw(tag: u32, values: u64) -> ();
            ThrowRef exn_throw_ref(exn: u64) -> ();
        }
    };
}

macro_rules! builtin_val_type {
    (u32) => {
        crate::ValType::I32
    };
    (u64) => {
        crate::ValType::I64
    };
    (i64) => {
        crate::ValType::I64
    };
}

macro_rules! builtin_result {
    (()) => {
        None
    };
    ($t:tt) => {
        Some(builtin_val_type!($t))
    };
}

macro_rules! builtin_signatures {
    ($($variant:ident $name:ident($($p:ident: $pt:tt),*) -> $rt:tt;)*) => {
        impl Builtin {
            /// Every builtin, in table order.
            pub const ALL: [Builtin; Builtin::COUNT] = [$(Builtin::$variant),*];

            /// The runtime function's name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Builtin::$variant => stringify!($name),)*
                }
            }

            /// The wasm types of the parameters after the vmctx.
            pub fn params(self) -> &'static [crate::ValType] {
                match self {
                    $(Builtin::$variant => &[$(builtin_val_type!($pt)),*],)*
                }
            }

            /// The wasm type of the result, if any.
            pub fn result(self) -> Option<crate::ValType> {
                match self {
                    $(Builtin::$variant => builtin_result!($rt),)*
                }
            }
        }
    };
}

foreach_builtin!(builtin_signatures);

impl Builtin {
    pub const COUNT: usize = Builtin::ThrowRef as usize + 1;

    /// Byte offset of this builtin's pointer in the builtin table.
    pub const fn table_offset(self) -> i32 {
        (self as u32 as usize * size_of::<usize>()) as i32
    }
}

/// Offsets of everything in a module's vmctx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmctxLayout {
    pub num_funcs: u32,
    pub num_imported_memories: u32,
    pub num_defined_memories: u32,
    pub num_imported_tables: u32,
    pub num_defined_tables: u32,
    pub num_imported_globals: u32,
    pub num_defined_globals: u32,
    pub funcrefs: u32,
    pub imported_memories: u32,
    pub defined_memories: u32,
    pub imported_tables: u32,
    pub defined_tables: u32,
    pub imported_globals: u32,
    pub defined_globals: u32,
    pub size: u32,
}

const fn align(x: usize, to: usize) -> usize {
    (x + to - 1) / to * to
}

impl VmctxLayout {
    pub const STACK_LIMIT: i32 = offset_of!(VmctxHeader, stack_limit) as i32;
    pub const BUILTINS: i32 = offset_of!(VmctxHeader, builtins) as i32;
    pub const TYPE_IDS: i32 = offset_of!(VmctxHeader, type_ids) as i32;
    pub const INSTANCE: i32 = offset_of!(VmctxHeader, instance) as i32;

    pub const FUNCREF_FUNC_PTR: i32 = offset_of!(FuncRef, func_ptr) as i32;
    pub const FUNCREF_VMCTX: i32 = offset_of!(FuncRef, vmctx) as i32;
    pub const FUNCREF_TYPE_ID: i32 = offset_of!(FuncRef, type_id) as i32;
    pub const MEMORY_BASE: i32 = offset_of!(MemoryDef, base) as i32;
    pub const MEMORY_LENGTH: i32 = offset_of!(MemoryDef, current_length) as i32;
    pub const TABLE_BASE: i32 = offset_of!(TableDef, base) as i32;
    pub const TABLE_ELEMENTS: i32 = offset_of!(TableDef, current_elements) as i32;
    /// Size of one global's storage.
    pub const GLOBAL_SIZE: u32 = 16;
    /// Size of one table element.
    pub const TABLE_ELEMENT_SIZE: u32 = size_of::<usize>() as u32;

    pub fn new(module: &ModuleData) -> VmctxLayout {
        let count = |f: fn(&ImportKind) -> bool| module.imports.iter().filter(|i| f(&i.kind)).count();
        let num_imported_memories = count(|k| matches!(k, ImportKind::Memory(_)));
        let num_imported_tables = count(|k| matches!(k, ImportKind::Table(_)));
        let num_imported_globals = count(|k| matches!(k, ImportKind::Global(_)));
        let num_funcs = module.functions.len();
        let num_defined_memories = module.memory_plans.len() - num_imported_memories;
        let num_defined_tables = module.defined_tables.len();
        let num_defined_globals = module.defined_globals.len();

        let ptr = size_of::<usize>();
        let mut at = size_of::<VmctxHeader>();
        let mut place = |count: usize, elem: usize, alignment: usize| {
            at = align(at, alignment);
            let start = at;
            at += count * elem;
            start as u32
        };
        let funcrefs = place(num_funcs, size_of::<FuncRef>(), ptr);
        let imported_memories = place(num_imported_memories, ptr, ptr);
        let defined_memories = place(num_defined_memories, size_of::<MemoryDef>(), ptr);
        let imported_tables = place(num_imported_tables, ptr, ptr);
        let defined_tables = place(num_defined_tables, size_of::<TableDef>(), ptr);
        let imported_globals = place(num_imported_globals, ptr, ptr);
        let defined_globals = place(num_defined_globals, Self::GLOBAL_SIZE as usize, 16);
        let size = align(at, 16) as u32;
        VmctxLayout {
            num_funcs: num_funcs as u32,
            num_imported_memories: num_imported_memories as u32,
            num_defined_memories: num_defined_memories as u32,
            num_imported_tables: num_imported_tables as u32,
            num_defined_tables: num_defined_tables as u32,
            num_imported_globals: num_imported_globals as u32,
            num_defined_globals: num_defined_globals as u32,
            funcrefs,
            imported_memories,
            defined_memories,
            imported_tables,
            defined_tables,
            imported_globals,
            defined_globals,
            size,
        }
    }

    /// How far past the vmctx the first defined memory's base lies, when compiled code
    /// relies on it: [`VMCTX_AREA`] if the module defines a memory and its vmctx fits in
    /// that area, `None` otherwise (the code then loads the base from the `MemoryDef`).
    /// lucetc and the runtime both decide by this one function.
    pub fn heap_offset(&self) -> Option<u32> {
        (self.num_defined_memories > 0 && self.size <= VMCTX_AREA).then_some(VMCTX_AREA)
    }

    /// Offset of the [`FuncRef`] of function `index` (whole index space).
    pub fn funcref(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_funcs);
        self.funcrefs + index * size_of::<FuncRef>() as u32
    }
    /// Offset of the pointer to imported memory `index` (import order).
    pub fn imported_memory(&self, index: u32) -> u32 {
        self.imported_memories + index * size_of::<usize>() as u32
    }
    /// Offset of the [`MemoryDef`] of defined memory `index` (definition order).
    pub fn defined_memory(&self, index: u32) -> u32 {
        self.defined_memories + index * size_of::<MemoryDef>() as u32
    }
    pub fn imported_table(&self, index: u32) -> u32 {
        self.imported_tables + index * size_of::<usize>() as u32
    }
    pub fn defined_table(&self, index: u32) -> u32 {
        self.defined_tables + index * size_of::<TableDef>() as u32
    }
    pub fn imported_global(&self, index: u32) -> u32 {
        self.imported_globals + index * size_of::<usize>() as u32
    }
    pub fn defined_global(&self, index: u32) -> u32 {
        self.defined_globals + index * Self::GLOBAL_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GlobalDef, GlobalType, Import, MemoryPlan, MemoryType, ValType};

    #[test]
    fn the_builtin_list_is_in_table_order() {
        for (i, b) in Builtin::ALL.iter().enumerate() {
            assert_eq!(*b as usize, i, "{} is listed out of order", b.name());
        }
        assert_eq!(Builtin::MemoryGrow.params(), &[ValType::I32, ValType::I64]);
        assert_eq!(Builtin::MemoryGrow.result(), Some(ValType::I64));
        assert_eq!(Builtin::ElemDrop.result(), None);
    }

    #[test]
    fn globals_are_sixteen_byte_aligned_and_fit() {
        let mut m = ModuleData::default();
        m.imports.push(Import {
            module: "m".into(),
            field: "g".into(),
            kind: ImportKind::Global(GlobalType { ty: ValType::I32, mutable: false, shape: Default::default() }),
        });
        m.memory_plans.push(MemoryPlan {
            memory: MemoryType { min_pages: 1, max_pages: None, memory64: false, shared: false },
            reserved_size: 1 << 32,
            guard_size: 1 << 31,
        });
        for _ in 0..3 {
            m.defined_globals.push(GlobalDef {
                ty: GlobalType { ty: ValType::V128, mutable: true, shape: Default::default() },
                init: Default::default(),
            });
        }
        let l = VmctxLayout::new(&m);
        assert_eq!(l.defined_globals % 16, 0);
        assert_eq!(l.num_defined_memories, 1);
        assert!(l.defined_global(2) + 16 <= l.size);
        assert_eq!(VmctxLayout::STACK_LIMIT, 0);
    }

    #[test]
    fn the_heap_follows_the_vmctx_area_only_for_a_defined_memory_and_a_vmctx_that_fits() {
        let plan = MemoryPlan {
            memory: MemoryType { min_pages: 1, max_pages: None, memory64: false, shared: false },
            reserved_size: 1 << 32,
            guard_size: 1 << 31,
        };
        let mut m = ModuleData::default();
        assert_eq!(VmctxLayout::new(&m).heap_offset(), None, "no memory");
        m.imports.push(Import { module: "m".into(), field: "mem".into(), kind: ImportKind::Memory(plan.memory.clone()) });
        m.memory_plans.push(plan.clone());
        assert_eq!(VmctxLayout::new(&m).heap_offset(), None, "an imported memory lives in its exporter's slot");
        m.memory_plans.push(plan);
        let mut l = VmctxLayout::new(&m);
        assert_eq!(l.heap_offset(), Some(VMCTX_AREA));
        l.size = VMCTX_AREA;
        assert_eq!(l.heap_offset(), Some(VMCTX_AREA), "a vmctx that fills the area exactly");
        l.size = VMCTX_AREA + 16;
        assert_eq!(l.heap_offset(), None, "a vmctx larger than the area");
    }
}
