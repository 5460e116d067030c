//! Glue between the host's calling convention and the wasm one, one pair per type.
//!
//! See `lucet_module::descriptor` for both ABIs. Values travel through arrays of
//! 16-byte slots so that one host-side routine handles every signature.

use crate::translate::info::{clif_type, wasm_signature};
use crate::translate::FUNC_NAMESPACE;
use cranelift_codegen::ir::{
    self, types::I64, AbiParam, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, UserFuncName,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use lucet_module::{FuncType, VALUE_SLOT_SIZE};

/// Namespaces that keep trampoline and adapter names apart from functions in CLIF dumps.
const TRAMPOLINE_NAMESPACE: u32 = 2;
const ADAPTER_NAMESPACE: u32 = 3;

fn slot_offset(i: usize) -> i32 {
    (i * VALUE_SLOT_SIZE) as i32
}

/// The host's value array comes from Rust and may be only byte-aligned.
fn value_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// `extern "C" fn(vmctx, callee, values)`: calls `callee(vmctx, values[..]...)` and
/// writes its results back over `values`.
pub fn host_to_wasm(type_index: u32, ty: &FuncType) -> ir::Function {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.extend([AbiParam::new(I64), AbiParam::new(I64), AbiParam::new(I64)]);
    let mut func = ir::Function::with_name_signature(UserFuncName::user(TRAMPOLINE_NAMESPACE, type_index), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let p = entry_params(&mut b);
    let (vmctx, callee, values) = (p[0], p[1], p[2]);
    let mut args = vec![vmctx];
    for (i, t) in ty.params.iter().enumerate() {
        args.push(b.ins().load(clif_type(*t), value_flags(), values, slot_offset(i)));
    }
    let callee_sig = b.import_signature(wasm_signature(ty));
    let call = b.ins().call_indirect(callee_sig, callee, &args);
    let results = b.inst_results(call).to_vec();
    for (i, r) in results.into_iter().enumerate() {
        b.ins().store(value_flags(), r, values, slot_offset(i));
    }
    b.ins().return_(&[]);
    b.finalize(frontend_config());
    func
}

/// A function with the wasm convention for `ty` whose vmctx is a host context
/// `{ fn(ctx, values), .. }`: spills the arguments into value slots, calls the host
/// function, and returns what it left in the slots.
pub fn wasm_to_host(type_index: u32, ty: &FuncType) -> ir::Function {
    let mut func = ir::Function::with_name_signature(UserFuncName::user(ADAPTER_NAMESPACE, type_index), wasm_signature(ty));
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let params = entry_params(&mut b);
    let ctx = params[0];
    let slots = ty.params.len().max(ty.results.len()).max(1);
    let slot = b.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        (slots * VALUE_SLOT_SIZE) as u32,
        4,
    ));
    for (i, v) in params[1..].iter().enumerate() {
        b.ins().stack_store(I64, *v, slot, slot_offset(i));
    }
    let values = b.ins().stack_addr(I64, slot, 0);
    let host_fn = b.ins().load(I64, MemFlagsData::trusted().with_readonly(), ctx, 0);
    let mut host_sig = Signature::new(CallConv::SystemV);
    host_sig.params.extend([AbiParam::new(I64), AbiParam::new(I64)]);
    let host_sig = b.import_signature(host_sig);
    b.ins().call_indirect(host_sig, host_fn, &[ctx, values]);
    let mut results = Vec::new();
    for (i, t) in ty.results.iter().enumerate() {
        results.push(b.ins().stack_load(I64, clif_type(*t), slot, slot_offset(i)));
    }
    b.ins().return_(&results);
    b.finalize(frontend_config());
    func
}

/// A `SystemV` entry point `fn(vmctx, params...) -> results` that calls the body
/// `body_id` (same parameters, `tail` convention) and returns its results.
pub fn tail_entry(entry_id: u32, ty: &FuncType, body_id: u32, body_sig: Signature) -> ir::Function {
    let name = UserFuncName::user(FUNC_NAMESPACE, entry_id);
    let mut func = ir::Function::with_name_signature(name, wasm_signature(ty));
    let body_sig = func.import_signature(body_sig);
    let body_name = func.declare_imported_user_function(ir::UserExternalName { namespace: FUNC_NAMESPACE, index: body_id });
    let body = func.import_function(ir::ExtFuncData {
        name: ir::ExternalName::user(body_name),
        signature: body_sig,
        colocated: true,
        patchable: false,
    });
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let args = entry_params(&mut b);
    let call = b.ins().call(body, &args);
    let results = b.inst_results(call).to_vec();
    b.ins().return_(&results);
    b.finalize(frontend_config());
    func
}

/// Starts the single block of a straight-line function and returns its parameters.
fn entry_params(b: &mut FunctionBuilder) -> Vec<ir::Value> {
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    b.block_params(block).to_vec()
}

/// What the builder needs to know of the target: these functions only handle
/// pointer-sized values and vectors, the same on every x86-64 target.
fn frontend_config() -> cranelift_codegen::isa::TargetFrontendConfig {
    cranelift_codegen::isa::TargetFrontendConfig {
        default_call_conv: CallConv::SystemV,
        pointer_width: target_lexicon::PointerWidth::U64,
        page_size_align_log2: 12,
    }
}
