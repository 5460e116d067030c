//! Locals and globals.

use crate::error::Error;
use crate::translate::func::Translator;
use crate::translate::info::clif_type;
use crate::translate::vmctx::readonly;
use cranelift_codegen::ir::{self, AliasRegionData, InstBuilder, MemFlagsData};
use lucet_module::{GlobalIndex, Origin};
use std::borrow::Cow;
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
            let flags = global_flags(t, index);
            let v = t.b.ins().load(ty, flags, addr, offset);
            t.push(v);
        }
        Operator::GlobalSet { global_index } => {
            let index = GlobalIndex::from_u32(*global_index);
            let v = t.pop();
            let (addr, offset) = global_addr(t, index);
            let flags = global_flags(t, index);
            t.b.ins().store(flags, v, addr, offset);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The flags of `global.get` and `global.set` of global `index`.
///
/// A defined global lives at its own offset in the vmctx, and compiled code reaches it
/// only through these two operators, so each one is an alias region of its own: a
/// store to guest memory or to another global does not make Cranelift load it again.
/// Imported globals stay in the default region, because two imports may name the same
/// storage.
fn global_flags(t: &mut Translator, index: GlobalIndex) -> MemFlagsData {
    let flags = MemFlagsData::trusted();
    match t.env.module.imports.global(index) {
        Origin::Imported(_) => flags,
        Origin::Defined(d) => {
            let region = t.b.func.dfg.alias_regions.insert(AliasRegionData {
                user_id: d.as_u32(),
                description: Cow::Borrowed("defined global"),
            });
            flags.with_alias_region(Some(region))
        }
    }
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
