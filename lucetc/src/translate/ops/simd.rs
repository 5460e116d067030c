//! 128-bit vectors: SIMD and relaxed SIMD.
//!
//! A `v128` travels as `I8X16` (see `Translator::canonical`); each operator views its
//! operands with the lane layout it works on, and Cranelift's `bitcast` between layouts
//! costs nothing.
//!
//! Relaxed SIMD lets an engine choose among several results. lucetc makes one choice per
//! instruction, the same on every CPU, so a module computes the same values wherever it
//! runs:
//! - `i8x16.relaxed_swizzle` is `i8x16.swizzle` (out-of-range indices give 0);
//! - `i32x4.relaxed_trunc_*` are the saturating truncations (NaN gives 0);
//! - `relaxed_madd`/`relaxed_nmadd` are fused (`fma`, one rounding);
//! - `relaxed_laneselect` is `v128.bitselect` (bit by bit);
//! - `relaxed_min`/`relaxed_max` are `fmin`/`fmax` (NaN and signed zeros as wasm's
//!   `min`/`max`);
//! - `i16x8.relaxed_q15mulr_s` is `i16x8.q15mulr_sat_s`;
//! - the relaxed dot products treat both operands as signed and wrap on overflow.

use super::memory::access_addr;
use crate::error::Error;
use crate::translate::func::Translator;
use crate::translate::vmctx::heap_flags;
use cranelift_codegen::ir::MemFlagsData;
use cranelift_codegen::ir::{
    condcodes::{FloatCC, IntCC},
    types::*,
    InstBuilder, Type, Value,
};
use cranelift_frontend::FunctionBuilder;
use wasmparser::{MemArg, Operator};

type B<'a> = FunctionBuilder<'a>;

pub fn translate(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    Ok(memory(t, op)? || lanes(t, op)? || integer(t, op)? || float(t, op)? || relaxed(t, op)?)
}

/// Loads and stores.
fn memory(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    use Operator as O;
    match op {
        O::V128Load { memarg } => {
            let (addr, offset) = access_addr(t, memarg, 16);
            let flags = heap_flags(t.b.func);
            let v = t.b.ins().load(I8X16, flags, addr, offset);
            t.push(v);
        }
        O::V128Store { memarg } => {
            let v = t.pop();
            let (addr, offset) = access_addr(t, memarg, 16);
            let flags = heap_flags(t.b.func);
            t.b.ins().store(flags, v, addr, offset);
        }
        O::V128Load8x8S { memarg } => load_extend(t, memarg, |b, f, a, o| b.ins().sload8x8(f, a, o)),
        O::V128Load8x8U { memarg } => load_extend(t, memarg, |b, f, a, o| b.ins().uload8x8(f, a, o)),
        O::V128Load16x4S { memarg } => load_extend(t, memarg, |b, f, a, o| b.ins().sload16x4(f, a, o)),
        O::V128Load16x4U { memarg } => load_extend(t, memarg, |b, f, a, o| b.ins().uload16x4(f, a, o)),
        O::V128Load32x2S { memarg } => load_extend(t, memarg, |b, f, a, o| b.ins().sload32x2(f, a, o)),
        O::V128Load32x2U { memarg } => load_extend(t, memarg, |b, f, a, o| b.ins().uload32x2(f, a, o)),
        O::V128Load8Splat { memarg } => load_splat(t, memarg, I8X16),
        O::V128Load16Splat { memarg } => load_splat(t, memarg, I16X8),
        O::V128Load32Splat { memarg } => load_splat(t, memarg, I32X4),
        O::V128Load64Splat { memarg } => load_splat(t, memarg, I64X2),
        O::V128Load32Zero { memarg } => load_zero(t, memarg, I32X4),
        O::V128Load64Zero { memarg } => load_zero(t, memarg, I64X2),
        O::V128Load8Lane { memarg, lane } => load_lane(t, memarg, I8X16, *lane),
        O::V128Load16Lane { memarg, lane } => load_lane(t, memarg, I16X8, *lane),
        O::V128Load32Lane { memarg, lane } => load_lane(t, memarg, I32X4, *lane),
        O::V128Load64Lane { memarg, lane } => load_lane(t, memarg, I64X2, *lane),
        O::V128Store8Lane { memarg, lane } => store_lane(t, memarg, I8X16, *lane),
        O::V128Store16Lane { memarg, lane } => store_lane(t, memarg, I16X8, *lane),
        O::V128Store32Lane { memarg, lane } => store_lane(t, memarg, I32X4, *lane),
        O::V128Store64Lane { memarg, lane } => store_lane(t, memarg, I64X2, *lane),
        _ => return Ok(false),
    }
    Ok(true)
}

fn load_extend(t: &mut Translator, memarg: &MemArg, f: impl FnOnce(&mut B<'_>, MemFlagsData, Value, i32) -> Value) {
    let (addr, offset) = access_addr(t, memarg, 8);
    let flags = heap_flags(t.b.func);
    let v = f(&mut t.b, flags, addr, offset);
    t.push(v);
}

fn load_splat(t: &mut Translator, memarg: &MemArg, ty: Type) {
    let (addr, offset) = access_addr(t, memarg, ty.lane_type().bytes());
    let flags = heap_flags(t.b.func);
    let x = t.b.ins().load(ty.lane_type(), flags, addr, offset);
    let v = t.b.ins().splat(ty, x);
    t.push(v);
}

fn load_zero(t: &mut Translator, memarg: &MemArg, ty: Type) {
    let (addr, offset) = access_addr(t, memarg, ty.lane_type().bytes());
    let flags = heap_flags(t.b.func);
    let x = t.b.ins().load(ty.lane_type(), flags, addr, offset);
    let v = t.b.ins().scalar_to_vector(ty, x);
    t.push(v);
}

fn load_lane(t: &mut Translator, memarg: &MemArg, ty: Type, lane: u8) {
    let vector = t.pop_vector(ty);
    let (addr, offset) = access_addr(t, memarg, ty.lane_type().bytes());
    let flags = heap_flags(t.b.func);
    let x = t.b.ins().load(ty.lane_type(), flags, addr, offset);
    let v = t.b.ins().insertlane(vector, x, lane);
    t.push(v);
}

fn store_lane(t: &mut Translator, memarg: &MemArg, ty: Type, lane: u8) {
    let vector = t.pop_vector(ty);
    let (addr, offset) = access_addr(t, memarg, ty.lane_type().bytes());
    let x = t.b.ins().extractlane(vector, lane);
    let flags = heap_flags(t.b.func);
    t.b.ins().store(flags, x, addr, offset);
}

/// Constants, shuffles, splats, lane access and bitwise operations.
fn lanes(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    use Operator as O;
    match op {
        O::V128Const { value } => {
            let c = t.b.func.dfg.constants.insert(value.bytes().to_vec().into());
            let v = t.b.ins().vconst(I8X16, c);
            t.push(v);
        }
        O::I8x16Shuffle { lanes } => {
            let (a, b) = pop2(t, I8X16);
            let mask = t.b.func.dfg.immediates.push(lanes.to_vec().into());
            let v = t.b.ins().shuffle(a, b, mask);
            t.push(v);
        }
        O::I8x16Swizzle | O::I8x16RelaxedSwizzle => binary(t, I8X16, |b, x, y| b.ins().swizzle(x, y)),
        O::I8x16Splat => splat(t, I8X16),
        O::I16x8Splat => splat(t, I16X8),
        O::I32x4Splat => splat(t, I32X4),
        O::I64x2Splat => splat(t, I64X2),
        O::F32x4Splat => splat(t, F32X4),
        O::F64x2Splat => splat(t, F64X2),
        O::I8x16ExtractLaneS { lane } => extract_extend(t, I8X16, *lane, true),
        O::I8x16ExtractLaneU { lane } => extract_extend(t, I8X16, *lane, false),
        O::I16x8ExtractLaneS { lane } => extract_extend(t, I16X8, *lane, true),
        O::I16x8ExtractLaneU { lane } => extract_extend(t, I16X8, *lane, false),
        O::I32x4ExtractLane { lane } => extract(t, I32X4, *lane),
        O::I64x2ExtractLane { lane } => extract(t, I64X2, *lane),
        O::F32x4ExtractLane { lane } => extract(t, F32X4, *lane),
        O::F64x2ExtractLane { lane } => extract(t, F64X2, *lane),
        O::I8x16ReplaceLane { lane } => replace(t, I8X16, *lane),
        O::I16x8ReplaceLane { lane } => replace(t, I16X8, *lane),
        O::I32x4ReplaceLane { lane } => replace(t, I32X4, *lane),
        O::I64x2ReplaceLane { lane } => replace(t, I64X2, *lane),
        O::F32x4ReplaceLane { lane } => replace(t, F32X4, *lane),
        O::F64x2ReplaceLane { lane } => replace(t, F64X2, *lane),
        O::V128Not => unary(t, I8X16, |b, x| b.ins().bnot(x)),
        O::V128And => binary(t, I8X16, |b, x, y| b.ins().band(x, y)),
        O::V128AndNot => binary(t, I8X16, |b, x, y| b.ins().band_not(x, y)),
        O::V128Or => binary(t, I8X16, |b, x, y| b.ins().bor(x, y)),
        O::V128Xor => binary(t, I8X16, |b, x, y| b.ins().bxor(x, y)),
        O::V128Bitselect
        | O::I8x16RelaxedLaneselect
        | O::I16x8RelaxedLaneselect
        | O::I32x4RelaxedLaneselect
        | O::I64x2RelaxedLaneselect => {
            let mask = t.pop_vector(I8X16);
            let (a, b) = pop2(t, I8X16);
            let v = t.b.ins().bitselect(mask, a, b);
            t.push(v);
        }
        O::V128AnyTrue => {
            let a = t.pop_vector(I8X16);
            let c = t.b.ins().vany_true(a);
            let v = t.b.ins().uextend(I32, c);
            t.push(v);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Integer lanes.
fn integer(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    use Operator as O;
    match op {
        O::I8x16Eq => icmp(t, I8X16, IntCC::Equal),
        O::I8x16Ne => icmp(t, I8X16, IntCC::NotEqual),
        O::I8x16LtS => icmp(t, I8X16, IntCC::SignedLessThan),
        O::I8x16LtU => icmp(t, I8X16, IntCC::UnsignedLessThan),
        O::I8x16GtS => icmp(t, I8X16, IntCC::SignedGreaterThan),
        O::I8x16GtU => icmp(t, I8X16, IntCC::UnsignedGreaterThan),
        O::I8x16LeS => icmp(t, I8X16, IntCC::SignedLessThanOrEqual),
        O::I8x16LeU => icmp(t, I8X16, IntCC::UnsignedLessThanOrEqual),
        O::I8x16GeS => icmp(t, I8X16, IntCC::SignedGreaterThanOrEqual),
        O::I8x16GeU => icmp(t, I8X16, IntCC::UnsignedGreaterThanOrEqual),
        O::I16x8Eq => icmp(t, I16X8, IntCC::Equal),
        O::I16x8Ne => icmp(t, I16X8, IntCC::NotEqual),
        O::I16x8LtS => icmp(t, I16X8, IntCC::SignedLessThan),
        O::I16x8LtU => icmp(t, I16X8, IntCC::UnsignedLessThan),
        O::I16x8GtS => icmp(t, I16X8, IntCC::SignedGreaterThan),
        O::I16x8GtU => icmp(t, I16X8, IntCC::UnsignedGreaterThan),
        O::I16x8LeS => icmp(t, I16X8, IntCC::SignedLessThanOrEqual),
        O::I16x8LeU => icmp(t, I16X8, IntCC::UnsignedLessThanOrEqual),
        O::I16x8GeS => icmp(t, I16X8, IntCC::SignedGreaterThanOrEqual),
        O::I16x8GeU => icmp(t, I16X8, IntCC::UnsignedGreaterThanOrEqual),
        O::I32x4Eq => icmp(t, I32X4, IntCC::Equal),
        O::I32x4Ne => icmp(t, I32X4, IntCC::NotEqual),
        O::I32x4LtS => icmp(t, I32X4, IntCC::SignedLessThan),
        O::I32x4LtU => icmp(t, I32X4, IntCC::UnsignedLessThan),
        O::I32x4GtS => icmp(t, I32X4, IntCC::SignedGreaterThan),
        O::I32x4GtU => icmp(t, I32X4, IntCC::UnsignedGreaterThan),
        O::I32x4LeS => icmp(t, I32X4, IntCC::SignedLessThanOrEqual),
        O::I32x4LeU => icmp(t, I32X4, IntCC::UnsignedLessThanOrEqual),
        O::I32x4GeS => icmp(t, I32X4, IntCC::SignedGreaterThanOrEqual),
        O::I32x4GeU => icmp(t, I32X4, IntCC::UnsignedGreaterThanOrEqual),
        O::I64x2Eq => icmp(t, I64X2, IntCC::Equal),
        O::I64x2Ne => icmp(t, I64X2, IntCC::NotEqual),
        O::I64x2LtS => icmp(t, I64X2, IntCC::SignedLessThan),
        O::I64x2GtS => icmp(t, I64X2, IntCC::SignedGreaterThan),
        O::I64x2LeS => icmp(t, I64X2, IntCC::SignedLessThanOrEqual),
        O::I64x2GeS => icmp(t, I64X2, IntCC::SignedGreaterThanOrEqual),

        O::I8x16Abs => unary(t, I8X16, |b, x| b.ins().iabs(x)),
        O::I16x8Abs => unary(t, I16X8, |b, x| b.ins().iabs(x)),
        O::I32x4Abs => unary(t, I32X4, |b, x| b.ins().iabs(x)),
        O::I64x2Abs => unary(t, I64X2, |b, x| b.ins().iabs(x)),
        O::I8x16Neg => unary(t, I8X16, |b, x| b.ins().ineg(x)),
        O::I16x8Neg => unary(t, I16X8, |b, x| b.ins().ineg(x)),
        O::I32x4Neg => unary(t, I32X4, |b, x| b.ins().ineg(x)),
        O::I64x2Neg => unary(t, I64X2, |b, x| b.ins().ineg(x)),
        O::I8x16Popcnt => unary(t, I8X16, |b, x| b.ins().popcnt(x)),
        O::I8x16AllTrue => all_true(t, I8X16),
        O::I16x8AllTrue => all_true(t, I16X8),
        O::I32x4AllTrue => all_true(t, I32X4),
        O::I64x2AllTrue => all_true(t, I64X2),
        O::I8x16Bitmask => bitmask(t, I8X16),
        O::I16x8Bitmask => bitmask(t, I16X8),
        O::I32x4Bitmask => bitmask(t, I32X4),
        O::I64x2Bitmask => bitmask(t, I64X2),
        O::I8x16NarrowI16x8S => binary(t, I16X8, |b, x, y| b.ins().snarrow(x, y)),
        O::I8x16NarrowI16x8U => binary(t, I16X8, |b, x, y| b.ins().unarrow(x, y)),
        O::I16x8NarrowI32x4S => binary(t, I32X4, |b, x, y| b.ins().snarrow(x, y)),
        O::I16x8NarrowI32x4U => binary(t, I32X4, |b, x, y| b.ins().unarrow(x, y)),
        O::I16x8ExtendLowI8x16S => unary(t, I8X16, |b, x| b.ins().swiden_low(x)),
        O::I16x8ExtendHighI8x16S => unary(t, I8X16, |b, x| b.ins().swiden_high(x)),
        O::I16x8ExtendLowI8x16U => unary(t, I8X16, |b, x| b.ins().uwiden_low(x)),
        O::I16x8ExtendHighI8x16U => unary(t, I8X16, |b, x| b.ins().uwiden_high(x)),
        O::I32x4ExtendLowI16x8S => unary(t, I16X8, |b, x| b.ins().swiden_low(x)),
        O::I32x4ExtendHighI16x8S => unary(t, I16X8, |b, x| b.ins().swiden_high(x)),
        O::I32x4ExtendLowI16x8U => unary(t, I16X8, |b, x| b.ins().uwiden_low(x)),
        O::I32x4ExtendHighI16x8U => unary(t, I16X8, |b, x| b.ins().uwiden_high(x)),
        O::I64x2ExtendLowI32x4S => unary(t, I32X4, |b, x| b.ins().swiden_low(x)),
        O::I64x2ExtendHighI32x4S => unary(t, I32X4, |b, x| b.ins().swiden_high(x)),
        O::I64x2ExtendLowI32x4U => unary(t, I32X4, |b, x| b.ins().uwiden_low(x)),
        O::I64x2ExtendHighI32x4U => unary(t, I32X4, |b, x| b.ins().uwiden_high(x)),
        O::I16x8ExtAddPairwiseI8x16S => unary(t, I8X16, |b, x| pairwise(b, x, Signed::Yes)),
        O::I16x8ExtAddPairwiseI8x16U => unary(t, I8X16, |b, x| pairwise(b, x, Signed::No)),
        O::I32x4ExtAddPairwiseI16x8S => unary(t, I16X8, |b, x| pairwise(b, x, Signed::Yes)),
        O::I32x4ExtAddPairwiseI16x8U => unary(t, I16X8, |b, x| pairwise(b, x, Signed::No)),

        O::I8x16Shl => shift(t, I8X16, |b, x, n| b.ins().ishl(x, n)),
        O::I16x8Shl => shift(t, I16X8, |b, x, n| b.ins().ishl(x, n)),
        O::I32x4Shl => shift(t, I32X4, |b, x, n| b.ins().ishl(x, n)),
        O::I64x2Shl => shift(t, I64X2, |b, x, n| b.ins().ishl(x, n)),
        O::I8x16ShrS => shift(t, I8X16, |b, x, n| b.ins().sshr(x, n)),
        O::I16x8ShrS => shift(t, I16X8, |b, x, n| b.ins().sshr(x, n)),
        O::I32x4ShrS => shift(t, I32X4, |b, x, n| b.ins().sshr(x, n)),
        O::I64x2ShrS => shift(t, I64X2, |b, x, n| b.ins().sshr(x, n)),
        O::I8x16ShrU => shift(t, I8X16, |b, x, n| b.ins().ushr(x, n)),
        O::I16x8ShrU => shift(t, I16X8, |b, x, n| b.ins().ushr(x, n)),
        O::I32x4ShrU => shift(t, I32X4, |b, x, n| b.ins().ushr(x, n)),
        O::I64x2ShrU => shift(t, I64X2, |b, x, n| b.ins().ushr(x, n)),

        O::I8x16Add => binary(t, I8X16, |b, x, y| b.ins().iadd(x, y)),
        O::I16x8Add => binary(t, I16X8, |b, x, y| b.ins().iadd(x, y)),
        O::I32x4Add => binary(t, I32X4, |b, x, y| b.ins().iadd(x, y)),
        O::I64x2Add => binary(t, I64X2, |b, x, y| b.ins().iadd(x, y)),
        O::I8x16Sub => binary(t, I8X16, |b, x, y| b.ins().isub(x, y)),
        O::I16x8Sub => binary(t, I16X8, |b, x, y| b.ins().isub(x, y)),
        O::I32x4Sub => binary(t, I32X4, |b, x, y| b.ins().isub(x, y)),
        O::I64x2Sub => binary(t, I64X2, |b, x, y| b.ins().isub(x, y)),
        O::I16x8Mul => binary(t, I16X8, |b, x, y| b.ins().imul(x, y)),
        O::I32x4Mul => binary(t, I32X4, |b, x, y| b.ins().imul(x, y)),
        O::I64x2Mul => binary(t, I64X2, |b, x, y| b.ins().imul(x, y)),
        O::I8x16AddSatS => binary(t, I8X16, |b, x, y| b.ins().sadd_sat(x, y)),
        O::I16x8AddSatS => binary(t, I16X8, |b, x, y| b.ins().sadd_sat(x, y)),
        O::I8x16AddSatU => binary(t, I8X16, |b, x, y| b.ins().uadd_sat(x, y)),
        O::I16x8AddSatU => binary(t, I16X8, |b, x, y| b.ins().uadd_sat(x, y)),
        O::I8x16SubSatS => binary(t, I8X16, |b, x, y| b.ins().ssub_sat(x, y)),
        O::I16x8SubSatS => binary(t, I16X8, |b, x, y| b.ins().ssub_sat(x, y)),
        O::I8x16SubSatU => binary(t, I8X16, |b, x, y| b.ins().usub_sat(x, y)),
        O::I16x8SubSatU => binary(t, I16X8, |b, x, y| b.ins().usub_sat(x, y)),
        O::I8x16MinS => binary(t, I8X16, |b, x, y| b.ins().smin(x, y)),
        O::I16x8MinS => binary(t, I16X8, |b, x, y| b.ins().smin(x, y)),
        O::I32x4MinS => binary(t, I32X4, |b, x, y| b.ins().smin(x, y)),
        O::I8x16MinU => binary(t, I8X16, |b, x, y| b.ins().umin(x, y)),
        O::I16x8MinU => binary(t, I16X8, |b, x, y| b.ins().umin(x, y)),
        O::I32x4MinU => binary(t, I32X4, |b, x, y| b.ins().umin(x, y)),
        O::I8x16MaxS => binary(t, I8X16, |b, x, y| b.ins().smax(x, y)),
        O::I16x8MaxS => binary(t, I16X8, |b, x, y| b.ins().smax(x, y)),
        O::I32x4MaxS => binary(t, I32X4, |b, x, y| b.ins().smax(x, y)),
        O::I8x16MaxU => binary(t, I8X16, |b, x, y| b.ins().umax(x, y)),
        O::I16x8MaxU => binary(t, I16X8, |b, x, y| b.ins().umax(x, y)),
        O::I32x4MaxU => binary(t, I32X4, |b, x, y| b.ins().umax(x, y)),
        O::I8x16AvgrU => binary(t, I8X16, |b, x, y| b.ins().avg_round(x, y)),
        O::I16x8AvgrU => binary(t, I16X8, |b, x, y| b.ins().avg_round(x, y)),
        O::I16x8Q15MulrSatS | O::I16x8RelaxedQ15mulrS => binary(t, I16X8, |b, x, y| b.ins().sqmul_round_sat(x, y)),
        O::I32x4DotI16x8S => binary(t, I16X8, |b, x, y| dot(b, x, y)),

        O::I16x8ExtMulLowI8x16S => extmul(t, I8X16, Half::Low, Signed::Yes),
        O::I16x8ExtMulHighI8x16S => extmul(t, I8X16, Half::High, Signed::Yes),
        O::I16x8ExtMulLowI8x16U => extmul(t, I8X16, Half::Low, Signed::No),
        O::I16x8ExtMulHighI8x16U => extmul(t, I8X16, Half::High, Signed::No),
        O::I32x4ExtMulLowI16x8S => extmul(t, I16X8, Half::Low, Signed::Yes),
        O::I32x4ExtMulHighI16x8S => extmul(t, I16X8, Half::High, Signed::Yes),
        O::I32x4ExtMulLowI16x8U => extmul(t, I16X8, Half::Low, Signed::No),
        O::I32x4ExtMulHighI16x8U => extmul(t, I16X8, Half::High, Signed::No),
        O::I64x2ExtMulLowI32x4S => extmul(t, I32X4, Half::Low, Signed::Yes),
        O::I64x2ExtMulHighI32x4S => extmul(t, I32X4, Half::High, Signed::Yes),
        O::I64x2ExtMulLowI32x4U => extmul(t, I32X4, Half::Low, Signed::No),
        O::I64x2ExtMulHighI32x4U => extmul(t, I32X4, Half::High, Signed::No),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Float lanes and conversions.
fn float(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    use Operator as O;
    match op {
        O::F32x4Eq => fcmp(t, F32X4, FloatCC::Equal),
        O::F32x4Ne => fcmp(t, F32X4, FloatCC::NotEqual),
        O::F32x4Lt => fcmp(t, F32X4, FloatCC::LessThan),
        O::F32x4Gt => fcmp(t, F32X4, FloatCC::GreaterThan),
        O::F32x4Le => fcmp(t, F32X4, FloatCC::LessThanOrEqual),
        O::F32x4Ge => fcmp(t, F32X4, FloatCC::GreaterThanOrEqual),
        O::F64x2Eq => fcmp(t, F64X2, FloatCC::Equal),
        O::F64x2Ne => fcmp(t, F64X2, FloatCC::NotEqual),
        O::F64x2Lt => fcmp(t, F64X2, FloatCC::LessThan),
        O::F64x2Gt => fcmp(t, F64X2, FloatCC::GreaterThan),
        O::F64x2Le => fcmp(t, F64X2, FloatCC::LessThanOrEqual),
        O::F64x2Ge => fcmp(t, F64X2, FloatCC::GreaterThanOrEqual),

        O::F32x4Ceil => unary(t, F32X4, |b, x| b.ins().ceil(x)),
        O::F64x2Ceil => unary(t, F64X2, |b, x| b.ins().ceil(x)),
        O::F32x4Floor => unary(t, F32X4, |b, x| b.ins().floor(x)),
        O::F64x2Floor => unary(t, F64X2, |b, x| b.ins().floor(x)),
        O::F32x4Trunc => unary(t, F32X4, |b, x| b.ins().trunc(x)),
        O::F64x2Trunc => unary(t, F64X2, |b, x| b.ins().trunc(x)),
        O::F32x4Nearest => unary(t, F32X4, |b, x| b.ins().nearest(x)),
        O::F64x2Nearest => unary(t, F64X2, |b, x| b.ins().nearest(x)),
        O::F32x4Abs => unary(t, F32X4, |b, x| b.ins().fabs(x)),
        O::F64x2Abs => unary(t, F64X2, |b, x| b.ins().fabs(x)),
        O::F32x4Neg => unary(t, F32X4, |b, x| b.ins().fneg(x)),
        O::F64x2Neg => unary(t, F64X2, |b, x| b.ins().fneg(x)),
        O::F32x4Sqrt => unary(t, F32X4, |b, x| b.ins().sqrt(x)),
        O::F64x2Sqrt => unary(t, F64X2, |b, x| b.ins().sqrt(x)),
        O::F32x4Add => binary(t, F32X4, |b, x, y| b.ins().fadd(x, y)),
        O::F64x2Add => binary(t, F64X2, |b, x, y| b.ins().fadd(x, y)),
        O::F32x4Sub => binary(t, F32X4, |b, x, y| b.ins().fsub(x, y)),
        O::F64x2Sub => binary(t, F64X2, |b, x, y| b.ins().fsub(x, y)),
        O::F32x4Mul => binary(t, F32X4, |b, x, y| b.ins().fmul(x, y)),
        O::F64x2Mul => binary(t, F64X2, |b, x, y| b.ins().fmul(x, y)),
        O::F32x4Div => binary(t, F32X4, |b, x, y| b.ins().fdiv(x, y)),
        O::F64x2Div => binary(t, F64X2, |b, x, y| b.ins().fdiv(x, y)),
        O::F32x4Min | O::F32x4RelaxedMin => binary(t, F32X4, |b, x, y| b.ins().fmin(x, y)),
        O::F64x2Min | O::F64x2RelaxedMin => binary(t, F64X2, |b, x, y| b.ins().fmin(x, y)),
        O::F32x4Max | O::F32x4RelaxedMax => binary(t, F32X4, |b, x, y| b.ins().fmax(x, y)),
        O::F64x2Max | O::F64x2RelaxedMax => binary(t, F64X2, |b, x, y| b.ins().fmax(x, y)),
        // pmin(a, b) = b < a ? b : a; pmax(a, b) = a < b ? b : a.
        O::F32x4PMin => binary(t, F32X4, |b, x, y| second_if_less(b, F32X4, x, y, y, x)),
        O::F64x2PMin => binary(t, F64X2, |b, x, y| second_if_less(b, F64X2, x, y, y, x)),
        O::F32x4PMax => binary(t, F32X4, |b, x, y| second_if_less(b, F32X4, x, y, x, y)),
        O::F64x2PMax => binary(t, F64X2, |b, x, y| second_if_less(b, F64X2, x, y, x, y)),

        O::I32x4TruncSatF32x4S | O::I32x4RelaxedTruncF32x4S => {
            unary(t, F32X4, |b, x| b.ins().fcvt_to_sint_sat(I32X4, x))
        }
        O::I32x4TruncSatF32x4U | O::I32x4RelaxedTruncF32x4U => {
            unary(t, F32X4, |b, x| b.ins().fcvt_to_uint_sat(I32X4, x))
        }
        O::I32x4TruncSatF64x2SZero | O::I32x4RelaxedTruncF64x2SZero => unary(t, F64X2, |b, x| {
            let wide = b.ins().fcvt_to_sint_sat(I64X2, x);
            let zero = zeros(b, I64X2);
            b.ins().snarrow(wide, zero)
        }),
        O::I32x4TruncSatF64x2UZero | O::I32x4RelaxedTruncF64x2UZero => unary(t, F64X2, |b, x| {
            let wide = b.ins().fcvt_to_uint_sat(I64X2, x);
            let zero = zeros(b, I64X2);
            b.ins().uunarrow(wide, zero)
        }),
        O::F32x4ConvertI32x4S => unary(t, I32X4, |b, x| b.ins().fcvt_from_sint(F32X4, x)),
        O::F32x4ConvertI32x4U => unary(t, I32X4, |b, x| b.ins().fcvt_from_uint(F32X4, x)),
        O::F64x2ConvertLowI32x4S => unary(t, I32X4, |b, x| {
            let wide = b.ins().swiden_low(x);
            b.ins().fcvt_from_sint(F64X2, wide)
        }),
        O::F64x2ConvertLowI32x4U => unary(t, I32X4, |b, x| {
            let wide = b.ins().uwiden_low(x);
            b.ins().fcvt_from_uint(F64X2, wide)
        }),
        O::F32x4DemoteF64x2Zero => unary(t, F64X2, |b, x| b.ins().fvdemote(x)),
        O::F64x2PromoteLowF32x4 => unary(t, F32X4, |b, x| b.ins().fvpromote_low(x)),
        _ => return Ok(false),
    }
    Ok(true)
}

/// The relaxed SIMD instructions without a non-relaxed twin (see the module documentation
/// for the choices).
fn relaxed(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    use Operator as O;
    match op {
        O::F32x4RelaxedMadd => fused(t, F32X4, Negate::No),
        O::F64x2RelaxedMadd => fused(t, F64X2, Negate::No),
        O::F32x4RelaxedNmadd => fused(t, F32X4, Negate::Yes),
        O::F64x2RelaxedNmadd => fused(t, F64X2, Negate::Yes),
        O::I16x8RelaxedDotI8x16I7x16S => binary(t, I8X16, |b, x, y| dot(b, x, y)),
        O::I32x4RelaxedDotI8x16I7x16AddS => {
            let acc = t.pop_vector(I32X4);
            let (x, y) = pop2(t, I8X16);
            let pairs = dot(&mut t.b, x, y);
            let quads = pairwise(&mut t.b, pairs, Signed::Yes);
            let v = t.b.ins().iadd(quads, acc);
            t.push(v);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signed {
    Yes,
    No,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Half {
    Low,
    High,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Negate {
    Yes,
    No,
}

fn pop2(t: &mut Translator, ty: Type) -> (Value, Value) {
    let b = t.pop_vector(ty);
    let a = t.pop_vector(ty);
    (a, b)
}

fn unary(t: &mut Translator, ty: Type, f: impl FnOnce(&mut B<'_>, Value) -> Value) {
    let a = t.pop_vector(ty);
    let v = f(&mut t.b, a);
    t.push(v);
}

fn binary(t: &mut Translator, ty: Type, f: impl FnOnce(&mut B<'_>, Value, Value) -> Value) {
    let (a, b) = pop2(t, ty);
    let v = f(&mut t.b, a, b);
    t.push(v);
}

fn shift(t: &mut Translator, ty: Type, f: impl FnOnce(&mut B<'_>, Value, Value) -> Value) {
    // Cranelift takes vector shift amounts modulo the lane width, as wasm does.
    let amount = t.pop();
    let a = t.pop_vector(ty);
    let v = f(&mut t.b, a, amount);
    t.push(v);
}

fn icmp(t: &mut Translator, ty: Type, cc: IntCC) {
    binary(t, ty, |b, x, y| b.ins().icmp(cc, x, y));
}

fn fcmp(t: &mut Translator, ty: Type, cc: FloatCC) {
    binary(t, ty, |b, x, y| b.ins().fcmp(cc, x, y));
}

fn splat(t: &mut Translator, ty: Type) {
    let x = t.pop();
    let x = if ty.lane_type().bits() < 32 { t.b.ins().ireduce(ty.lane_type(), x) } else { x };
    let v = t.b.ins().splat(ty, x);
    t.push(v);
}

fn extract(t: &mut Translator, ty: Type, lane: u8) {
    let a = t.pop_vector(ty);
    let v = t.b.ins().extractlane(a, lane);
    t.push(v);
}

fn extract_extend(t: &mut Translator, ty: Type, lane: u8, signed: bool) {
    let a = t.pop_vector(ty);
    let x = t.b.ins().extractlane(a, lane);
    let v = if signed { t.b.ins().sextend(I32, x) } else { t.b.ins().uextend(I32, x) };
    t.push(v);
}

fn replace(t: &mut Translator, ty: Type, lane: u8) {
    let x = t.pop();
    let a = t.pop_vector(ty);
    let x = if ty.lane_type().bits() < 32 { t.b.ins().ireduce(ty.lane_type(), x) } else { x };
    let v = t.b.ins().insertlane(a, x, lane);
    t.push(v);
}

fn all_true(t: &mut Translator, ty: Type) {
    let a = t.pop_vector(ty);
    let c = t.b.ins().vall_true(a);
    let v = t.b.ins().uextend(I32, c);
    t.push(v);
}

fn bitmask(t: &mut Translator, ty: Type) {
    let a = t.pop_vector(ty);
    let v = t.b.ins().vhigh_bits(I32, a);
    t.push(v);
}

fn zeros(b: &mut B<'_>, ty: Type) -> Value {
    let c = b.func.dfg.constants.insert(vec![0u8; 16].into());
    b.ins().vconst(ty, c)
}

/// Adds neighbouring lanes into lanes twice as wide.
fn pairwise(b: &mut B<'_>, x: Value, signed: Signed) -> Value {
    let (low, high) = match signed {
        Signed::Yes => (b.ins().swiden_low(x), b.ins().swiden_high(x)),
        Signed::No => (b.ins().uwiden_low(x), b.ins().uwiden_high(x)),
    };
    b.ins().iadd_pairwise(low, high)
}

/// Signed products of neighbouring lanes, summed into lanes twice as wide.
fn dot(b: &mut B<'_>, x: Value, y: Value) -> Value {
    let xl = b.ins().swiden_low(x);
    let yl = b.ins().swiden_low(y);
    let low = b.ins().imul(xl, yl);
    let xh = b.ins().swiden_high(x);
    let yh = b.ins().swiden_high(y);
    let high = b.ins().imul(xh, yh);
    b.ins().iadd_pairwise(low, high)
}

fn extmul(t: &mut Translator, ty: Type, half: Half, signed: Signed) {
    binary(t, ty, |b, x, y| {
        let widen = |b: &mut B<'_>, v: Value| match (half, signed) {
            (Half::Low, Signed::Yes) => b.ins().swiden_low(v),
            (Half::High, Signed::Yes) => b.ins().swiden_high(v),
            (Half::Low, Signed::No) => b.ins().uwiden_low(v),
            (Half::High, Signed::No) => b.ins().uwiden_high(v),
        };
        let x = widen(b, x);
        let y = widen(b, y);
        b.ins().imul(x, y)
    });
}

/// `if l < r { y } else { x }`, lane by lane.
fn second_if_less(b: &mut B<'_>, ty: Type, x: Value, y: Value, l: Value, r: Value) -> Value {
    let mask = b.ins().fcmp(FloatCC::LessThan, l, r);
    let flags = cranelift_codegen::ir::MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
    let mask = b.ins().bitcast(ty, flags, mask);
    b.ins().bitselect(mask, y, x)
}

fn fused(t: &mut Translator, ty: Type, negate: Negate) {
    let c = t.pop_vector(ty);
    let (a, b) = pop2(t, ty);
    let a = match negate {
        Negate::Yes => t.b.ins().fneg(a),
        Negate::No => a,
    };
    let v = t.b.ins().fma(a, b, c);
    t.push(v);
}
