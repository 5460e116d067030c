//! Glue between the host's calling convention (`SystemV`) and the wasm one (`tail`, see
//! `translate::info::wasm_signature`), one pair per type.
//!
//! See `lucet_module::descriptor` for both ABIs. Values travel through arrays of
//! 16-byte slots so that one host-side routine handles every signature.

use crate::translate::info::{clif_type, wasm_signature};
use cranelift_codegen::ir::{
    self, types::I64, AbiParam, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, UserFuncName,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use lucet_module::{AdapterContext, FuncType, VALUE_SLOT_SIZE};

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

/// `extern "C" fn(vmctx, callee, values)`: calls `callee(vmctx, values[..]...)` with the
/// wasm convention and writes its results back over `values`.
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

/// A function with the wasm convention for `ty` whose vmctx is an `AdapterContext`.
///
/// For a host closure (`values_fn` set) it spills the arguments into value slots, calls
/// the host function, and returns what it left in the slots. For a native hostcall it
/// calls `native_fn(native_vmctx, args...)` with the host's `SystemV` convention.
pub fn wasm_to_host(type_index: u32, ty: &FuncType) -> ir::Function {
    let mut func = ir::Function::with_name_signature(UserFuncName::user(ADAPTER_NAMESPACE, type_index), wasm_signature(ty));
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let params = entry_params(&mut b);
    let ctx = params[0];
    let context_flags = MemFlagsData::trusted().with_readonly();
    let values_fn = b.ins().load(I64, context_flags, ctx, AdapterContext::VALUES_FN);
    let closure = b.create_block();
    let native = b.create_block();
    b.ins().brif(values_fn, closure, &[], native, &[]);

    b.switch_to_block(native);
    b.seal_block(native);
    let native_fn = b.ins().load(I64, context_flags, ctx, AdapterContext::NATIVE_FN);
    let native_vmctx = b.ins().load(I64, context_flags, ctx, AdapterContext::NATIVE_VMCTX);
    let mut native_sig = wasm_signature(ty);
    native_sig.call_conv = CallConv::SystemV;
    let native_sig = b.import_signature(native_sig);
    let mut args = vec![native_vmctx];
    args.extend_from_slice(&params[1..]);
    let call = b.ins().call_indirect(native_sig, native_fn, &args);
    let results = b.inst_results(call).to_vec();
    b.ins().return_(&results);

    b.switch_to_block(closure);
    b.seal_block(closure);
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
    let mut host_sig = Signature::new(CallConv::SystemV);
    host_sig.params.extend([AbiParam::new(I64), AbiParam::new(I64)]);
    let host_sig = b.import_signature(host_sig);
    b.ins().call_indirect(host_sig, values_fn, &[ctx, values]);
    let mut results = Vec::new();
    for (i, t) in ty.results.iter().enumerate() {
        results.push(b.ins().stack_load(I64, clif_type(*t), slot, slot_offset(i)));
    }
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
