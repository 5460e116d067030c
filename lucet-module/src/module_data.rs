use crate::types::{FuncType, GlobalType, MemoryType, RefType, TableType};
use crate::TrapSite;
use serde::{Deserialize, Serialize};

/// Everything about a compiled module except its machine code.
///
/// Index spaces follow WebAssembly: functions, tables, memories and globals are
/// numbered imports first, then definitions. `functions` covers the whole function
/// index space; `defined_*` vectors cover only definitions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModuleData {
    /// lucetc version that produced the module.
    pub compiler_version: String,
    /// SHA-256 of the input lucetc compiled: the `.wasm` or `.wat` bytes exactly as it
    /// was given them. A cache of compiled modules checks it to know that an entry was
    /// made from the module it is asked for. `None` when the producer did not record it.
    pub source_hash: Option<[u8; 32]>,
    /// Name from the wasm name section, if any.
    pub name: Option<String>,
    pub target: TargetInfo,
    /// The module's type section (function types), indexed by type index.
    pub types: Vec<FuncType>,
    pub imports: Vec<Import>,
    /// One entry per function in the function index space (imported ones first).
    pub functions: Vec<FunctionEntry>,
    /// Tables defined by the module (imported tables are in `imports`).
    pub defined_tables: Vec<TableType>,
    /// Every memory of the memory index space (imported ones first) with the
    /// reservation and guard the code was compiled to assume.
    pub memory_plans: Vec<MemoryPlan>,
    /// Globals defined by the module (imported globals are in `imports`).
    pub defined_globals: Vec<GlobalDef>,
    pub exports: Vec<Export>,
    /// Function index of the start function.
    pub start: Option<u32>,
    /// All data segments in data-index order. Active ones are applied at
    /// instantiation and then behave as dropped.
    pub data_segments: Vec<DataSegment>,
    /// All element segments in element-index order.
    pub elem_segments: Vec<ElemSegment>,
    /// How the code was generated.
    pub codegen: CodegenInfo,
    /// By defined table: the value every element starts with, when the table type has
    /// an initialiser expression (typed function references); `None` (or a missing
    /// entry) means null. Evaluated after the globals.
    pub table_inits: Vec<Option<ConstExpr>>,
    /// By type index: for a signature that mentions typed function references, a
    /// SHA-256 digest of its whole structure, the referenced function types included
    /// (`None`, or a missing entry, for every other signature). [`crate::FuncType`]
    /// erases `(ref $t)` to `funcref`; the runtime interns signatures together with this
    /// digest, so `call_indirect` and linking tell `(func (param (ref $a)))` from
    /// `(func (param (ref $b)))`. A callee trusts the type of what `call_ref` calls.
    pub type_digests: Vec<Option<[u8; 32]>>,
    /// Tags and exception handlers.
    pub exceptions: crate::ExceptionInfo,
}

/// Code generation choices a host may want to know about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodegenInfo {
    /// Whether the bounds checks of memories and tables (including `call_indirect`'s)
    /// also keep a mispredicted branch from reading out of bounds (Spectre variant 1):
    /// an out-of-bounds address is replaced by 0 with a conditional move before the
    /// access. Memories whose every access is covered by guard pages need no check.
    pub spectre_guards: bool,
    /// How hard the code generator optimised.
    pub opt_level: OptLevel,
}

/// How hard the code generator optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OptLevel {
    None,
    #[default]
    Speed,
    SpeedAndSize,
}

impl std::str::FromStr for OptLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<OptLevel, String> {
        match s {
            "0" | "none" => Ok(OptLevel::None),
            "1" | "speed" => Ok(OptLevel::Speed),
            "2" | "speed_and_size" => Ok(OptLevel::SpeedAndSize),
            _ => Err(format!("unknown optimisation level `{s}`; use 0, 1, 2, speed or speed_and_size")),
        }
    }
}

impl std::fmt::Display for OptLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        })
    }
}

/// The machine the code was compiled for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Target triple, e.g. `x86_64-unknown-linux-gnu`.
    pub triple: String,
    /// Names of the CPU features the code may use (cranelift's `has_*` flags that were
    /// enabled, e.g. `sse4.1`, `avx2`). The runtime checks each against the host.
    pub cpu_features: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Import {
    pub module: String,
    pub field: String,
    pub kind: ImportKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ImportKind {
    /// A function of the given type index.
    Func(u32),
    Table(TableType),
    Memory(MemoryType),
    Global(GlobalType),
    /// An exception tag of the given (function) type index.
    Tag(u32),
}

/// One function of the function index space.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionEntry {
    /// Index into [`ModuleData::types`].
    pub type_index: u32,
    /// Name from the wasm name section, or for imports `module.field`.
    pub name: Option<String>,
    /// For defined functions: the code's length and its trap sites (sorted by
    /// offset). `None` for imported functions.
    pub code: Option<FunctionCode>,
}

/// The code of a defined function. Both fields live in the metadata's tables
/// (`crate::tables`), not in the encoded `ModuleData`: in the `ModuleData` of a module the
/// runtime loaded they are zero and empty, and the runtime reads the tables in place.
/// [`ModuleData::deserialize`] fills them in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FunctionCode {
    #[serde(skip)]
    pub len: u32,
    /// Sorted by offset.
    #[serde(skip)]
    pub traps: Vec<TrapSite>,
}

/// A linear memory as the code was compiled to access it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryPlan {
    pub memory: MemoryType,
    /// Bytes of address space the code assumes are reserved from the heap base.
    /// When this is at least 4 GiB for a 32-bit memory, the code has no explicit
    /// bounds checks and relies on the guard region instead.
    pub reserved_size: u64,
    /// Bytes of inaccessible guard after the reservation.
    pub guard_size: u64,
}

impl MemoryPlan {
    /// Whether the code checks accesses against the fixed reservation rather than the
    /// memory's current length. lucetc chooses this for 32-bit memories with a
    /// reservation of at least 4 GiB; most of those accesses then have no check at all
    /// and rely on the reservation and guard being inaccessible.
    pub fn static_bounds(&self) -> bool {
        !self.memory.memory64 && self.reserved_size >= 1 << 32
    }

    /// How many bytes from the memory's base the code may touch without a software
    /// check stopping it, when the memory is never longer than `max_len` bytes.
    ///
    /// With static bounds that is the whole reservation plus guard, whatever the length.
    /// Otherwise the code compares the index with the current length, but an access
    /// whose offset fits the guard is only checked for `index > length`: it reaches up
    /// to `guard_size` bytes past the end. Every byte below the reach that is not part
    /// of the memory's accessible length must fault.
    pub fn reach(&self, max_len: u64) -> u64 {
        if self.static_bounds() {
            self.reserved_size.saturating_add(self.guard_size)
        } else {
            max_len.saturating_add(self.guard_size)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GlobalDef {
    pub ty: GlobalType,
    pub init: ConstExpr,
}

/// A constant expression, evaluated by the runtime at instantiation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConstExpr {
    pub ops: Vec<ConstOp>,
}

/// Stack-machine operations allowed in constant expressions (Wasm 2.0 plus the
/// extended-constant-expressions proposal).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ConstOp {
    I32Const(i32),
    I64Const(i64),
    F32Const(u32),
    F64Const(u64),
    V128Const(u128),
    GlobalGet(u32),
    RefNull,
    RefFunc(u32),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Export {
    pub name: String,
    pub kind: ExportKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportKind {
    Func(u32),
    Table(u32),
    Memory(u32),
    Global(u32),
    Tag(u32),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SegmentKind {
    /// Applied at instantiation to the given memory or table, at the offset
    /// computed by the expression.
    Active { index: u32, offset: ConstExpr },
    /// Available to `memory.init` / `table.init` until dropped.
    Passive,
    /// Element segments only: declares functions that `ref.func` may name.
    Declared,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataSegment {
    pub kind: SegmentKind,
    /// Stored in the metadata's tables, not in the encoded `ModuleData` (see
    /// [`FunctionCode`]): empty in a module the runtime loaded, which reads the bytes in
    /// place.
    #[serde(skip)]
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ElemSegment {
    pub kind: SegmentKind,
    pub elem_type: RefType,
    /// Each item is a constant expression producing a reference
    /// (`ref.func i`, `ref.null`, or `global.get g`).
    pub items: Vec<ConstExpr>,
}

impl ModuleData {
    pub fn num_imported_funcs(&self) -> usize {
        self.imports.iter().filter(|i| matches!(i.kind, ImportKind::Func(_))).count()
    }
    pub fn num_imported_tables(&self) -> usize {
        self.imports.iter().filter(|i| matches!(i.kind, ImportKind::Table(_))).count()
    }
    pub fn num_imported_memories(&self) -> usize {
        self.imports.iter().filter(|i| matches!(i.kind, ImportKind::Memory(_))).count()
    }
    pub fn num_imported_tags(&self) -> usize {
        self.imports.iter().filter(|i| matches!(i.kind, ImportKind::Tag(_))).count()
    }
    pub fn num_imported_globals(&self) -> usize {
        self.imports.iter().filter(|i| matches!(i.kind, ImportKind::Global(_))).count()
    }

    /// The type of function `index` (in the whole function index space).
    pub fn func_type(&self, index: u32) -> Option<&FuncType> {
        let f = self.functions.get(index as usize)?;
        self.types.get(f.type_index as usize)
    }

    pub fn export(&self, name: &str) -> Option<ExportKind> {
        self.exports.iter().find(|e| e.name == name).map(|e| e.kind)
    }
}


