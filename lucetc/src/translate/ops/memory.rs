//! Scalar loads and stores, and the `memory.*` and `data.drop` instructions.

use crate::error::Error;
use crate::translate::func::Translator;
use crate::translate::vmctx::{heap_flags, WASM_PAGE_SHIFT};
use cranelift_codegen::ir::{types::*, InstBuilder, Opcode, TrapCode, Type, Value};
use lucet_module::{Builtin, MemoryIndex};
use wasmparser::{MemArg, Operator};

pub fn translate(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    use Operator as O;
    match op {
        O::I32Load { memarg } => load(t, memarg, Opcode::Load, I32, 4),
        O::I64Load { memarg } => load(t, memarg, Opcode::Load, I64, 8),
        O::F32Load { memarg } => load(t, memarg, Opcode::Load, F32, 4),
        O::F64Load { memarg } => load(t, memarg, Opcode::Load, F64, 8),
        O::I32Load8S { memarg } => load(t, memarg, Opcode::Sload8, I32, 1),
        O::I32Load8U { memarg } => load(t, memarg, Opcode::Uload8, I32, 1),
        O::I32Load16S { memarg } => load(t, memarg, Opcode::Sload16, I32, 2),
        O::I32Load16U { memarg } => load(t, memarg, Opcode::Uload16, I32, 2),
        O::I64Load8S { memarg } => load(t, memarg, Opcode::Sload8, I64, 1),
        O::I64Load8U { memarg } => load(t, memarg, Opcode::Uload8, I64, 1),
        O::I64Load16S { memarg } => load(t, memarg, Opcode::Sload16, I64, 2),
        O::I64Load16U { memarg } => load(t, memarg, Opcode::Uload16, I64, 2),
        O::I64Load32S { memarg } => load(t, memarg, Opcode::Sload32, I64, 4),
        O::I64Load32U { memarg } => load(t, memarg, Opcode::Uload32, I64, 4),
        O::I32Store { memarg } | O::I64Store { memarg } | O::F32Store { memarg } | O::F64Store { memarg } => {
            store(t, memarg, Opcode::Store)
        }
        O::I32Store8 { memarg } | O::I64Store8 { memarg } => store(t, memarg, Opcode::Istore8),
        O::I32Store16 { memarg } | O::I64Store16 { memarg } => store(t, memarg, Opcode::Istore16),
        O::I64Store32 { memarg } => store(t, memarg, Opcode::Istore32),
        O::MemorySize { mem } => {
            let mem = MemoryIndex::from_u32(*mem);
            let len = t.env.memory_length(&mut t.b, mem);
            let pages = t.b.ins().ushr_imm_s(len, WASM_PAGE_SHIFT);
            let v = if t.env.memory64(mem) { pages } else { t.b.ins().ireduce(I32, pages) };
            t.push(v);
        }
        O::MemoryGrow { mem } => {
            let mem = MemoryIndex::from_u32(*mem);
            let delta = t.pop();
            let delta = to_i64(t, delta);
            let index = t.b.ins().iconst(I32, i64::from(mem.as_u32()));
            let old = t
                .env
                .call_builtin(&mut t.b, Builtin::MemoryGrow, &[I32, I64], Some(I64), &[index, delta])
                .expect("memory.grow returns the old size");
            let v = if t.env.memory64(mem) { old } else { t.b.ins().ireduce(I32, old) };
            t.push(v);
        }
        O::MemoryFill { mem } => {
            let (dst, val, len) = t.pop3();
            let dst = to_i64(t, dst);
            let len = to_i64(t, len);
            let index = t.b.ins().iconst(I32, i64::from(*mem));
            t.env.call_checked_builtin(
                &mut t.b,
                Builtin::MemoryFill,
                &[I32, I64, I32, I64],
                &[index, dst, val, len],
                TrapCode::HEAP_OUT_OF_BOUNDS,
            );
        }
        O::MemoryCopy { dst_mem, src_mem } => {
            let (dst, src, len) = t.pop3();
            let dst = to_i64(t, dst);
            let src = to_i64(t, src);
            let len = to_i64(t, len);
            let dst_index = t.b.ins().iconst(I32, i64::from(*dst_mem));
            let src_index = t.b.ins().iconst(I32, i64::from(*src_mem));
            t.env.call_checked_builtin(
                &mut t.b,
                Builtin::MemoryCopy,
                &[I32, I64, I32, I64, I64],
                &[dst_index, dst, src_index, src, len],
                TrapCode::HEAP_OUT_OF_BOUNDS,
            );
        }
        O::MemoryInit { data_index, mem } => {
            let (dst, src, len) = t.pop3();
            let dst = to_i64(t, dst);
            let index = t.b.ins().iconst(I32, i64::from(*mem));
            let seg = t.b.ins().iconst(I32, i64::from(*data_index));
            t.env.call_checked_builtin(
                &mut t.b,
                Builtin::MemoryInit,
                &[I32, I32, I64, I32, I32],
                &[index, seg, dst, src, len],
                TrapCode::HEAP_OUT_OF_BOUNDS,
            );
        }
        O::DataDrop { data_index } => {
            let seg = t.b.ins().iconst(I32, i64::from(*data_index));
            t.env.call_builtin(&mut t.b, Builtin::DataDrop, &[I32], None, &[seg]);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Widens an `i32` (a 32-bit memory's address or length) to `i64`.
pub fn to_i64(t: &mut Translator, v: Value) -> Value {
    if t.b.func.dfg.value_type(v) == I64 {
        v
    } else {
        t.b.ins().uextend(I64, v)
    }
}

/// Pops the address operand of an access of `size` bytes and returns where it goes.
pub fn access_addr(t: &mut Translator, memarg: &MemArg, size: u32) -> (Value, i32) {
    let index = t.pop();
    t.env.heap_addr(&mut t.b, MemoryIndex::from_u32(memarg.memory), index, memarg.offset, size)
}

fn load(t: &mut Translator, memarg: &MemArg, opcode: Opcode, ty: Type, size: u32) {
    let (addr, offset) = access_addr(t, memarg, size);
    let flags = heap_flags(t.b.func);
    let ins = t.b.ins();
    let v = match opcode {
        Opcode::Load => ins.load(ty, flags, addr, offset),
        Opcode::Uload8 => ins.uload8(ty, flags, addr, offset),
        Opcode::Sload8 => ins.sload8(ty, flags, addr, offset),
        Opcode::Uload16 => ins.uload16(ty, flags, addr, offset),
        Opcode::Sload16 => ins.sload16(ty, flags, addr, offset),
        Opcode::Uload32 => ins.uload32(flags, addr, offset),
        Opcode::Sload32 => ins.sload32(flags, addr, offset),
        _ => unreachable!("only load opcodes are passed here"),
    };
    t.push(v);
}

fn store(t: &mut Translator, memarg: &MemArg, opcode: Opcode) {
    let value = t.pop();
    let size = match opcode {
        Opcode::Istore8 => 1,
        Opcode::Istore16 => 2,
        Opcode::Istore32 => 4,
        _ => t.b.func.dfg.value_type(value).bytes(),
    };
    let (addr, offset) = access_addr(t, memarg, size);
    let flags = heap_flags(t.b.func);
    let ins = t.b.ins();
    match opcode {
        Opcode::Store => ins.store(flags, value, addr, offset),
        Opcode::Istore8 => ins.istore8(flags, value, addr, offset),
        Opcode::Istore16 => ins.istore16(flags, value, addr, offset),
        Opcode::Istore32 => ins.istore32(flags, value, addr, offset),
        _ => unreachable!("only store opcodes are passed here"),
    };
}
