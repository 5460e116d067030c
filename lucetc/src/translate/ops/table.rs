//! Tables and references.
//!
//! A `funcref` is the address of a `FuncRef` (in the vmctx of the instance that defines
//! the function), an `externref` an opaque host word; null is 0 for both. Table
//! elements are the same words.
//!
//! A 64-bit table takes `i64` indices and lengths. No table can hold 2^32 elements
//! (the runtime caps them far lower), so each such operand is clamped to `u32::MAX`,
//! which is out of bounds exactly when the original was, and the 32-bit code path and
//! builtins do the rest.

use crate::error::Error;
use crate::translate::func::Translator;
use crate::translate::traps;
use cranelift_codegen::ir::{condcodes::IntCC, types::*, InstBuilder, MemFlagsData, Value};
use lucet_module::{Builtin, FuncIndex, TableIndex};
use wasmparser::Operator;

/// An index or length operand as the `i32` the bounds checks and builtins take
/// (see the module docs for why clamping is exact).
pub fn narrow(t: &mut Translator, v: Value) -> Value {
    if t.b.func.dfg.value_type(v) != I64 {
        return v;
    }
    let max = t.b.ins().iconst(I64, i64::from(u32::MAX));
    let clamped = t.b.ins().umin(v, max);
    t.b.ins().ireduce(I32, clamped)
}

/// A table size (or `table.grow`'s result, -1 on failure) as the table's index type.
fn widen(t: &mut Translator, table: TableIndex, v: Value) -> Value {
    if t.env.module.table(table).table64 {
        t.b.ins().sextend(I64, v)
    } else {
        v
    }
}

pub fn translate(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    use Operator as O;
    match op {
        O::RefNull { hty } => {
            // The validator accepts GC's heap types (see `module::validation_features`).
            let nullable = wasmparser::RefType::new(true, *hty).expect("a valid heap type");
            crate::translate::module::ref_type(nullable, t.offset)?;
            let v = t.b.ins().iconst(I64, 0);
            t.push(v);
        }
        O::RefIsNull => {
            let r = t.pop();
            let c = t.b.ins().icmp_imm_s(IntCC::Equal, r, 0);
            let v = t.b.ins().uextend(I32, c);
            t.push(v);
        }
        O::RefFunc { function_index } => {
            let vmctx = t.env.vmctx();
            let offset = t.env.layout().funcref(FuncIndex::from_u32(*function_index).as_u32());
            let v = t.b.ins().iadd_imm_s(vmctx, i64::from(offset));
            t.push(v);
        }
        O::RefAsNonNull => {
            let r = *t.stack.last().expect("the validator checked the operand stack");
            t.b.ins().trapz(r, traps::NULL_REFERENCE);
        }
        O::TableGet { table } => {
            let elem = t.pop();
            let elem = narrow(t, elem);
            let addr = t.env.table_entry_addr(&mut t.b, TableIndex::from_u32(*table), elem);
            let v = t.b.ins().load(I64, MemFlagsData::trusted(), addr, 0);
            t.push(v);
        }
        O::TableSet { table } => {
            let (elem, value) = t.pop2();
            let elem = narrow(t, elem);
            let addr = t.env.table_entry_addr(&mut t.b, TableIndex::from_u32(*table), elem);
            t.b.ins().store(MemFlagsData::trusted(), value, addr, 0);
        }
        O::TableSize { table } => {
            let table = TableIndex::from_u32(*table);
            let v = t.env.table_size(&mut t.b, table);
            // Sizes stay far below 2^31, so sign- and zero-extension agree.
            let v = widen(t, table, v);
            t.push(v);
        }
        O::TableGrow { table } => {
            let (init, delta) = t.pop2();
            let delta = narrow(t, delta);
            let index = t.b.ins().iconst(I32, i64::from(*table));
            let v = t
                .env
                .call_builtin(&mut t.b, Builtin::TableGrow, &[I32, I32, I64], Some(I32), &[index, delta, init])
                .expect("table.grow returns the old size");
            let v = widen(t, TableIndex::from_u32(*table), v);
            t.push(v);
        }
        O::TableFill { table } => {
            let (dst, value, len) = t.pop3();
            let (dst, len) = (narrow(t, dst), narrow(t, len));
            let index = t.b.ins().iconst(I32, i64::from(*table));
            t.env.call_checked_builtin(
                &mut t.b,
                Builtin::TableFill,
                &[I32, I32, I64, I32],
                &[index, dst, value, len],
                traps::TABLE_OUT_OF_BOUNDS,
            );
        }
        O::TableCopy { dst_table, src_table } => {
            let (dst, src, len) = t.pop3();
            let (dst, src, len) = (narrow(t, dst), narrow(t, src), narrow(t, len));
            let dst_index = t.b.ins().iconst(I32, i64::from(*dst_table));
            let src_index = t.b.ins().iconst(I32, i64::from(*src_table));
            t.env.call_checked_builtin(
                &mut t.b,
                Builtin::TableCopy,
                &[I32, I32, I32, I32, I32],
                &[dst_index, src_index, dst, src, len],
                traps::TABLE_OUT_OF_BOUNDS,
            );
        }
        O::TableInit { elem_index, table } => {
            let (dst, src, len) = t.pop3();
            let dst = narrow(t, dst);
            let index = t.b.ins().iconst(I32, i64::from(*table));
            let seg = t.b.ins().iconst(I32, i64::from(*elem_index));
            t.env.call_checked_builtin(
                &mut t.b,
                Builtin::TableInit,
                &[I32, I32, I32, I32, I32],
                &[index, seg, dst, src, len],
                traps::TABLE_OUT_OF_BOUNDS,
            );
        }
        O::ElemDrop { elem_index } => {
            let seg = t.b.ins().iconst(I32, i64::from(*elem_index));
            t.env.call_builtin(&mut t.b, Builtin::ElemDrop, &[I32], None, &[seg]);
        }
        _ => return Ok(false),
    }
    Ok(true)
}
