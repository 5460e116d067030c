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
            tail: Vec::new(),
            body_ids: Vec::new(),
            data,
        }
    }

    pub fn func_type(&self, index: u32) -> &FuncType {
        &self.data.types[self.data.functions[index as usize].type_index as usize]
    }

    pub fn num_defined_funcs(&self) -> u32 {
        self.data.functions.len() as u32 - self.num_imported_funcs
    }

    /// Records which functions get `tail`-convention bodies (see [`ModuleInfo::body_call_conv`]).
    pub fn set_tail_funcs(&mut self, tail_funcs: &[u32]) {
        if tail_funcs.is_empty() {
            return;
        }
        self.tail = vec![false; self.num_defined_funcs() as usize];
        for &f in tail_funcs {
            if let Some(d) = f.checked_sub(self.num_imported_funcs) {
                self.tail[d as usize] = true;
            }
        }
    }

    /// Whether defined function `index` has a `tail`-convention body behind an entry point.
    pub fn is_tail(&self, index: u32) -> bool {
        index
            .checked_sub(self.num_imported_funcs)
            .and_then(|d| self.tail.get(d as usize).copied())
            .unwrap_or(false)
    }

    /// The calling convention of the compiled body of function `index`. The contract
    /// fixes `SystemV` for everything reachable from outside, and `SystemV` has no tail
    /// calls. So the functions that make direct tail calls, and their targets, get
    /// bodies in cranelift's `tail` convention (same callee-saved registers) behind
    /// small `SystemV` entry points; tail calls between such bodies reuse the frame.
    /// Every other function is compiled as its own `SystemV` entry point.
    pub fn body_call_conv(&self, index: u32) -> CallConv {
        if self.is_tail(index) {
            CallConv::Tail
        } else {
            CallConv::SystemV
        }
    }

    /// The signature of the compiled body of function `index`.
    pub fn body_signature(&self, index: u32) -> ir::Signature {
        let mut sig = wasm_signature(self.func_type(index));
        sig.call_conv = self.body_call_conv(index);
        sig
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
