//! What every function's translation needs to know about the module, shared read-only.

use cranelift_codegen::ir::{self, types, AbiParam, ArgumentPurpose};
use cranelift_codegen::isa::CallConv;
use lucet_module::{
    DefinedFuncIndex, FuncIndex, FuncType, GlobalIndex, GlobalType, ImportCounts, ImportKind, MemoryIndex,
    MemoryPlan, ModuleData, TableIndex, TableType, TagIndex, TypeIndex, ValType, VmctxLayout,
};

/// Module-wide facts shared (read-only) by every function's translation.
pub struct ModuleInfo {
    pub data: ModuleData,
    pub layout: VmctxLayout,
    pub imports: ImportCounts,
    /// Types of the whole global index space.
    pub globals: Vec<GlobalType>,
    /// Types of the whole table index space.
    pub tables: Vec<TableType>,
    /// Object-file function id of each defined function (what `FuncRef`s, the
    /// descriptor and direct calls point at), by defined index.
    pub func_ids: Vec<u32>,
    /// The type index of every tag, imported ones first.
    pub tags: Vec<u32>,
}

impl ModuleInfo {
    pub fn new(data: ModuleData) -> ModuleInfo {
        let layout = VmctxLayout::new(&data);
        let mut globals = Vec::new();
        let mut tables = Vec::new();
        for import in &data.imports {
            match &import.kind {
                ImportKind::Global(g) => globals.push(*g),
                ImportKind::Table(t) => tables.push(*t),
                _ => {}
            }
        }
        globals.extend(data.defined_globals.iter().map(|g| g.ty));
        tables.extend(data.defined_tables.iter().copied());
        let mut tags: Vec<u32> = data
            .imports
            .iter()
            .filter_map(|i| match i.kind {
                ImportKind::Tag(t) => Some(t),
                _ => None,
            })
            .collect();
        tags.extend(data.exceptions.defined_tags.iter().copied());
        ModuleInfo {
            tags,
            imports: ImportCounts::of(&data),
            layout,
            globals,
            tables,
            func_ids: Vec::new(),
            data,
        }
    }

    pub fn func_type(&self, index: FuncIndex) -> &FuncType {
        &self.data.types[self.data.functions[index.index()].type_index as usize]
    }

    pub fn type_of(&self, index: TypeIndex) -> &FuncType {
        &self.data.types[index.index()]
    }

    pub fn func_type_index(&self, index: FuncIndex) -> TypeIndex {
        TypeIndex::from_u32(self.data.functions[index.index()].type_index)
    }

    /// The payload types of tag `index`.
    pub fn tag_payload(&self, index: TagIndex) -> &[ValType] {
        &self.data.types[self.tags[index.index()] as usize].params
    }

    pub fn memory_plan(&self, index: MemoryIndex) -> &MemoryPlan {
        &self.data.memory_plans[index.index()]
    }

    pub fn global(&self, index: GlobalIndex) -> &GlobalType {
        &self.globals[index.index()]
    }

    pub fn table(&self, index: TableIndex) -> &TableType {
        &self.tables[index.index()]
    }

    pub fn num_defined_funcs(&self) -> u32 {
        self.data.functions.len() as u32 - self.imports.funcs
    }

    /// Every defined function, in order.
    pub fn defined_funcs(&self) -> impl Iterator<Item = DefinedFuncIndex> {
        (0..self.num_defined_funcs()).map(DefinedFuncIndex::from_u32)
    }

    /// Object-file id of a defined function.
    pub fn func_id(&self, index: DefinedFuncIndex) -> u32 {
        self.func_ids[index.index()]
    }
}

/// The cranelift type that carries a wasm value.
pub fn clif_type(t: ValType) -> ir::Type {
    match t {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        // Vectors travel between blocks, locals and functions as one canonical type
        // and are bitcast to the lane layout each operator needs.
        ValType::V128 => types::I8X16,
        ValType::FuncRef | ValType::ExternRef | ValType::ExnRef => types::I64,
    }
}

/// The native signature of a wasm function: `fn(vmctx, params...) -> results` in
/// cranelift's `tail` convention.
///
/// Every wasm function, defined or imported, and everything a `FuncRef` points at has
/// this convention, because only `tail` lets `return_call`, `return_call_indirect` and
/// `return_call_ref` reuse the caller's frame (the callee pops its stack arguments).
/// On x86-64 it keeps the System V callee-saved registers and argument registers, but
/// returns more values in registers. The host's `extern "C"` side is reached only
/// through the per-type trampolines and adapters (`crate::trampolines`).
pub fn wasm_signature(ty: &FuncType) -> ir::Signature {
    let mut sig = ir::Signature::new(CallConv::Tail);
    sig.params.push(AbiParam::special(types::I64, ArgumentPurpose::VMContext));
    sig.params.extend(ty.params.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig.returns.extend(ty.results.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig
}
