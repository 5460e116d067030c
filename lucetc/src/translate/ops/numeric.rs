//! Constants, and integer and float arithmetic and comparisons.

use crate::error::Error;
use crate::translate::func::Translator;
use cranelift_codegen::ir::{
    condcodes::{FloatCC, IntCC},
    types::*,
    InstBuilder, Value,
};
use wasmparser::Operator;

pub fn translate(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    use Operator as O;
    match op {
        O::I32Const { value } => {
            let v = t.b.ins().iconst(I32, i64::from(*value));
            t.push(v);
        }
        O::I64Const { value } => {
            let v = t.b.ins().iconst(I64, *value);
            t.push(v);
        }
        O::F32Const { value } => {
            let v = t.b.ins().f32const(f32::from_bits(value.bits()));
            t.push(v);
        }
        O::F64Const { value } => {
            let v = t.b.ins().f64const(f64::from_bits(value.bits()));
            t.push(v);
        }

        O::I32Eqz | O::I64Eqz => {
            let a = t.pop();
            let c = t.b.ins().icmp_imm_s(IntCC::Equal, a, 0);
            let v = t.b.ins().uextend(I32, c);
            t.push(v);
        }
        O::I32Eq | O::I64Eq => icmp(t, IntCC::Equal),
        O::I32Ne | O::I64Ne => icmp(t, IntCC::NotEqual),
        O::I32LtS | O::I64LtS => icmp(t, IntCC::SignedLessThan),
        O::I32LtU | O::I64LtU => icmp(t, IntCC::UnsignedLessThan),
        O::I32GtS | O::I64GtS => icmp(t, IntCC::SignedGreaterThan),
        O::I32GtU | O::I64GtU => icmp(t, IntCC::UnsignedGreaterThan),
        O::I32LeS | O::I64LeS => icmp(t, IntCC::SignedLessThanOrEqual),
        O::I32LeU | O::I64LeU => icmp(t, IntCC::UnsignedLessThanOrEqual),
        O::I32GeS | O::I64GeS => icmp(t, IntCC::SignedGreaterThanOrEqual),
        O::I32GeU | O::I64GeU => icmp(t, IntCC::UnsignedGreaterThanOrEqual),

        O::F32Eq | O::F64Eq => fcmp(t, FloatCC::Equal),
        O::F32Ne | O::F64Ne => fcmp(t, FloatCC::NotEqual),
        O::F32Lt | O::F64Lt => fcmp(t, FloatCC::LessThan),
        O::F32Gt | O::F64Gt => fcmp(t, FloatCC::GreaterThan),
        O::F32Le | O::F64Le => fcmp(t, FloatCC::LessThanOrEqual),
        O::F32Ge | O::F64Ge => fcmp(t, FloatCC::GreaterThanOrEqual),

        O::I32Clz | O::I64Clz => unary(t, |b, a| b.ins().clz(a)),
        O::I32Ctz | O::I64Ctz => unary(t, |b, a| b.ins().ctz(a)),
        O::I32Popcnt | O::I64Popcnt => unary(t, |b, a| b.ins().popcnt(a)),
        O::I32Add | O::I64Add => binary(t, |b, x, y| b.ins().iadd(x, y)),
        O::I32Sub | O::I64Sub => binary(t, |b, x, y| b.ins().isub(x, y)),
        O::I32Mul | O::I64Mul => binary(t, |b, x, y| b.ins().imul(x, y)),
        O::I32DivS | O::I64DivS => binary(t, |b, x, y| b.ins().sdiv(x, y)),
        O::I32DivU | O::I64DivU => binary(t, |b, x, y| b.ins().udiv(x, y)),
        O::I32RemS | O::I64RemS => binary(t, |b, x, y| b.ins().srem(x, y)),
        O::I32RemU | O::I64RemU => binary(t, |b, x, y| b.ins().urem(x, y)),
        O::I32And | O::I64And => binary(t, |b, x, y| b.ins().band(x, y)),
        O::I32Or | O::I64Or => binary(t, |b, x, y| b.ins().bor(x, y)),
        O::I32Xor | O::I64Xor => binary(t, |b, x, y| b.ins().bxor(x, y)),
        // Cranelift's shifts and rotations take the amount modulo the width, as wasm does.
        O::I32Shl | O::I64Shl => binary(t, |b, x, y| b.ins().ishl(x, y)),
        O::I32ShrS | O::I64ShrS => binary(t, |b, x, y| b.ins().sshr(x, y)),
        O::I32ShrU | O::I64ShrU => binary(t, |b, x, y| b.ins().ushr(x, y)),
        O::I32Rotl | O::I64Rotl => binary(t, |b, x, y| b.ins().rotl(x, y)),
        O::I32Rotr | O::I64Rotr => binary(t, |b, x, y| b.ins().rotr(x, y)),

        O::F32Abs | O::F64Abs => unary(t, |b, a| b.ins().fabs(a)),
        O::F32Neg | O::F64Neg => unary(t, |b, a| b.ins().fneg(a)),
        O::F32Ceil | O::F64Ceil => unary(t, |b, a| b.ins().ceil(a)),
        O::F32Floor | O::F64Floor => unary(t, |b, a| b.ins().floor(a)),
        O::F32Trunc | O::F64Trunc => unary(t, |b, a| b.ins().trunc(a)),
        O::F32Nearest | O::F64Nearest => unary(t, |b, a| b.ins().nearest(a)),
        O::F32Sqrt | O::F64Sqrt => unary(t, |b, a| b.ins().sqrt(a)),
        O::F32Add | O::F64Add => binary(t, |b, x, y| b.ins().fadd(x, y)),
        O::F32Sub | O::F64Sub => binary(t, |b, x, y| b.ins().fsub(x, y)),
        O::F32Mul | O::F64Mul => binary(t, |b, x, y| b.ins().fmul(x, y)),
        O::F32Div | O::F64Div => binary(t, |b, x, y| b.ins().fdiv(x, y)),
        // Cranelift's fmin/fmax already follow wasm: NaN wins, and -0 < +0.
        O::F32Min | O::F64Min => binary(t, |b, x, y| b.ins().fmin(x, y)),
        O::F32Max | O::F64Max => binary(t, |b, x, y| b.ins().fmax(x, y)),
        O::F32Copysign | O::F64Copysign => binary(t, |b, x, y| b.ins().fcopysign(x, y)),
        _ => return Ok(false),
    }
    Ok(true)
}

type Builder<'b> = cranelift_frontend::FunctionBuilder<'b>;

fn unary(t: &mut Translator, f: impl FnOnce(&mut Builder<'_>, Value) -> Value) {
    let a = t.pop();
    let v = f(&mut t.b, a);
    t.push(v);
}

fn binary(t: &mut Translator, f: impl FnOnce(&mut Builder<'_>, Value, Value) -> Value) {
    let (x, y) = t.pop2();
    let v = f(&mut t.b, x, y);
    t.push(v);
}

fn icmp(t: &mut Translator, cc: IntCC) {
    let (x, y) = t.pop2();
    let c = t.b.ins().icmp(cc, x, y);
    let v = t.b.ins().uextend(I32, c);
    t.push(v);
}

fn fcmp(t: &mut Translator, cc: FloatCC) {
    let (x, y) = t.pop2();
    let c = t.b.ins().fcmp(cc, x, y);
    let v = t.b.ins().uextend(I32, c);
    t.push(v);
}
