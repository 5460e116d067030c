//! Values and run outcomes as C sees them.

#![allow(non_camel_case_types)]

use crate::error::{ApiError, ApiResult};
use lucet_runtime::{Val, ValType};

/// A WebAssembly value type: one of the `LUCET_VAL_*` constants. A plain integer
/// rather than a Rust enum, because C writes it and may write anything.
pub type lucet_val_type_t = u32;

pub const LUCET_VAL_I32: lucet_val_type_t = 0;
pub const LUCET_VAL_I64: lucet_val_type_t = 1;
pub const LUCET_VAL_F32: lucet_val_type_t = 2;
pub const LUCET_VAL_F64: lucet_val_type_t = 3;
pub const LUCET_VAL_V128: lucet_val_type_t = 4;
pub const LUCET_VAL_FUNCREF: lucet_val_type_t = 5;
pub const LUCET_VAL_EXTERNREF: lucet_val_type_t = 6;
/// An exception reference (only null can be passed in).
pub const LUCET_VAL_EXNREF: lucet_val_type_t = 7;

/// The payload of a [`lucet_val_t`]; which field is meaningful follows from its type.
#[repr(C)]
#[derive(Clone, Copy)]
pub union lucet_val_of_t {
    pub i32: i32,
    pub i64: i64,
    pub f32: f32,
    pub f64: f64,
    /// Little-endian, lane 0 first.
    pub v128: [u8; 16],
    /// A function or extern reference; 0 is null.
    pub r#ref: usize,
}

/// A typed WebAssembly value.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lucet_val_t {
    pub r#type: lucet_val_type_t,
    pub of: lucet_val_of_t,
}

pub(crate) fn type_from_c(t: lucet_val_type_t, what: &dyn Fn() -> String) -> ApiResult<ValType> {
    Ok(match t {
        LUCET_VAL_I32 => ValType::I32,
        LUCET_VAL_I64 => ValType::I64,
        LUCET_VAL_F32 => ValType::F32,
        LUCET_VAL_F64 => ValType::F64,
        LUCET_VAL_V128 => ValType::V128,
        LUCET_VAL_FUNCREF => ValType::FuncRef,
        LUCET_VAL_EXTERNREF => ValType::ExternRef,
        LUCET_VAL_EXNREF => ValType::ExnRef,
        other => {
            return Err(ApiError::invalid_argument(format!(
                "{} has type {other}, which is not a lucet_val_type_t; use one of the LUCET_VAL_* constants",
                what()
            )))
        }
    })
}

pub(crate) fn type_to_c(t: ValType) -> lucet_val_type_t {
    match t {
        ValType::I32 => LUCET_VAL_I32,
        ValType::I64 => LUCET_VAL_I64,
        ValType::F32 => LUCET_VAL_F32,
        ValType::F64 => LUCET_VAL_F64,
        ValType::V128 => LUCET_VAL_V128,
        ValType::FuncRef => LUCET_VAL_FUNCREF,
        ValType::ExternRef => LUCET_VAL_EXTERNREF,
        ValType::ExnRef => LUCET_VAL_EXNREF,
    }
}

impl lucet_val_t {
    /// The value, checking the type tag; `what` names it in the message.
    pub(crate) fn to_val(self, what: &dyn Fn() -> String) -> ApiResult<Val> {
        let ty = type_from_c(self.r#type, what)?;
        // SAFETY: every field of the union is plain old data that any bit pattern of
        // its size makes valid, and the union is 16 bytes, so reading the field the
        // tag names reads initialised bytes whatever C stored.
        Ok(unsafe {
            match ty {
                ValType::I32 => Val::I32(self.of.i32),
                ValType::I64 => Val::I64(self.of.i64),
                ValType::F32 => Val::F32(self.of.f32),
                ValType::F64 => Val::F64(self.of.f64),
                ValType::V128 => Val::V128(u128::from_le_bytes(self.of.v128)),
                ValType::FuncRef => Val::FuncRef(self.of.r#ref),
                ValType::ExternRef => Val::ExternRef(self.of.r#ref),
                ValType::ExnRef => Val::ExnRef(self.of.r#ref),
            }
        })
    }

    /// A value of type `ty` with every payload byte zero.
    pub(crate) fn zero(ty: ValType) -> lucet_val_t {
        lucet_val_t {
            r#type: type_to_c(ty),
            of: lucet_val_of_t { v128: [0; 16] },
        }
    }

    pub(crate) fn from_val(v: &Val) -> lucet_val_t {
        let mut out = lucet_val_t::zero(v.ty());
        match *v {
            Val::I32(x) => out.of.i32 = x,
            Val::I64(x) => out.of.i64 = x,
            Val::F32(x) => out.of.f32 = x,
            Val::F64(x) => out.of.f64 = x,
            Val::V128(x) => out.of.v128 = x.to_le_bytes(),
            Val::FuncRef(x) | Val::ExternRef(x) | Val::ExnRef(x) => out.of.r#ref = x,
            // Results are always one of the WebAssembly variants; the original Lucet's
            // variants only occur as arguments. Convert through the slot encoding
            // that `Val::ty` names all the same.
            other => out.of.v128 = other.to_slot(),
        }
        out
    }
}

/// How a run ended: one of the `LUCET_RUN_*` constants.
pub type lucet_run_state_t = u32;

/// The function returned; `nresults` values were written to the results array.
pub const LUCET_RUN_RETURNED: lucet_run_state_t = 0;
/// A host function yielded `yielded_value`: resume or reset the instance.
pub const LUCET_RUN_YIELDED: lucet_run_state_t = 1;
/// The guest called WASI `proc_exit(exit_code)`. Reset the instance before running it again.
pub const LUCET_RUN_EXITED: lucet_run_state_t = 2;
/// The guest trapped (`trap_code`); the call returned `LUCET_ERR_RUNTIME_FAULT`.
pub const LUCET_RUN_FAULTED: lucet_run_state_t = 3;
/// The run was stopped by a kill switch or a failing host function; the call returned
/// `LUCET_ERR_RUNTIME_TERMINATED`.
pub const LUCET_RUN_TERMINATED: lucet_run_state_t = 4;
/// The run did not start (bad arguments, wrong state); see the returned code.
pub const LUCET_RUN_NOT_STARTED: lucet_run_state_t = 5;

/// Why a guest trapped: one of the `LUCET_TRAP_*` constants.
pub type lucet_trap_code_t = u32;

pub const LUCET_TRAP_NONE: lucet_trap_code_t = 0;
pub const LUCET_TRAP_HEAP_OUT_OF_BOUNDS: lucet_trap_code_t = 1;
pub const LUCET_TRAP_STACK_OVERFLOW: lucet_trap_code_t = 2;
pub const LUCET_TRAP_INTEGER_DIV_BY_ZERO: lucet_trap_code_t = 3;
pub const LUCET_TRAP_INTEGER_OVERFLOW: lucet_trap_code_t = 4;
pub const LUCET_TRAP_BAD_CONVERSION_TO_INTEGER: lucet_trap_code_t = 5;
pub const LUCET_TRAP_UNREACHABLE: lucet_trap_code_t = 6;
pub const LUCET_TRAP_INDIRECT_CALL_TO_NULL: lucet_trap_code_t = 7;
pub const LUCET_TRAP_BAD_SIGNATURE: lucet_trap_code_t = 8;
pub const LUCET_TRAP_TABLE_OUT_OF_BOUNDS: lucet_trap_code_t = 9;
pub const LUCET_TRAP_NULL_REFERENCE: lucet_trap_code_t = 10;
pub const LUCET_TRAP_HEAP_MISALIGNED: lucet_trap_code_t = 11;
pub const LUCET_TRAP_UNKNOWN: lucet_trap_code_t = 12;

pub(crate) fn trap_to_c(t: lucet_runtime::TrapCode) -> lucet_trap_code_t {
    use lucet_runtime::TrapCode as T;
    #[allow(unreachable_patterns)]
    match t {
        T::HeapOutOfBounds => LUCET_TRAP_HEAP_OUT_OF_BOUNDS,
        T::StackOverflow => LUCET_TRAP_STACK_OVERFLOW,
        T::IntegerDivByZero => LUCET_TRAP_INTEGER_DIV_BY_ZERO,
        T::IntegerOverflow => LUCET_TRAP_INTEGER_OVERFLOW,
        T::BadConversionToInteger => LUCET_TRAP_BAD_CONVERSION_TO_INTEGER,
        T::Unreachable => LUCET_TRAP_UNREACHABLE,
        T::IndirectCallToNull => LUCET_TRAP_INDIRECT_CALL_TO_NULL,
        T::BadSignature => LUCET_TRAP_BAD_SIGNATURE,
        T::TableOutOfBounds => LUCET_TRAP_TABLE_OUT_OF_BOUNDS,
        T::NullReference => LUCET_TRAP_NULL_REFERENCE,
        T::HeapMisaligned => LUCET_TRAP_HEAP_MISALIGNED,
        _ => LUCET_TRAP_UNKNOWN,
    }
}

/// What a run or resume reports besides its return code.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lucet_run_result_t {
    pub state: lucet_run_state_t,
    /// The WASI exit code, when `state` is `LUCET_RUN_EXITED`.
    pub exit_code: u32,
    /// The value the host function passed to `lucet_vmctx_yield`, when `state` is
    /// `LUCET_RUN_YIELDED`.
    pub yielded_value: u64,
    /// Why the guest trapped, when `state` is `LUCET_RUN_FAULTED`.
    pub trap_code: lucet_trap_code_t,
    /// How many results were written, when `state` is `LUCET_RUN_RETURNED`.
    pub nresults: usize,
}

impl lucet_run_result_t {
    pub(crate) fn not_started() -> lucet_run_result_t {
        lucet_run_result_t {
            state: LUCET_RUN_NOT_STARTED,
            exit_code: 0,
            yielded_value: 0,
            trap_code: LUCET_TRAP_NONE,
            nresults: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_bad_tags_are_errors() {
        for v in [
            Val::I32(-5),
            Val::I64(1 << 40),
            Val::F32(1.5),
            Val::F64(-2.25),
            Val::V128(0x0102),
            Val::FuncRef(0),
        ] {
            assert_eq!(lucet_val_t::from_val(&v).to_val(&|| "x".into()).unwrap(), v);
        }
        let bad = lucet_val_t {
            r#type: 99,
            of: lucet_val_of_t { i64: 0 },
        };
        let err = bad.to_val(&|| "argument 0".into()).unwrap_err();
        assert!(
            err.message.contains("argument 0 has type 99"),
            "{}",
            err.message
        );
    }
}
