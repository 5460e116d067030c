//! Tables and references.
//!
//! A `funcref` is the address of a `FuncRef` (in the vmctx of the instance that defines
//! the function), an `externref` an opaque host word; null is 0 for both. Table
//! elements are the same words.

use crate::error::Error;
use crate::translate::func::Translator;
use crate::translate::traps;
use cranelift_codegen::ir::{condcodes::IntCC, types::*, InstBuilder, MemFlagsData};
use lucet_module::{Builtin, FuncIndex, TableIndex};
use wasmparser::Operator;

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
            let addr = t.env.table_entry_addr(&mut t.b, TableIndex::from_u32(*table), elem);
            let v = t.b.ins().load(I64, MemFlagsData::trusted(), addr, 0);
            t.push(v);
        }
        O::TableSet { table } => {
            let (elem, value) = t.pop2();
            let addr = t.env.table_entry_addr(&mut t.b, TableIndex::from_u32(*table), elem);
            t.b.ins().store(MemFlagsData::trusted(), value, addr, 0);
        }
        O::TableSize { table } => {
            let v = t.env.table_size(&mut t.b, TableIndex::from_u32(*table));
            t.push(v);
        }
        O::TableGrow { table } => {
            let (init, delta) = t.pop2();
            let index = t.b.ins().iconst(I32, i64::from(*table));
            let v = t
                .env
                .call_builtin(&mut t.b, Builtin::TableGrow, &[I32, I32, I64], Some(I32), &[index, delta, init])
                .expect("table.grow returns the old size");
            t.push(v);
        }
        O::TableFill { table } => {
            let (dst, value, len) = t.pop3();
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
