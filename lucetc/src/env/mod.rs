//! What the translators need to know about a module.

pub mod func;
pub mod module;

use cranelift_codegen::ir::{self, types, AbiParam, ArgumentPurpose};
use cranelift_codegen::isa::CallConv;
use lucet_module::{FuncType, GlobalType, ImportKind, ModuleData, ValType, VmctxLayout};

/// Module-wide facts shared (read-only) by every function's translation.
pub struct ModuleInfo {
    pub data: ModuleData,
    pub layout: VmctxLayout,
    pub num_imported_funcs: u32,
    pub num_imported_tables: u32,
    pub num_imported_memories: u32,
    pub num_imported_globals: u32,
    /// Types of the whole global index space.
    pub globals: Vec<GlobalType>,
    /// Object-file function id of each defined function, by defined index.
    pub func_ids: Vec<u32>,
}

impl ModuleInfo {
    pub fn new(data: ModuleData) -> ModuleInfo {
        let layout = VmctxLayout::new(&data);
        let mut globals = Vec::new();
        for import in &data.imports {
            if let ImportKind::Global(g) = &import.kind {
                globals.push(*g);
            }
        }
        globals.extend(data.defined_globals.iter().map(|g| g.ty));
        ModuleInfo {
            num_imported_funcs: data.num_imported_funcs() as u32,
            num_imported_tables: data.num_imported_tables() as u32,
            num_imported_memories: data.num_imported_memories() as u32,
            num_imported_globals: data.num_imported_globals() as u32,
            layout,
            globals,
            func_ids: Vec::new(),
            data,
        }
    }

    pub fn func_type(&self, index: u32) -> &FuncType {
        &self.data.types[self.data.functions[index as usize].type_index as usize]
    }

    pub fn num_defined_funcs(&self) -> u32 {
        self.data.functions.len() as u32 - self.num_imported_funcs
    }
}

/// The cranelift type that carries a wasm value.
pub fn clif_type(t: ValType) -> ir::Type {
    match t {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        // cranelift-wasm's canonical vector type.
        ValType::V128 => types::I8X16,
        ValType::FuncRef | ValType::ExternRef => types::I64,
    }
}

/// The native signature of a wasm function: `SystemV` `fn(vmctx, params...) -> results`.
pub fn wasm_signature(ty: &FuncType) -> ir::Signature {
    let mut sig = ir::Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::special(types::I64, ArgumentPurpose::VMContext));
    sig.params.extend(ty.params.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig.returns.extend(ty.results.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig
}
