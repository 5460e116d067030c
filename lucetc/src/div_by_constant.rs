//! Division and remainder by a constant, turned into multiplications and shifts.
//!
//! A hardware divide takes 25–90 cycles on x86-64; multiplying by a precomputed
//! reciprocal takes a few. C compilers do this rewrite themselves when they target a
//! native machine, but WebAssembly producers leave `i32.rem_u x, 139968` in the module
//! for the engine to handle, and Cranelift 0.112 does not rewrite it, so lucetc does,
//! on the translated function before Cranelift optimises it.
//!
//! The method is Granlund and Montgomery's ("Division by Invariant Integers using
//! Multiplication", 1994, theorem 4.2): for an N-bit dividend `x` and a divisor `d` with
//! `2^(s-1) < d < 2^s`, the multiplier `m = ceil(2^(N+s) / d)` satisfies
//! `m·d − 2^(N+s) < d ≤ 2^s`, hence `x / d = (x·m) >> (N+s)` for every `x < 2^N`. `m`
//! may need N+1 bits:
//! - for 32-bit division the product is formed in 64 bits, as the high half of
//!   `x · (m << (32 − s))`, which fits because `m < 2^33` and `s ≥ 1`;
//! - for 64-bit division, when `m ≥ 2^64`, `t = mulhi(x, m − 2^64)` and the quotient is
//!   `(((x − t) >> 1) + t) >> (s − 1)`, which is `(x + t) >> s` without the overflow.
//!
//! Signed division divides the magnitudes (the magnitude of the smallest integer is
//! `2^(N−1)`, still an unsigned N-bit number) and restores the sign, which gives the
//! truncating quotient WebAssembly specifies. Remainders are `x − (x / d)·d`. Powers of
//! two become shifts and masks. Divisors 0 and −1 are left alone: those are the cases
//! that trap (division by zero, and the overflow of `MIN / −1`), and the divide
//! instruction reports the trap.

use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::ir::{self, types, InstBuilder, InstructionData, Opcode, Type, Value, ValueDef};

/// The value of `v` if an `iconst` defines it.
fn constant(func: &ir::Function, v: Value) -> Option<i64> {
    match func.dfg.value_def(v) {
        ValueDef::Result(inst, _) => match func.dfg.insts[inst] {
            InstructionData::UnaryImm { opcode: Opcode::Iconst, imm } => Some(imm.bits()),
            _ => None,
        },
        _ => None,
    }
}

/// Rewrites every `udiv`, `urem`, `sdiv` and `srem` of an `i32` or `i64` by a constant
/// in `func`.
pub fn rewrite(func: &mut ir::Function) {
    let mut cursor = FuncCursor::new(func);
    while cursor.next_block().is_some() {
        while let Some(inst) = cursor.next_inst() {
            let InstructionData::Binary { opcode, args: [x, divisor] } = cursor.func.dfg.insts[inst] else {
                continue;
            };
            if !matches!(opcode, Opcode::Udiv | Opcode::Urem | Opcode::Sdiv | Opcode::Srem) {
                continue;
            }
            let ty = cursor.func.dfg.value_type(x);
            if ty != types::I32 && ty != types::I64 {
                continue;
            }
            let Some(d) = constant(cursor.func, divisor) else { continue };
            let bits = ty.bits();
            // Sign- or zero-extended to 64 bits as the operation reads it.
            let d = if bits == 32 {
                if matches!(opcode, Opcode::Sdiv | Opcode::Srem) {
                    d as i32 as i64
                } else {
                    d as u32 as i64
                }
            } else {
                d
            };
            let signed = matches!(opcode, Opcode::Sdiv | Opcode::Srem);
            if d == 0 || (signed && d == -1) {
                continue;
            }
            let srcloc = cursor.func.srcloc(inst);
            cursor.set_srcloc(srcloc);
            if opcode == Opcode::Urem && (d as u64).is_power_of_two() {
                cursor.func.replace(inst).band_imm_s(x, d.wrapping_sub(1));
                continue;
            }
            let quotient = match opcode {
                Opcode::Udiv | Opcode::Urem => unsigned_quotient(&mut cursor, x, ty, d as u64),
                _ => signed_quotient(&mut cursor, x, ty, d),
            };
            // The original instruction becomes the last step, keeping its result value.
            match opcode {
                Opcode::Udiv | Opcode::Sdiv => {
                    cursor.func.replace(inst).iadd_imm_s(quotient, 0);
                }
                _ => {
                    let product = cursor.ins().imul_imm_s(quotient, d);
                    cursor.func.replace(inst).isub(x, product);
                }
            }
        }
    }
}

/// `x / d` for unsigned `x` of type `ty`, `d` not zero.
fn unsigned_quotient(pos: &mut FuncCursor, x: Value, ty: Type, d: u64) -> Value {
    let bits = ty.bits();
    if d.is_power_of_two() {
        return pos.ins().ushr_imm_s(x, i64::from(d.trailing_zeros()));
    }
    if d > 1 << (bits - 1) {
        // The quotient is 0 or 1, and m would not fit in N + 1 bits.
        let at_least = pos.ins().icmp_imm_s(ir::condcodes::IntCC::UnsignedGreaterThanOrEqual, x, d as i64);
        return pos.ins().uextend(ty, at_least);
    }
    // 2^(s-1) < d < 2^s
    let s = 64 - (d - 1).leading_zeros();
    let n = bits;
    let m: u128 = ((1u128 << (n + s)) + u128::from(d) - 1) / u128::from(d);
    if bits == 32 {
        let wide = pos.ins().uextend(types::I64, x);
        let factor = pos.ins().iconst(types::I64, (m << (32 - s)) as u64 as i64);
        let high = pos.ins().umulhi(wide, factor);
        pos.ins().ireduce(types::I32, high)
    } else if m < (1u128 << 64) {
        let factor = pos.ins().iconst(types::I64, m as u64 as i64);
        let high = pos.ins().umulhi(x, factor);
        pos.ins().ushr_imm_s(high, i64::from(s))
    } else {
        let factor = pos.ins().iconst(types::I64, (m - (1u128 << 64)) as u64 as i64);
        let t = pos.ins().umulhi(x, factor);
        let diff = pos.ins().isub(x, t);
        let half = pos.ins().ushr_imm_s(diff, 1);
        let sum = pos.ins().iadd(half, t);
        pos.ins().ushr_imm_s(sum, i64::from(s - 1))
    }
}

/// `x / d` rounded toward zero for signed `x` of type `ty`, `d` neither 0 nor −1.
fn signed_quotient(pos: &mut FuncCursor, x: Value, ty: Type, d: i64) -> Value {
    if d == 1 {
        return pos.ins().iadd_imm_s(x, 0);
    }
    // All ones when x is negative; |x| = (x ^ sign) - sign.
    let x_sign = pos.ins().sshr_imm_s(x, i64::from(ty.bits() - 1));
    let flipped = pos.ins().bxor(x, x_sign);
    let magnitude = pos.ins().isub(flipped, x_sign);
    let q = unsigned_quotient(pos, magnitude, ty, d.unsigned_abs());
    // All ones when the quotient is negative: x and d have different signs.
    let sign = if d < 0 { pos.ins().bnot(x_sign) } else { x_sign };
    let flipped = pos.ins().bxor(q, sign);
    pos.ins().isub(flipped, sign)
}
