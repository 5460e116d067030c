//! The contract between the compiler (`lucetc`) and the runtime (`lucet-runtime`).
//!
//! A compiled module is an x86-64 ELF shared object. Everything the runtime needs to
//! know about it, besides the machine code itself, is described by the types in this
//! crate: the exported [`ModuleDescriptor`] symbol that the runtime finds first (magic
//! number, format version, pointers to the tables below), the metadata
//! blob ([`ModuleData`] encoded for imports, exports, memories, tables, globals and
//! segment kinds; `#[repr(C)]` tables read in place for code lengths, trap sites and
//! data, see [`Metadata`]), and the layout of the per-instance
//! context ([`VmctxLayout`]) through which compiled code reaches its heap, globals,
//! tables, imported functions and the runtime's builtins. Both sides compute offsets
//! from this crate and nowhere else, so they cannot drift apart; any change to these
//! types bumps [`FORMAT_VERSION`]. `docs/architecture.md` explains the whole picture.

mod descriptor;
mod error;
mod exceptions;
mod image;
mod linking;
mod index;
mod module_data;
mod signature;
mod tables;
mod trap;
mod types;
mod version;
mod vmctx;

pub use descriptor::{AdapterContext, ModuleDescriptor, MODULE_SYMBOL};
pub use error::Error;
pub use exceptions::{tag_payload, ExceptionHeader, ExceptionInfo, Handler, HandlerSite, RegisterSaves};
pub use linking::{LIBCALLS, LIBCALL_LIBRARIES};
pub use index::{
    DataIndex, DefinedFuncIndex, DefinedGlobalIndex, DefinedMemoryIndex, DefinedTableIndex, ElemIndex, FuncIndex,
    GlobalIndex, ImportCounts, MemoryIndex, Origin, TableIndex, TypeIndex, TagIndex, DefinedTagIndex,
};
pub use module_data::{
    CodegenInfo, ConstExpr, OptLevel, ConstOp, DataSegment, ElemSegment, Export, ExportKind, FunctionCode, FunctionEntry, GlobalDef,
    Import, ImportKind, MemoryPlan, ModuleData, SegmentKind, TargetInfo,
};
pub use image::{image_is_dense, plan_memory_image, ImageLayout, Placement, IMAGE_PAGE};
pub use signature::signature_path;
pub use tables::{FunctionRecord, Metadata, MetadataHeader, SegmentRecord, Span, TrapRecord, METADATA_ALIGN};
pub use trap::{TrapCode, TrapSite};
pub use types::{FuncType, GlobalType, MemoryType, RefShape, RefType, TableType, ValType};
pub use version::{COMPILER_VERSION, FORMAT_VERSION, MAGIC};
pub use vmctx::{Builtin, FuncRef, MemoryDef, TableDef, VmctxHeader, VmctxLayout, VALUE_SLOT_SIZE, VMCTX_AREA};
