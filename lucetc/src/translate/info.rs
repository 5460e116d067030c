//! What every function's translation needs to know about the module, shared read-only.

use cranelift_codegen::ir::{self, types, AbiParam, ArgumentPurpose};
use cranelift_codegen::isa::CallConv;
use lucet_module::{
    DefinedFuncIndex, FuncIndex, FuncType, GlobalIndex, GlobalType, ImportCounts, ImportKind, MemoryIndex,
    MemoryPlan, ModuleData, TagIndex, TypeIndex, ValType, VmctxLayout,
};

/// Module-wide facts shared (read-only) by every function's translation.
pub struct ModuleInfo {
    pub data: ModuleData,
    pub layout: VmctxLayout,
    pub imports: ImportCounts,
    /// Types of the whole global index space.
    pub globals: Vec<GlobalType>,
    /// Object-file function id of each defined function's entry point (what
    /// `FuncRef`s and the descriptor point at), by defined index.
    pub func_ids: Vec<u32>,
    /// By defined index: whether the function's body uses the `tail` convention so
    /// that `return_call` does not grow the stack (see [`ModuleInfo::body_call_conv`]).
    /// Empty when the module makes no direct tail calls.
    pub tail: Vec<bool>,
    /// Object-file function id of each defined function's compiled body. The same as
    /// the entry point unless the body uses the `tail` convention, in which case the
    /// entry point is a small `SystemV` wrapper that calls the body.
    pub body_ids: Vec<u32>,
    /// The type index of every tag, imported ones first.
    pub tags: Vec<u32>,
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
            func_ids: Vec::new(),
            tail: Vec::new(),
            body_ids: Vec::new(),
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

    pub fn num_defined_funcs(&self) -> u32 {
        self.data.functions.len() as u32 - self.imports.funcs
    }

    /// Every defined function, in order.
    pub fn defined_funcs(&self) -> impl Iterator<Item = DefinedFuncIndex> {
        (0..self.num_defined_funcs()).map(DefinedFuncIndex::from_u32)
    }

    /// Records which functions get `tail`-convention bodies (see [`ModuleInfo::body_call_conv`]).
    pub fn set_tail_funcs(&mut self, tail_funcs: &[FuncIndex]) {
        if tail_funcs.is_empty() {
            return;
        }
        self.tail = vec![false; self.num_defined_funcs() as usize];
        for &f in tail_funcs {
            if let Some(d) = self.imports.defined_func(f) {
                self.tail[d.index()] = true;
            }
        }
    }

    /// Whether function `index` is defined here and has a `tail` body behind an entry point.
    pub fn is_tail(&self, index: FuncIndex) -> bool {
        self.imports.defined_func(index).and_then(|d| self.tail.get(d.index()).copied()).unwrap_or(false)
    }

    /// The calling convention of the compiled body of function `index`. The contract
    /// fixes `SystemV` for everything reachable from outside, and `SystemV` has no tail
    /// calls. So the functions that make direct tail calls, and their targets, get
    /// bodies in cranelift's `tail` convention (same callee-saved registers) behind
    /// small `SystemV` entry points; tail calls between such bodies reuse the frame.
    /// Every other function is compiled as its own `SystemV` entry point.
    pub fn body_call_conv(&self, index: FuncIndex) -> CallConv {
        if self.is_tail(index) {
            CallConv::Tail
        } else {
            CallConv::SystemV
        }
    }

    /// The signature of the compiled body of function `index`.
    pub fn body_signature(&self, index: FuncIndex) -> ir::Signature {
        let mut sig = wasm_signature(self.func_type(index));
        sig.call_conv = self.body_call_conv(index);
        sig
    }

    /// Object-file id of the body of a defined function.
    pub fn body_id(&self, index: DefinedFuncIndex) -> u32 {
        self.body_ids[index.index()]
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

/// The native signature of a wasm function: `SystemV` `fn(vmctx, params...) -> results`.
pub fn wasm_signature(ty: &FuncType) -> ir::Signature {
    let mut sig = ir::Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::special(types::I64, ArgumentPurpose::VMContext));
    sig.params.extend(ty.params.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig.returns.extend(ty.results.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig
}
