//! Conversions between value types.

use crate::error::Error;
use crate::translate::func::Translator;
use cranelift_codegen::ir::{types::*, InstBuilder, MemFlagsData, Type};
use wasmparser::Operator;

pub fn translate(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    use Operator as O;
    let a = match op {
        O::I32WrapI64
        | O::I64ExtendI32S
        | O::I64ExtendI32U
        | O::I32TruncF32S
        | O::I32TruncF32U
        | O::I32TruncF64S
        | O::I32TruncF64U
        | O::I64TruncF32S
        | O::I64TruncF32U
        | O::I64TruncF64S
        | O::I64TruncF64U
        | O::I32TruncSatF32S
        | O::I32TruncSatF32U
        | O::I32TruncSatF64S
        | O::I32TruncSatF64U
        | O::I64TruncSatF32S
        | O::I64TruncSatF32U
        | O::I64TruncSatF64S
        | O::I64TruncSatF64U
        | O::F32ConvertI32S
        | O::F32ConvertI32U
        | O::F32ConvertI64S
        | O::F32ConvertI64U
        | O::F64ConvertI32S
        | O::F64ConvertI32U
        | O::F64ConvertI64S
        | O::F64ConvertI64U
        | O::F32DemoteF64
        | O::F64PromoteF32
        | O::I32ReinterpretF32
        | O::I64ReinterpretF64
        | O::F32ReinterpretI32
        | O::F64ReinterpretI64
        | O::I32Extend8S
        | O::I32Extend16S
        | O::I64Extend8S
        | O::I64Extend16S
        | O::I64Extend32S => t.pop(),
        _ => return Ok(false),
    };
    let ins = t.b.ins();
    let v = match op {
        O::I32WrapI64 => ins.ireduce(I32, a),
        O::I64ExtendI32S => ins.sextend(I64, a),
        O::I64ExtendI32U => ins.uextend(I64, a),
        // Cranelift's conversions trap exactly where wasm's do: NaN is
        // BadConversionToInteger, anything out of range IntegerOverflow.
        O::I32TruncF32S | O::I32TruncF64S => ins.fcvt_to_sint(I32, a),
        O::I32TruncF32U | O::I32TruncF64U => ins.fcvt_to_uint(I32, a),
        O::I64TruncF32S | O::I64TruncF64S => ins.fcvt_to_sint(I64, a),
        O::I64TruncF32U | O::I64TruncF64U => ins.fcvt_to_uint(I64, a),
        O::I32TruncSatF32S | O::I32TruncSatF64S => ins.fcvt_to_sint_sat(I32, a),
        O::I32TruncSatF32U | O::I32TruncSatF64U => ins.fcvt_to_uint_sat(I32, a),
        O::I64TruncSatF32S | O::I64TruncSatF64S => ins.fcvt_to_sint_sat(I64, a),
        O::I64TruncSatF32U | O::I64TruncSatF64U => ins.fcvt_to_uint_sat(I64, a),
        O::F32ConvertI32S | O::F32ConvertI64S => ins.fcvt_from_sint(F32, a),
        O::F32ConvertI32U | O::F32ConvertI64U => ins.fcvt_from_uint(F32, a),
        O::F64ConvertI32S | O::F64ConvertI64S => ins.fcvt_from_sint(F64, a),
        O::F64ConvertI32U | O::F64ConvertI64U => ins.fcvt_from_uint(F64, a),
        O::F32DemoteF64 => ins.fdemote(F32, a),
        O::F64PromoteF32 => ins.fpromote(F64, a),
        O::I32ReinterpretF32 => ins.bitcast(I32, MemFlagsData::new(), a),
        O::I64ReinterpretF64 => ins.bitcast(I64, MemFlagsData::new(), a),
        O::F32ReinterpretI32 => ins.bitcast(F32, MemFlagsData::new(), a),
        O::F64ReinterpretI64 => ins.bitcast(F64, MemFlagsData::new(), a),
        O::I32Extend8S => return Ok(sign_extend(t, a, I8, I32)),
        O::I32Extend16S => return Ok(sign_extend(t, a, I16, I32)),
        O::I64Extend8S => return Ok(sign_extend(t, a, I8, I64)),
        O::I64Extend16S => return Ok(sign_extend(t, a, I16, I64)),
        O::I64Extend32S => return Ok(sign_extend(t, a, I32, I64)),
        _ => unreachable!("only the operators matched above reach here"),
    };
    t.push(v);
    Ok(true)
}

/// Sign-extends the low `narrow` bits of `a` to `wide`.
fn sign_extend(t: &mut Translator, a: cranelift_codegen::ir::Value, narrow: Type, wide: Type) -> bool {
    let low = t.b.ins().ireduce(narrow, a);
    let v = t.b.ins().sextend(wide, low);
    t.push(v);
    true
}
