//! Locals and globals.

use crate::error::Error;
use crate::translate::func::Translator;
use crate::translate::info::clif_type;
use crate::translate::vmctx::readonly;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData};
use lucet_module::{GlobalIndex, Origin};
use wasmparser::Operator;

pub fn translate(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    match op {
        Operator::LocalGet { local_index } => {
            let v = t.b.use_var(t.locals[*local_index as usize]);
            t.push(v);
        }
        Operator::LocalSet { local_index } => {
            let v = t.pop();
            let v = t.canonical(v);
            t.b.def_var(t.locals[*local_index as usize], v);
        }
        Operator::LocalTee { local_index } => {
            let v = *t.stack.last().expect("the validator checked the operand stack");
            let v = t.canonical(v);
            t.b.def_var(t.locals[*local_index as usize], v);
        }
        Operator::GlobalGet { global_index } => {
            let index = GlobalIndex::from_u32(*global_index);
            let ty = clif_type(t.env.module.global(index).ty);
            let (addr, offset) = global_addr(t, index);
            let v = t.b.ins().load(ty, MemFlagsData::trusted(), addr, offset);
            t.push(v);
        }
        Operator::GlobalSet { global_index } => {
            let index = GlobalIndex::from_u32(*global_index);
            let v = t.pop();
            let (addr, offset) = global_addr(t, index);
            t.b.ins().store(MemFlagsData::trusted(), v, addr, offset);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Where a global's value is stored: in this vmctx, or behind a pointer to the
/// exporter's storage.
pub fn global_addr(t: &mut Translator, index: GlobalIndex) -> (ir::Value, i32) {
    let vmctx = t.env.vmctx();
    match t.env.module.imports.global(index) {
        Origin::Imported(i) => {
            let ptr = t.b.ins().load(ir::types::I64, readonly(), vmctx, t.env.layout().imported_global(i) as i32);
            (ptr, 0)
        }
        Origin::Defined(d) => (vmctx, t.env.layout().defined_global(d.as_u32()) as i32),
    }
}
