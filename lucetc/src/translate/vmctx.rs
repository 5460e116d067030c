//! How compiled code reaches what its instance owns.
//!
//! Everything goes through the `vmctx` argument every function receives, at the offsets
//! `lucet_module::VmctxLayout` computes: memories, tables, globals, function references,
//! the stack limit and the runtime's builtin functions. This is the one file that knows
//! those offsets and how a memory's or table's bounds are checked.

use super::info::ModuleInfo;
use super::traps;
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types::*, AbiParam, AliasRegionData, Endianness, GlobalValueData, InstBuilder,
    MemFlagsData, Signature, TrapCode, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use lucet_module::{Builtin, FuncIndex, MemoryIndex, Origin, TableIndex, TypeIndex, VmctxLayout};
use std::borrow::Cow;
use std::collections::HashMap;

pub const WASM_PAGE_SHIFT: i64 = 16;

/// Whether bounds checks also keep a mispredicted branch from reading memory the
/// guest must not see (Spectre variant 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spectre {
    /// The checks of memories, tables and `call_indirect` replace an out-of-bounds
    /// address by 0 with a conditional move, which the CPU does not predict, so even a
    /// speculated access reads only address 0. 32-bit memories whose every access is
    /// covered by guard pages have no check and need none.
    #[default]
    Guarded,
    /// Plain compare-and-trap checks: for measuring what the guard costs, not for
    /// running untrusted code next to secrets.
    Off,
}

/// Loads of vmctx fields that never change while the instance lives.
pub fn readonly() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly().with_can_move()
}

/// The alias region of every access to guest memory, of all memories together (the
/// regions of defined globals count up from 0, see `ops::locals`). Builtins that touch
/// memory are calls, which Cranelift treats as touching every region.
const HEAP_REGION: u32 = u32::MAX;

/// Accesses to guest memory: little-endian, and a fault there is a wasm trap.
///
/// They are in an alias region of their own, so Cranelift knows a store to guest
/// memory leaves the vmctx's globals as they were (a store with no region is a fence
/// to its alias analysis). Every guest-memory access must use these flags: one in the
/// default region would not see stores in this one.
pub fn heap_flags(func: &mut ir::Function) -> MemFlagsData {
    let region = func
        .dfg
        .alias_regions
        .insert(AliasRegionData { user_id: HEAP_REGION, description: Cow::Borrowed("guest memory") });
    MemFlagsData::new()
        .with_endianness(Endianness::Little)
        .with_trap_code(Some(TrapCode::HEAP_OUT_OF_BOUNDS))
        .with_alias_region(Some(region))
}

/// Where a memory's `MemoryDef` (or a table's `TableDef`) is: in this vmctx, or behind a
/// pointer to the exporter's.
#[derive(Clone, Copy)]
enum DefPlace {
    Vmctx { offset: i32 },
    Pointer { vmctx_offset: i32 },
}

/// How the bounds of one memory are known.
#[derive(Clone, Copy)]
enum Bound {
    /// The reservation is so large that no 32-bit index can leave it.
    Static { reserved: u64 },
    /// Compared with the current length.
    Dynamic,
}

#[derive(Clone, Copy)]
pub struct MemoryInfo {
    def: DefPlace,
    /// `Some(k)` when the memory's base is `vmctx + k` (the first defined memory, see
    /// `VmctxLayout::heap_offset`); otherwise the base is loaded from the `MemoryDef`.
    vmctx_offset: Option<u32>,
    bound: Bound,
    pub memory64: bool,
    guard: u64,
}

/// What a function's translation knows about reaching the vmctx.
pub struct VmctxAccess<'m> {
    pub module: &'m ModuleInfo,
    pub spectre: Spectre,
    memories: HashMap<MemoryIndex, MemoryInfo>,
    builtin_sigs: HashMap<u32, ir::SigRef>,
    indirect_sigs: HashMap<TypeIndex, ir::SigRef>,
    /// The function's vmctx parameter.
    vmctx: Value,
    /// Functions this one calls directly, as imported into its IR.
    pub direct_callees: HashMap<FuncIndex, ir::FuncRef>,
}

impl<'m> VmctxAccess<'m> {
    pub fn new(module: &'m ModuleInfo, spectre: Spectre, vmctx: Value) -> VmctxAccess<'m> {
        VmctxAccess {
            vmctx,
            module,
            spectre,
            memories: HashMap::new(),
            builtin_sigs: HashMap::new(),
            indirect_sigs: HashMap::new(),
            direct_callees: HashMap::new(),
        }
    }

    pub fn layout(&self) -> &VmctxLayout {
        &self.module.layout
    }

    /// The vmctx argument of the function being built.
    pub fn vmctx(&self) -> Value {
        self.vmctx
    }

    /// Makes every prologue compare the stack pointer with the instance's limit, so deep
    /// recursion traps with StackOverflow instead of running off the guest stack.
    pub fn set_stack_limit(b: &mut FunctionBuilder) {
        let vmctx = b.create_global_value(GlobalValueData::VMContext);
        let flags = b.func.dfg.mem_flags.insert_unchecked(MemFlagsData::trusted().with_readonly());
        let limit = b.create_global_value(GlobalValueData::Load {
            base: vmctx,
            offset: VmctxLayout::STACK_LIMIT.into(),
            global_type: I64,
            flags,
        });
        b.func.stack_limit = Some(limit);
    }

    fn memory(&mut self, index: MemoryIndex) -> MemoryInfo {
        if let Some(m) = self.memories.get(&index) {
            return *m;
        }
        let (def, vmctx_offset) = match self.module.imports.memory(index) {
            Origin::Imported(i) => (DefPlace::Pointer { vmctx_offset: self.layout().imported_memory(i) as i32 }, None),
            Origin::Defined(d) => (
                DefPlace::Vmctx { offset: self.layout().defined_memory(d.as_u32()) as i32 },
                // Only the first defined memory lives in the instance's slot.
                if d.as_u32() == 0 { self.layout().heap_offset() } else { None },
            ),
        };
        let plan = self.module.memory_plan(index);
        let memory64 = plan.memory.memory64;
        let bound = if plan.static_bounds() {
            Bound::Static { reserved: plan.reserved_size }
        } else {
            Bound::Dynamic
        };
        let m = MemoryInfo { def, vmctx_offset, bound, memory64, guard: plan.guard_size };
        self.memories.insert(index, m);
        m
    }

    pub fn memory64(&mut self, index: MemoryIndex) -> bool {
        self.memory(index).memory64
    }

    /// The address of a `MemoryDef`/`TableDef` and the offset of the struct from it.
    fn def_addr(&self, b: &mut FunctionBuilder, def: DefPlace) -> (Value, i32) {
        let vmctx = self.vmctx;
        match def {
            DefPlace::Vmctx { offset } => (vmctx, offset),
            DefPlace::Pointer { vmctx_offset } => (b.ins().load(I64, readonly(), vmctx, vmctx_offset), 0),
        }
    }

    /// The current length in bytes of a memory.
    pub fn memory_length(&mut self, b: &mut FunctionBuilder, index: MemoryIndex) -> Value {
        let m = self.memory(index);
        let (def, offset) = self.def_addr(b, m.def);
        // Not read-only: `memory.grow` changes it.
        b.ins().load(I64, MemFlagsData::trusted(), def, offset + VmctxLayout::MEMORY_LENGTH)
    }

    /// The address of `size` bytes at `index + offset` in memory `mem`, with whatever
    /// bounds check the memory's plan needs; accesses through it use [`heap_flags`].
    /// Returns the address and the constant offset still to add (folded into the access).
    pub fn heap_addr(
        &mut self,
        b: &mut FunctionBuilder,
        mem: MemoryIndex,
        index: Value,
        offset: u64,
        size: u32,
    ) -> (Value, i32) {
        let m = self.memory(mem);
        let (def, def_offset) = self.def_addr(b, m.def);
        let base = match m.vmctx_offset {
            // Folded into each access's address mode: `k + offset(vmctx, index)`.
            Some(k) => b.ins().iadd_imm_s(self.vmctx, i64::from(k)),
            // The base never moves: memories grow in place.
            None => b.ins().load(I64, readonly(), def, def_offset + VmctxLayout::MEMORY_BASE),
        };
        let index = if m.memory64 { index } else { b.ins().uextend(I64, index) };
        let end = offset.saturating_add(u64::from(size));
        let oob = match m.bound {
            Bound::Static { reserved } => {
                // Every address below the reservation plus the guard faults if it is
                // out of bounds, so the hardware does the check.
                if (u64::from(u32::MAX)).saturating_add(end) <= reserved.saturating_add(m.guard) {
                    let addr = b.ins().iadd(base, index);
                    return fold_offset(b, addr, offset);
                }
                if end > reserved {
                    Some(b.ins().iconst(I8, 1))
                } else {
                    Some(b.ins().icmp_imm_s(IntCC::UnsignedGreaterThan, index, (reserved - end) as i64))
                }
            }
            Bound::Dynamic => {
                let length = b.ins().load(I64, MemFlagsData::trusted(), def, def_offset + VmctxLayout::MEMORY_LENGTH);
                if end <= m.guard {
                    // Everything from the length to the end of the reservation is
                    // inaccessible, and the guard follows: an index at most the
                    // length can only reach a faulting page.
                    Some(b.ins().icmp(IntCC::UnsignedGreaterThan, index, length))
                } else if m.memory64 {
                    let end = b.ins().iconst(I64, end as i64);
                    let last = b.ins().uadd_overflow_trap(index, end, TrapCode::HEAP_OUT_OF_BOUNDS);
                    Some(b.ins().icmp(IntCC::UnsignedGreaterThan, last, length))
                } else {
                    // A 32-bit index plus a 32-bit offset cannot overflow 64 bits.
                    let last = b.ins().iadd_imm_s(index, end as i64);
                    Some(b.ins().icmp(IntCC::UnsignedGreaterThan, last, length))
                }
            }
        };
        let oob = oob.expect("every checked path computes a condition");
        let addr = b.ins().iadd(base, index);
        let addr = if offset == 0 { addr } else { b.ins().iadd_imm_s(addr, offset as i64) };
        match self.spectre {
            Spectre::Guarded => {
                let zero = b.ins().iconst(I64, 0);
                let addr = b.ins().select_spectre_guard(oob, zero, addr);
                (addr, 0)
            }
            Spectre::Off => {
                b.ins().trapnz(oob, TrapCode::HEAP_OUT_OF_BOUNDS);
                (addr, 0)
            }
        }
    }

    /// The `TableDef` of a table: its address and the offset of the struct from it.
    fn table_def(&self, b: &mut FunctionBuilder, index: TableIndex) -> (Value, i32) {
        let place = match self.module.imports.table(index) {
            Origin::Imported(i) => DefPlace::Pointer { vmctx_offset: self.layout().imported_table(i) as i32 },
            Origin::Defined(d) => DefPlace::Vmctx { offset: self.layout().defined_table(d.as_u32()) as i32 },
        };
        self.def_addr(b, place)
    }

    /// The current number of elements of a table, as an `I32`.
    pub fn table_size(&self, b: &mut FunctionBuilder, index: TableIndex) -> Value {
        let (def, offset) = self.table_def(b, index);
        // Neither field is read-only: `table.grow` moves the elements and changes the length.
        b.ins().load(I32, MemFlagsData::trusted(), def, offset + VmctxLayout::TABLE_ELEMENTS)
    }

    /// The address of element `elem` (an `I32`) of a table, trapping with
    /// `TableOutOfBounds` past its end.
    pub fn table_entry_addr(&self, b: &mut FunctionBuilder, index: TableIndex, elem: Value) -> Value {
        let (def, offset) = self.table_def(b, index);
        let len = b.ins().load(I32, MemFlagsData::trusted(), def, offset + VmctxLayout::TABLE_ELEMENTS);
        let elements = b.ins().load(I64, MemFlagsData::trusted(), def, offset + VmctxLayout::TABLE_BASE);
        let oob = b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, elem, len);
        let elem64 = b.ins().uextend(I64, elem);
        let scaled = b.ins().ishl_imm_s(elem64, VmctxLayout::TABLE_ELEMENT_SIZE.trailing_zeros() as i64);
        let addr = b.ins().iadd(elements, scaled);
        b.ins().trapnz(oob, traps::TABLE_OUT_OF_BOUNDS);
        match self.spectre {
            Spectre::Guarded => {
                let zero = b.ins().iconst(I64, 0);
                b.ins().select_spectre_guard(oob, zero, addr)
            }
            Spectre::Off => addr,
        }
    }

    /// Calls runtime builtin `which` with `(vmctx, args...)`.
    pub fn call_builtin(
        &mut self,
        b: &mut FunctionBuilder,
        which: Builtin,
        params: &[ir::Type],
        ret: Option<ir::Type>,
        args: &[Value],
    ) -> Option<Value> {
        debug_assert_eq!(params.len(), args.len());
        let (sig, callee) = self.builtin_callee(b, which, params, ret);
        let vmctx = self.vmctx;
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(vmctx);
        all.extend_from_slice(args);
        let call = b.ins().call_indirect(sig, callee, &all);
        b.inst_results(call).first().copied()
    }

    /// The signature and address of builtin `which`, which takes `(vmctx, params...)`.
    pub fn builtin_callee(
        &mut self,
        b: &mut FunctionBuilder,
        which: Builtin,
        params: &[ir::Type],
        ret: Option<ir::Type>,
    ) -> (ir::SigRef, Value) {
        // The call site spells the signature; lucet-module's builtin list is the contract.
        let ir_of = |v: &lucet_module::ValType| match v {
            lucet_module::ValType::I32 => ir::types::I32,
            _ => ir::types::I64,
        };
        debug_assert!(
            params.len() == which.params().len()
                && params.iter().zip(which.params()).all(|(p, v)| *p == ir_of(v))
                && ret == which.result().as_ref().map(ir_of),
            "builtin {} called with a signature other than lucet-module's",
            which.name()
        );
        let sig = match self.builtin_sigs.get(&(which as u32)) {
            Some(sig) => *sig,
            None => {
                let mut sig = Signature::new(CallConv::SystemV);
                sig.params.push(AbiParam::new(I64));
                sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
                sig.returns.extend(ret.map(AbiParam::new));
                let sig = b.import_signature(sig);
                self.builtin_sigs.insert(which as u32, sig);
                sig
            }
        };
        let table = b.ins().load(I64, readonly(), self.vmctx, VmctxLayout::BUILTINS);
        let callee = b.ins().load(I64, readonly(), table, which.table_offset());
        (sig, callee)
    }

    /// Calls a builtin that returns a non-zero status when it is out of bounds.
    pub fn call_checked_builtin(
        &mut self,
        b: &mut FunctionBuilder,
        which: Builtin,
        params: &[ir::Type],
        args: &[Value],
        trap: TrapCode,
    ) {
        let status = self.call_builtin(b, which, params, Some(I32), args).expect("checked builtins return a status");
        b.ins().trapnz(status, trap);
    }

    /// The signature of a call through a `FuncRef` of type `ty`.
    pub fn indirect_sig(&mut self, b: &mut FunctionBuilder, ty: TypeIndex) -> ir::SigRef {
        if let Some(sig) = self.indirect_sigs.get(&ty) {
            return *sig;
        }
        let sig = b.import_signature(super::info::wasm_signature(self.module.type_of(ty)));
        self.indirect_sigs.insert(ty, sig);
        sig
    }

    /// Checks that `funcref` (a `*const FuncRef`) is not null and has type `ty`.
    pub fn check_funcref_type(&self, b: &mut FunctionBuilder, funcref: Value, ty: TypeIndex) {
        b.ins().trapz(funcref, traps::INDIRECT_CALL_TO_NULL);
        let vmctx = self.vmctx;
        let type_ids = b.ins().load(I64, readonly(), vmctx, VmctxLayout::TYPE_IDS);
        let expected = b.ins().load(I32, readonly(), type_ids, (ty.as_u32() * 4) as i32);
        let actual = b.ins().load(I32, readonly(), funcref, VmctxLayout::FUNCREF_TYPE_ID);
        let mismatch = b.ins().icmp(IntCC::NotEqual, expected, actual);
        b.ins().trapnz(mismatch, traps::BAD_SIGNATURE);
    }

    /// The code pointer and vmctx stored in a `FuncRef`.
    pub fn funcref_parts(b: &mut FunctionBuilder, funcref: Value) -> (Value, Value) {
        let func_ptr = b.ins().load(I64, readonly(), funcref, VmctxLayout::FUNCREF_FUNC_PTR);
        let vmctx = b.ins().load(I64, readonly(), funcref, VmctxLayout::FUNCREF_VMCTX);
        (func_ptr, vmctx)
    }
}

/// `addr + offset` as an address and an immediate offset the access can carry.
fn fold_offset(b: &mut FunctionBuilder, addr: Value, offset: u64) -> (Value, i32) {
    match i32::try_from(offset) {
        Ok(o) => (addr, o),
        Err(_) => (b.ins().iadd_imm_s(addr, offset as i64), 0),
    }
}
