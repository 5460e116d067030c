//! How wasm instructions that touch the outside world become machine code.
//!
//! Everything an instance owns is reached through the `vmctx` argument every function
//! receives, at the offsets `lucet_module::VmctxLayout` computes: memories, tables,
//! globals, function references, the stack limit and the runtime's builtin functions.

use super::{clif_type, wasm_signature, ModuleInfo};
use cranelift_codegen::cursor::FuncCursor;
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types::*, AbiParam, ArgumentPurpose, ExtFuncData, ExternalName, GlobalValueData,
    InstBuilder, MemFlags, Signature, TrapCode, UserExternalName,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig, TargetIsa};
use cranelift_entity::PrimaryMap;
use cranelift_frontend::FunctionBuilder;
use cranelift_wasm::{
    EngineOrModuleTypeIndex, FuncIndex, FuncTranslationState, GlobalIndex, GlobalVariable, Heap, HeapData,
    HeapStyle, MemoryIndex, ModuleInternedTypeIndex, TableData, TableIndex, TableSize, TargetEnvironment,
    TypeConvert, TypeIndex, WasmError, WasmHeapType, WasmResult,
};
use lucet_module::{Builtin, VmctxLayout};
use std::collections::HashMap;

/// Namespace of `UserExternalName`s that are object-file function ids.
pub const FUNC_NAMESPACE: u32 = 0;
/// Namespace for imported functions: they are never called by name, but cranelift-wasm
/// wants a function reference for every callee.
const IMPORT_NAMESPACE: u32 = 1;

const WASM_PAGE_SHIFT: i64 = 16;

/// The reachable state of one memory inside a function being translated.
#[derive(Clone, Copy)]
struct MemoryAccess {
    heap: Heap,
    /// Global value holding the address the `MemoryDef` offsets are relative to.
    def_ptr: ir::GlobalValue,
    /// Offset of the `MemoryDef` from `def_ptr`.
    def_offset: i32,
    memory64: bool,
}

pub struct FuncEnv<'m> {
    module: &'m ModuleInfo,
    isa: &'m dyn TargetIsa,
    vmctx_gv: Option<ir::GlobalValue>,
    heaps: PrimaryMap<Heap, HeapData>,
    memories: HashMap<u32, MemoryAccess>,
    tables: HashMap<u32, TableData>,
    builtin_sigs: HashMap<u32, ir::SigRef>,
}

fn readonly() -> MemFlags {
    MemFlags::trusted().with_readonly()
}

fn unsupported<T>(what: &str) -> WasmResult<T> {
    Err(WasmError::Unsupported(what.to_string()))
}

impl<'m> FuncEnv<'m> {
    pub fn new(module: &'m ModuleInfo, isa: &'m dyn TargetIsa) -> FuncEnv<'m> {
        FuncEnv {
            module,
            isa,
            vmctx_gv: None,
            heaps: PrimaryMap::new(),
            memories: HashMap::new(),
            tables: HashMap::new(),
            builtin_sigs: HashMap::new(),
        }
    }

    fn layout(&self) -> &VmctxLayout {
        &self.module.layout
    }

    fn vmctx_gv(&mut self, func: &mut ir::Function) -> ir::GlobalValue {
        *self.vmctx_gv.get_or_insert_with(|| func.create_global_value(GlobalValueData::VMContext))
    }

    /// A global value loading a pointer stored in the vmctx at `offset`.
    fn vmctx_pointer(&mut self, func: &mut ir::Function, offset: u32) -> ir::GlobalValue {
        let base = self.vmctx_gv(func);
        func.create_global_value(GlobalValueData::Load {
            base,
            offset: (offset as i32).into(),
            global_type: I64,
            flags: readonly(),
        })
    }

    fn memory_access(&mut self, func: &mut ir::Function, index: u32) -> MemoryAccess {
        if let Some(m) = self.memories.get(&index) {
            return *m;
        }
        let n_imported = self.module.num_imported_memories;
        let (def_ptr, def_offset) = if index < n_imported {
            (self.vmctx_pointer(func, self.layout().imported_memory(index)), 0)
        } else {
            (self.vmctx_gv(func), self.layout().defined_memory(index - n_imported) as i32)
        };
        let plan = self.module.data.memory_plans[index as usize];
        let memory64 = plan.memory.memory64;
        // The base never moves (memories grow in place), so it may be hoisted and
        // shared between accesses; the length changes with `memory.grow`.
        let base = func.create_global_value(GlobalValueData::Load {
            base: def_ptr,
            offset: (def_offset + VmctxLayout::MEMORY_BASE).into(),
            global_type: I64,
            flags: readonly(),
        });
        let page = 1u64 << WASM_PAGE_SHIFT;
        let style = if plan.static_bounds() {
            HeapStyle::Static { bound: plan.reserved_size }
        } else {
            let bound_gv = func.create_global_value(GlobalValueData::Load {
                base: def_ptr,
                offset: (def_offset + VmctxLayout::MEMORY_LENGTH).into(),
                global_type: I64,
                flags: MemFlags::trusted(),
            });
            HeapStyle::Dynamic { bound_gv }
        };
        let heap = self.heaps.push(HeapData {
            base,
            min_size: plan.memory.min_pages.saturating_mul(page),
            max_size: plan.memory.max_pages.map(|p| p.saturating_mul(page)),
            offset_guard_size: plan.guard_size,
            style,
            index_type: if memory64 { I64 } else { I32 },
            memory_type: None,
            page_size_log2: WASM_PAGE_SHIFT as u8,
        });
        let m = MemoryAccess { heap, def_ptr, def_offset, memory64 };
        self.memories.insert(index, m);
        m
    }

    fn table(&mut self, func: &mut ir::Function, index: u32) -> TableData {
        if let Some(t) = self.tables.get(&index) {
            return t.clone();
        }
        let n_imported = self.module.num_imported_tables;
        let (def_ptr, def_offset) = if index < n_imported {
            (self.vmctx_pointer(func, self.layout().imported_table(index)), 0)
        } else {
            (self.vmctx_gv(func), self.layout().defined_table(index - n_imported) as i32)
        };
        // Neither is read-only: `table.grow` may move the elements and changes the length.
        let base_gv = func.create_global_value(GlobalValueData::Load {
            base: def_ptr,
            offset: (def_offset + VmctxLayout::TABLE_BASE).into(),
            global_type: I64,
            flags: MemFlags::trusted(),
        });
        let bound_gv = func.create_global_value(GlobalValueData::Load {
            base: def_ptr,
            offset: (def_offset + VmctxLayout::TABLE_ELEMENTS).into(),
            global_type: I32,
            flags: MemFlags::trusted(),
        });
        let t = TableData {
            base_gv,
            bound: TableSize::Dynamic { bound_gv },
            element_size: VmctxLayout::TABLE_ELEMENT_SIZE,
        };
        self.tables.insert(index, t.clone());
        t
    }

    fn vmctx_value(func: &ir::Function) -> ir::Value {
        func.special_param(ArgumentPurpose::VMContext).expect("every wasm function signature has a vmctx parameter")
    }

    /// Calls runtime builtin `b` with `(vmctx, args...)`.
    fn call_builtin(
        &mut self,
        pos: &mut FuncCursor,
        b: Builtin,
        params: &[ir::Type],
        ret: Option<ir::Type>,
        args: &[ir::Value],
    ) -> Option<ir::Value> {
        debug_assert_eq!(params.len(), args.len());
        let sig = *self.builtin_sigs.entry(b as u32).or_insert_with(|| {
            let mut sig = Signature::new(CallConv::SystemV);
            sig.params.push(AbiParam::new(I64));
            sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
            sig.returns.extend(ret.map(AbiParam::new));
            pos.func.import_signature(sig)
        });
        let vmctx = Self::vmctx_value(pos.func);
        let table = pos.ins().load(I64, readonly(), vmctx, VmctxLayout::BUILTINS);
        let callee = pos.ins().load(I64, readonly(), table, b.table_offset());
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(vmctx);
        all.extend_from_slice(args);
        let call = pos.ins().call_indirect(sig, callee, &all);
        pos.func.dfg.inst_results(call).first().copied()
    }

    /// Calls a builtin that returns a non-zero status when it is out of bounds.
    fn call_checked_builtin(
        &mut self,
        pos: &mut FuncCursor,
        b: Builtin,
        params: &[ir::Type],
        args: &[ir::Value],
        trap: TrapCode,
    ) {
        let status = self.call_builtin(pos, b, params, Some(I32), args).expect("checked builtins return a status");
        pos.ins().trapnz(status, trap);
    }

    /// Loads `(func_ptr, vmctx)` from a `FuncRef` and calls it.
    fn call_funcref(
        &mut self,
        builder: &mut FunctionBuilder,
        sig_ref: ir::SigRef,
        funcref: ir::Value,
        call_args: &[ir::Value],
    ) -> ir::Inst {
        let flags = readonly();
        let func_ptr = builder.ins().load(I64, flags, funcref, VmctxLayout::FUNCREF_FUNC_PTR);
        let callee_vmctx = builder.ins().load(I64, flags, funcref, VmctxLayout::FUNCREF_VMCTX);
        let mut args = Vec::with_capacity(call_args.len() + 1);
        args.push(callee_vmctx);
        args.extend_from_slice(call_args);
        builder.ins().call_indirect(sig_ref, func_ptr, &args)
    }

    /// Bounds-checks, null-checks and signature-checks a `call_indirect` target and
    /// returns the address of its `FuncRef`.
    fn checked_table_funcref(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        sig_index: TypeIndex,
        callee: ir::Value,
    ) -> ir::Value {
        let table = self.table(builder.func, table_index.as_u32());
        let (addr, _) = table.prepare_table_addr(builder, callee, I64, false);
        let funcref = builder.ins().load(I64, MemFlags::trusted(), addr, 0);
        builder.ins().trapz(funcref, TrapCode::IndirectCallToNull);
        let vmctx = Self::vmctx_value(builder.func);
        let type_ids = builder.ins().load(I64, readonly(), vmctx, VmctxLayout::TYPE_IDS);
        let expected = builder.ins().load(I32, readonly(), type_ids, (sig_index.as_u32() * 4) as i32);
        let actual = builder.ins().load(I32, readonly(), funcref, VmctxLayout::FUNCREF_TYPE_ID);
        let mismatch = builder.ins().icmp(IntCC::NotEqual, expected, actual);
        builder.ins().trapnz(mismatch, TrapCode::BadSignature);
        funcref
    }

    fn to_i64(pos: &mut FuncCursor, v: ir::Value) -> ir::Value {
        if pos.func.dfg.value_type(v) == I64 {
            v
        } else {
            pos.ins().uextend(I64, v)
        }
    }

    fn return_results(builder: &mut FunctionBuilder, call: ir::Inst) {
        let results = builder.inst_results(call).to_vec();
        builder.ins().return_(&results);
    }
}

impl TypeConvert for FuncEnv<'_> {
    fn lookup_heap_type(&self, _index: wasmparser::UnpackedIndex) -> WasmHeapType {
        // Concrete heap types only exist with typed function references, which the
        // validator rejects before translation starts.
        WasmHeapType::Func
    }

    fn lookup_type_index(&self, index: wasmparser::UnpackedIndex) -> EngineOrModuleTypeIndex {
        EngineOrModuleTypeIndex::Module(ModuleInternedTypeIndex::from_u32(index.as_module_index().unwrap_or(0)))
    }
}

impl TargetEnvironment for FuncEnv<'_> {
    fn target_config(&self) -> TargetFrontendConfig {
        self.isa.frontend_config()
    }

    fn heap_access_spectre_mitigation(&self) -> bool {
        false
    }

    fn proof_carrying_code(&self) -> bool {
        false
    }

    fn reference_type(&self, _ty: WasmHeapType) -> (ir::Type, bool) {
        (I64, false)
    }
}

impl cranelift_wasm::FuncEnvironment for FuncEnv<'_> {
    fn param_needs_stack_map(&self, _signature: &ir::Signature, _index: usize) -> bool {
        false
    }

    fn sig_ref_result_needs_stack_map(&self, _sig_ref: ir::SigRef, _index: usize) -> bool {
        false
    }

    fn func_ref_result_needs_stack_map(&self, _func: &ir::Function, _func_ref: ir::FuncRef, _index: usize) -> bool {
        false
    }

    fn before_translate_function(
        &mut self,
        builder: &mut FunctionBuilder,
        _state: &FuncTranslationState,
    ) -> WasmResult<()> {
        // Every prologue compares the stack pointer with the instance's limit, so deep
        // recursion traps with StackOverflow instead of running off the guest stack.
        let limit = self.vmctx_pointer(builder.func, VmctxLayout::STACK_LIMIT as u32);
        builder.func.stack_limit = Some(limit);
        Ok(())
    }

    fn make_global(&mut self, func: &mut ir::Function, index: GlobalIndex) -> WasmResult<GlobalVariable> {
        let i = index.as_u32();
        let ty = clif_type(self.module.globals[i as usize].ty);
        let n_imported = self.module.num_imported_globals;
        let (gv, offset) = if i < n_imported {
            (self.vmctx_pointer(func, self.layout().imported_global(i)), 0)
        } else {
            (self.vmctx_gv(func), self.layout().defined_global(i - n_imported) as i32)
        };
        Ok(GlobalVariable::Memory { gv, offset: offset.into(), ty })
    }

    fn heaps(&self) -> &PrimaryMap<Heap, HeapData> {
        &self.heaps
    }

    fn make_heap(&mut self, func: &mut ir::Function, index: MemoryIndex) -> WasmResult<Heap> {
        Ok(self.memory_access(func, index.as_u32()).heap)
    }

    fn make_indirect_sig(&mut self, func: &mut ir::Function, index: TypeIndex) -> WasmResult<ir::SigRef> {
        let ty = &self.module.data.types[index.as_u32() as usize];
        Ok(func.import_signature(wasm_signature(ty)))
    }

    fn make_direct_func(&mut self, func: &mut ir::Function, index: FuncIndex) -> WasmResult<ir::FuncRef> {
        let i = index.as_u32();
        let (name, colocated, sig) = if i < self.module.num_imported_funcs {
            let sig = wasm_signature(self.module.func_type(i));
            (UserExternalName { namespace: IMPORT_NAMESPACE, index: i }, false, sig)
        } else {
            // Direct calls go straight to the body, skipping any entry wrapper.
            let id = self.module.body_ids[(i - self.module.num_imported_funcs) as usize];
            (UserExternalName { namespace: FUNC_NAMESPACE, index: id }, true, self.module.body_signature(i))
        };
        let signature = func.import_signature(sig);
        let name = ExternalName::user(func.declare_imported_user_function(name));
        Ok(func.import_function(ExtFuncData { name, signature, colocated }))
    }

    fn translate_call(
        &mut self,
        builder: &mut FunctionBuilder,
        callee_index: FuncIndex,
        callee: ir::FuncRef,
        call_args: &[ir::Value],
    ) -> WasmResult<ir::Inst> {
        let i = callee_index.as_u32();
        if i < self.module.num_imported_funcs {
            // Imports are bound per instance: call through the FuncRef in our vmctx.
            let vmctx = Self::vmctx_value(builder.func);
            let funcref = builder.ins().iadd_imm(vmctx, self.layout().funcref(i) as i64);
            let sig_ref = builder.func.dfg.ext_funcs[callee].signature;
            return Ok(self.call_funcref(builder, sig_ref, funcref, call_args));
        }
        let vmctx = Self::vmctx_value(builder.func);
        let mut args = Vec::with_capacity(call_args.len() + 1);
        args.push(vmctx);
        args.extend_from_slice(call_args);
        Ok(builder.ins().call(callee, &args))
    }

    fn translate_call_indirect(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        sig_index: TypeIndex,
        sig_ref: ir::SigRef,
        callee: ir::Value,
        call_args: &[ir::Value],
    ) -> WasmResult<Option<ir::Inst>> {
        let funcref = self.checked_table_funcref(builder, table_index, sig_index, callee);
        Ok(Some(self.call_funcref(builder, sig_ref, funcref, call_args)))
    }

    // Only bodies in the `tail` convention can tail-call each other. Everything else
    // (imports, `call_indirect` targets) is `SystemV`, which has no tail calls, so those
    // become an ordinary call followed by a return: the same results, but the stack
    // grows with the call depth.
    fn translate_return_call(
        &mut self,
        builder: &mut FunctionBuilder,
        callee_index: FuncIndex,
        callee: ir::FuncRef,
        call_args: &[ir::Value],
    ) -> WasmResult<()> {
        // A function that makes direct tail calls has a `tail` body, and so do its targets.
        if self.module.is_tail(callee_index.as_u32()) {
            let vmctx = Self::vmctx_value(builder.func);
            let mut args = Vec::with_capacity(call_args.len() + 1);
            args.push(vmctx);
            args.extend_from_slice(call_args);
            builder.ins().return_call(callee, &args);
            return Ok(());
        }
        let call = self.translate_call(builder, callee_index, callee, call_args)?;
        Self::return_results(builder, call);
        Ok(())
    }

    fn translate_return_call_indirect(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        sig_index: TypeIndex,
        sig_ref: ir::SigRef,
        callee: ir::Value,
        call_args: &[ir::Value],
    ) -> WasmResult<()> {
        let funcref = self.checked_table_funcref(builder, table_index, sig_index, callee);
        let call = self.call_funcref(builder, sig_ref, funcref, call_args);
        Self::return_results(builder, call);
        Ok(())
    }

    fn translate_return_call_ref(
        &mut self,
        _builder: &mut FunctionBuilder,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<()> {
        unsupported("typed function references (return_call_ref)")
    }

    fn translate_call_ref(
        &mut self,
        _builder: &mut FunctionBuilder,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<ir::Inst> {
        unsupported("typed function references (call_ref)")
    }

    fn translate_memory_grow(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
        val: ir::Value,
    ) -> WasmResult<ir::Value> {
        let memory64 = self.memory_access(pos.func, index.as_u32()).memory64;
        let mem = pos.ins().iconst(I32, index.as_u32() as i64);
        let delta = Self::to_i64(&mut pos, val);
        let old = self.call_builtin(&mut pos, Builtin::MemoryGrow, &[I32, I64], Some(I64), &[mem, delta]).unwrap();
        Ok(if memory64 { old } else { pos.ins().ireduce(I32, old) })
    }

    fn translate_memory_size(&mut self, mut pos: FuncCursor, index: MemoryIndex, _heap: Heap) -> WasmResult<ir::Value> {
        let m = self.memory_access(pos.func, index.as_u32());
        let def = pos.ins().global_value(I64, m.def_ptr);
        let len = pos.ins().load(I64, MemFlags::trusted(), def, m.def_offset + VmctxLayout::MEMORY_LENGTH);
        let pages = pos.ins().ushr_imm(len, WASM_PAGE_SHIFT);
        Ok(if m.memory64 { pages } else { pos.ins().ireduce(I32, pages) })
    }

    fn translate_memory_copy(
        &mut self,
        mut pos: FuncCursor,
        src_index: MemoryIndex,
        _src_heap: Heap,
        dst_index: MemoryIndex,
        _dst_heap: Heap,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let dst_mem = pos.ins().iconst(I32, dst_index.as_u32() as i64);
        let src_mem = pos.ins().iconst(I32, src_index.as_u32() as i64);
        let dst = Self::to_i64(&mut pos, dst);
        let src = Self::to_i64(&mut pos, src);
        let len = Self::to_i64(&mut pos, len);
        self.call_checked_builtin(
            &mut pos,
            Builtin::MemoryCopy,
            &[I32, I64, I32, I64, I64],
            &[dst_mem, dst, src_mem, src, len],
            TrapCode::HeapOutOfBounds,
        );
        Ok(())
    }

    fn translate_memory_fill(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
        dst: ir::Value,
        val: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let mem = pos.ins().iconst(I32, index.as_u32() as i64);
        let dst = Self::to_i64(&mut pos, dst);
        let len = Self::to_i64(&mut pos, len);
        self.call_checked_builtin(
            &mut pos,
            Builtin::MemoryFill,
            &[I32, I64, I32, I64],
            &[mem, dst, val, len],
            TrapCode::HeapOutOfBounds,
        );
        Ok(())
    }

    fn translate_memory_init(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
        seg_index: u32,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let mem = pos.ins().iconst(I32, index.as_u32() as i64);
        let seg = pos.ins().iconst(I32, seg_index as i64);
        let dst = Self::to_i64(&mut pos, dst);
        self.call_checked_builtin(
            &mut pos,
            Builtin::MemoryInit,
            &[I32, I32, I64, I32, I32],
            &[mem, seg, dst, src, len],
            TrapCode::HeapOutOfBounds,
        );
        Ok(())
    }

    fn translate_data_drop(&mut self, mut pos: FuncCursor, seg_index: u32) -> WasmResult<()> {
        let seg = pos.ins().iconst(I32, seg_index as i64);
        self.call_builtin(&mut pos, Builtin::DataDrop, &[I32], None, &[seg]);
        Ok(())
    }

    fn translate_table_size(&mut self, pos: FuncCursor, index: TableIndex) -> WasmResult<ir::Value> {
        let table = self.table(pos.func, index.as_u32());
        Ok(table.bound.bound(pos, I32))
    }

    fn translate_table_grow(
        &mut self,
        mut pos: FuncCursor,
        table_index: TableIndex,
        delta: ir::Value,
        init_value: ir::Value,
    ) -> WasmResult<ir::Value> {
        let table = pos.ins().iconst(I32, table_index.as_u32() as i64);
        Ok(self
            .call_builtin(&mut pos, Builtin::TableGrow, &[I32, I32, I64], Some(I32), &[table, delta, init_value])
            .unwrap())
    }

    fn translate_table_get(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        index: ir::Value,
    ) -> WasmResult<ir::Value> {
        let table = self.table(builder.func, table_index.as_u32());
        let (addr, _) = table.prepare_table_addr(builder, index, I64, false);
        Ok(builder.ins().load(I64, MemFlags::trusted(), addr, 0))
    }

    fn translate_table_set(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        value: ir::Value,
        index: ir::Value,
    ) -> WasmResult<()> {
        let table = self.table(builder.func, table_index.as_u32());
        let (addr, _) = table.prepare_table_addr(builder, index, I64, false);
        builder.ins().store(MemFlags::trusted(), value, addr, 0);
        Ok(())
    }

    fn translate_table_copy(
        &mut self,
        mut pos: FuncCursor,
        dst_table_index: TableIndex,
        src_table_index: TableIndex,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let dst_table = pos.ins().iconst(I32, dst_table_index.as_u32() as i64);
        let src_table = pos.ins().iconst(I32, src_table_index.as_u32() as i64);
        self.call_checked_builtin(
            &mut pos,
            Builtin::TableCopy,
            &[I32, I32, I32, I32, I32],
            &[dst_table, src_table, dst, src, len],
            TrapCode::TableOutOfBounds,
        );
        Ok(())
    }

    fn translate_table_fill(
        &mut self,
        mut pos: FuncCursor,
        table_index: TableIndex,
        dst: ir::Value,
        val: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let table = pos.ins().iconst(I32, table_index.as_u32() as i64);
        self.call_checked_builtin(
            &mut pos,
            Builtin::TableFill,
            &[I32, I32, I64, I32],
            &[table, dst, val, len],
            TrapCode::TableOutOfBounds,
        );
        Ok(())
    }

    fn translate_table_init(
        &mut self,
        mut pos: FuncCursor,
        seg_index: u32,
        table_index: TableIndex,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let table = pos.ins().iconst(I32, table_index.as_u32() as i64);
        let seg = pos.ins().iconst(I32, seg_index as i64);
        self.call_checked_builtin(
            &mut pos,
            Builtin::TableInit,
            &[I32, I32, I32, I32, I32],
            &[table, seg, dst, src, len],
            TrapCode::TableOutOfBounds,
        );
        Ok(())
    }

    fn translate_elem_drop(&mut self, mut pos: FuncCursor, seg_index: u32) -> WasmResult<()> {
        let seg = pos.ins().iconst(I32, seg_index as i64);
        self.call_builtin(&mut pos, Builtin::ElemDrop, &[I32], None, &[seg]);
        Ok(())
    }

    fn translate_ref_null(&mut self, mut pos: FuncCursor, _ty: WasmHeapType) -> WasmResult<ir::Value> {
        Ok(pos.ins().iconst(I64, 0))
    }

    fn translate_ref_is_null(&mut self, mut pos: FuncCursor, value: ir::Value) -> WasmResult<ir::Value> {
        let is_null = pos.ins().icmp_imm(IntCC::Equal, value, 0);
        Ok(pos.ins().uextend(I32, is_null))
    }

    fn translate_ref_func(&mut self, mut pos: FuncCursor, func_index: FuncIndex) -> WasmResult<ir::Value> {
        let vmctx = Self::vmctx_value(pos.func);
        Ok(pos.ins().iadd_imm(vmctx, self.layout().funcref(func_index.as_u32()) as i64))
    }

    fn translate_custom_global_get(
        &mut self,
        _builder: &mut FunctionBuilder,
        _global_index: GlobalIndex,
    ) -> WasmResult<ir::Value> {
        unsupported("custom globals")
    }

    fn translate_custom_global_set(
        &mut self,
        _builder: &mut FunctionBuilder,
        _global_index: GlobalIndex,
        _val: ir::Value,
    ) -> WasmResult<()> {
        unsupported("custom globals")
    }

    fn translate_atomic_wait(
        &mut self,
        _pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        _addr: ir::Value,
        _expected: ir::Value,
        _timeout: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("threads (memory.atomic.wait)")
    }

    fn translate_atomic_notify(
        &mut self,
        _pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        _addr: ir::Value,
        _count: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("threads (memory.atomic.notify)")
    }

    fn translate_ref_i31(&mut self, _pos: FuncCursor, _val: ir::Value) -> WasmResult<ir::Value> {
        unsupported("garbage collection (ref.i31)")
    }

    fn translate_i31_get_s(&mut self, _pos: FuncCursor, _i31ref: ir::Value) -> WasmResult<ir::Value> {
        unsupported("garbage collection (i31.get_s)")
    }

    fn translate_i31_get_u(&mut self, _pos: FuncCursor, _i31ref: ir::Value) -> WasmResult<ir::Value> {
        unsupported("garbage collection (i31.get_u)")
    }

    fn is_x86(&self) -> bool {
        true
    }

    fn has_native_fma(&self) -> bool {
        self.isa.isa_flags().iter().any(|f| f.name == "has_fma" && f.as_bool() == Some(true))
    }
}
