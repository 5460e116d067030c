//! Calls: direct, through tables, and tail calls.
//!
//! Defined functions are called directly by their object-file symbol. Imports are
//! bound per instance, so they are called through the `FuncRef` in the caller's vmctx,
//! with the vmctx stored there. `call_indirect` checks its table entry first (bounds,
//! null, signature).
//!
//! Every callee has the `tail` convention (`info::wasm_signature`), so the `return_*`
//! forms are real tail calls in every case: the callee replaces the caller's frame,
//! and a chain of them runs in constant stack.

use crate::error::Error;
use crate::translate::func::Translator;
use crate::translate::ops::exceptions::{self, Callee};
use crate::translate::traps;
use crate::translate::vmctx::VmctxAccess;
use crate::translate::FUNC_NAMESPACE;
use cranelift_codegen::ir::{self, types::*, ExtFuncData, ExternalName, InstBuilder, MemFlagsData, UserExternalName};
use crate::translate::info::wasm_signature;
use lucet_module::{FuncIndex, Origin, TableIndex, TypeIndex};
use wasmparser::Operator;

/// Whether the results of a call are pushed, or returned from the caller.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    Continue,
    Return,
}

pub fn translate(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    match op {
        Operator::Call { function_index } => call(t, FuncIndex::from_u32(*function_index), Then::Continue),
        Operator::ReturnCall { function_index } => call(t, FuncIndex::from_u32(*function_index), Then::Return),
        Operator::CallIndirect { type_index, table_index } => {
            call_indirect(t, TypeIndex::from_u32(*type_index), TableIndex::from_u32(*table_index), Then::Continue)
        }
        Operator::ReturnCallIndirect { type_index, table_index } => {
            call_indirect(t, TypeIndex::from_u32(*type_index), TableIndex::from_u32(*table_index), Then::Return)
        }
        Operator::CallRef { type_index } => call_ref(t, TypeIndex::from_u32(*type_index), Then::Continue),
        Operator::ReturnCallRef { type_index } => call_ref(t, TypeIndex::from_u32(*type_index), Then::Return),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Pops the arguments of a call to a function of type `ty`, made canonical.
fn pop_args(t: &mut Translator, ty: TypeIndex) -> Vec<ir::Value> {
    let n = t.env.module.type_of(ty).params.len();
    let args = t.popn(n);
    t.canonical_all(&args)
}

/// Pushes a call's results.
fn finish(t: &mut Translator, results: Vec<ir::Value>) {
    t.stack.extend_from_slice(&results);
}

/// The `FuncRef` through which this function calls defined function `index` directly.
fn direct_callee(t: &mut Translator, index: FuncIndex) -> ir::FuncRef {
    if let Some(f) = t.env.direct_callees.get(&index) {
        return *f;
    }
    let module = t.env.module;
    let defined = module.imports.defined_func(index).expect("only defined functions are called directly");
    let name = UserExternalName { namespace: FUNC_NAMESPACE, index: module.func_id(defined) };
    let signature = t.b.import_signature(wasm_signature(module.func_type(index)));
    let name = ExternalName::user(t.b.func.declare_imported_user_function(name));
    let f = t.b.import_function(ExtFuncData { name, signature, colocated: true, patchable: false });
    t.env.direct_callees.insert(index, f);
    f
}

fn call(t: &mut Translator, index: FuncIndex, then: Then) {
    let module = t.env.module;
    let ty = module.func_type_index(index);
    let args = pop_args(t, ty);
    let vmctx = t.env.vmctx();
    match module.imports.func(index) {
        Origin::Imported(i) => {
            // Imports are bound per instance: call through the FuncRef in our vmctx.
            let funcref = t.b.ins().iadd_imm_s(vmctx, i64::from(t.env.layout().funcref(i)));
            let sig = t.env.indirect_sig(&mut t.b, ty);
            call_funcref(t, sig, funcref, &args, then);
        }
        Origin::Defined(_) => {
            let callee = direct_callee(t, index);
            let mut all = Vec::with_capacity(args.len() + 1);
            all.push(vmctx);
            all.extend_from_slice(&args);
            match then {
                Then::Continue => {
                    // Inside a `try_table` this is a `try_call`. A tail call below has
                    // left the handlers' scope with its frame, as the spec says.
                    let results = exceptions::call(t, Callee::Direct(callee), &all);
                    finish(t, results);
                }
                Then::Return => {
                    t.b.ins().return_call(callee, &all);
                    t.reachable = false;
                }
            }
        }
    }
}

/// Calls the function a `FuncRef` describes, with the vmctx stored in it.
fn call_funcref(t: &mut Translator, sig: ir::SigRef, funcref: ir::Value, args: &[ir::Value], then: Then) {
    let (func_ptr, callee_vmctx) = VmctxAccess::funcref_parts(&mut t.b, funcref);
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(callee_vmctx);
    all.extend_from_slice(args);
    match then {
        Then::Continue => {
            let results = exceptions::call(t, Callee::Indirect(sig, func_ptr), &all);
            finish(t, results);
        }
        Then::Return => {
            t.b.ins().return_call_indirect(sig, func_ptr, &all);
            t.reachable = false;
        }
    }
}

/// Calls a typed function reference. The validator proved its type, so only null is
/// checked.
fn call_ref(t: &mut Translator, ty: TypeIndex, then: Then) {
    let funcref = t.pop();
    let args = pop_args(t, ty);
    t.b.ins().trapz(funcref, traps::NULL_REFERENCE);
    let sig = t.env.indirect_sig(&mut t.b, ty);
    call_funcref(t, sig, funcref, &args, then);
}

fn call_indirect(t: &mut Translator, ty: TypeIndex, table: TableIndex, then: Then) {
    let elem = t.pop();
    let elem = super::table::narrow(t, elem);
    let args = pop_args(t, ty);
    let addr = t.env.table_entry_addr(&mut t.b, table, elem);
    let funcref = t.b.ins().load(I64, MemFlagsData::trusted(), addr, 0);
    t.env.check_funcref_type(&mut t.b, funcref, ty);
    let sig = t.env.indirect_sig(&mut t.b, ty);
    call_funcref(t, sig, funcref, &args, then);
}
