//! Calls: direct, through tables, and tail calls.
//!
//! Defined functions are called directly by their object-file symbol. Imports are
//! bound per instance, so they are called through the `FuncRef` in the caller's vmctx,
//! with the vmctx stored there. `call_indirect` checks its table entry first (bounds,
//! null, signature).

use crate::error::Error;
use crate::translate::func::Translator;
use crate::translate::ops::exceptions::{self, Callee};
use crate::translate::traps;
use crate::translate::vmctx::VmctxAccess;
use crate::translate::FUNC_NAMESPACE;
use cranelift_codegen::ir::{self, types::*, ExtFuncData, ExternalName, InstBuilder, MemFlagsData, UserExternalName};
use cranelift_codegen::isa::CallConv;
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

/// Pushes a call's results, or returns them.
fn finish(t: &mut Translator, results: Vec<ir::Value>, then: Then) {
    match then {
        Then::Continue => t.stack.extend_from_slice(&results),
        Then::Return => {
            t.b.ins().return_(&results);
            t.reachable = false;
        }
    }
}

/// The `FuncRef` through which this function calls defined function `index` directly.
fn direct_callee(t: &mut Translator, index: FuncIndex) -> ir::FuncRef {
    if let Some(f) = t.env.direct_callees.get(&index) {
        return *f;
    }
    let module = t.env.module;
    let defined = module.imports.defined_func(index).expect("only defined functions are called directly");
    // Direct calls go straight to the body, skipping any entry wrapper.
    let name = UserExternalName { namespace: FUNC_NAMESPACE, index: module.body_id(defined) };
    let signature = t.b.import_signature(module.body_signature(index));
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
            let results = call_funcref(t, sig, funcref, &args, then);
            finish(t, results, then);
        }
        Origin::Defined(_) => {
            let callee = direct_callee(t, index);
            let mut all = Vec::with_capacity(args.len() + 1);
            all.push(vmctx);
            all.extend_from_slice(&args);
            let own_conv = t.b.func.signature.call_conv;
            if then == Then::Return && module.is_tail(index) && own_conv == CallConv::Tail {
                t.b.ins().return_call(callee, &all);
                t.reachable = false;
                return;
            }
            let results = emit(t, Callee::Direct(callee), &all, then);
            finish(t, results, then);
        }
    }
}

/// Makes a call. A call whose results are returned (`return_call` made as a call and a
/// return) has left the handlers' scope, as a real tail call would have.
fn emit(t: &mut Translator, callee: Callee, args: &[ir::Value], then: Then) -> Vec<ir::Value> {
    match then {
        Then::Continue => exceptions::call(t, callee, args),
        Then::Return => {
            let inst = match callee {
                Callee::Direct(f) => t.b.ins().call(f, args),
                Callee::Indirect(sig, ptr) => t.b.ins().call_indirect(sig, ptr, args),
            };
            t.b.inst_results(inst).to_vec()
        }
    }
}

/// Calls the function a `FuncRef` describes, with the vmctx stored in it.
fn call_funcref(
    t: &mut Translator,
    sig: ir::SigRef,
    funcref: ir::Value,
    args: &[ir::Value],
    then: Then,
) -> Vec<ir::Value> {
    let (func_ptr, callee_vmctx) = VmctxAccess::funcref_parts(&mut t.b, funcref);
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(callee_vmctx);
    all.extend_from_slice(args);
    emit(t, Callee::Indirect(sig, func_ptr), &all, then)
}

/// Calls a typed function reference. The validator proved its type, so only null is
/// checked. Like `return_call_indirect`, `return_call_ref` is a call and a return.
fn call_ref(t: &mut Translator, ty: TypeIndex, then: Then) {
    let funcref = t.pop();
    let args = pop_args(t, ty);
    t.b.ins().trapz(funcref, traps::NULL_REFERENCE);
    let sig = t.env.indirect_sig(&mut t.b, ty);
    let results = call_funcref(t, sig, funcref, &args, then);
    finish(t, results, then);
}

// Everything reachable through a table uses the `SystemV` convention, which has no tail
// calls, so `return_call_indirect` is a call followed by a return: the same results,
// but the stack grows with the call depth.
fn call_indirect(t: &mut Translator, ty: TypeIndex, table: TableIndex, then: Then) {
    let elem = t.pop();
    let args = pop_args(t, ty);
    let addr = t.env.table_entry_addr(&mut t.b, table, elem);
    let funcref = t.b.ins().load(I64, MemFlagsData::trusted(), addr, 0);
    t.env.check_funcref_type(&mut t.b, funcref, ty);
    let sig = t.env.indirect_sig(&mut t.b, ty);
    let results = call_funcref(t, sig, funcref, &args, then);
    finish(t, results, then);
}
