//! Loads of values that never change (the linear memory's base, a table's base, an
//! imported global's address), loaded once at the top of the function.
//!
//! Every memory access reads its memory's base out of the vmctx; the load is marked
//! `readonly` and `notrap`, so it can be executed anywhere and always yields the same
//! value. Cranelift's mid-end merges these loads and hoists them out of loops. Functions
//! that lucetc compiles without the mid-end (see `compile::LONG_BLOCK`) get this one
//! transformation on its own: each distinct such load, addressed from the vmctx or from
//! another such load, moves to the start of the entry block, and its repeats become
//! aliases of it.

use cranelift_codegen::ir::{self, InstructionData, MemFlags, Opcode, Type, Value};
use std::collections::{HashMap, HashSet};

pub fn hoist(func: &mut ir::Function) {
    let Some(entry) = func.layout.entry_block() else { return };
    let mut available: HashSet<Value> = func.dfg.block_params(entry).iter().copied().collect();
    let mut loaded: HashMap<(Value, i32, Type, MemFlags), Value> = HashMap::new();
    let mut last_hoisted = None;
    let insts: Vec<ir::Inst> = func.layout.blocks().flat_map(|b| func.layout.block_insts(b)).collect();
    for inst in insts {
        let InstructionData::Load { opcode: Opcode::Load, arg, flags, offset } = func.dfg.insts[inst] else {
            continue;
        };
        let data = func.dfg.mem_flags[flags];
        if !(data.readonly() && data.notrap()) {
            continue;
        }
        let base = func.dfg.resolve_aliases(arg);
        if !available.contains(&base) {
            continue;
        }
        let result = func.dfg.first_result(inst);
        let key = (base, i32::from(offset), func.dfg.value_type(result), flags);
        func.layout.remove_inst(inst);
        if let Some(&first) = loaded.get(&key) {
            func.dfg.clear_results(inst);
            func.dfg.change_to_alias(result, first);
            continue;
        }
        let next = match last_hoisted {
            Some(h) => func.layout.next_inst(h),
            None => func.layout.first_inst(entry),
        };
        match next {
            Some(n) => func.layout.insert_inst(inst, n),
            None => func.layout.append_inst(inst, entry),
        }
        last_hoisted = Some(inst);
        loaded.insert(key, result);
        available.insert(result);
    }
    // Lowering expects operands without aliases, as the mid-end leaves them.
    func.dfg.resolve_all_aliases();
}
