//! Converting between the script's constants and runtime values, and matching
//! results against the script's expectations.
//!
//! `externref` values are host words in the runtime where 0 means null, while the
//! script's `(ref.extern N)` may use any `N` including 0; so `(ref.extern N)` is
//! passed as `Val::ExternRef(N + 1)` and read back the same way.

use lucet_runtime::Val;
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::token::{F32, F64};
use wast::{WastArg, WastRet};

/// The runtime word for `(ref.extern n)`.
pub fn extern_ref(n: u32) -> Val {
    Val::ExternRef(n as usize + 1)
}

/// Converts an `invoke` argument.
pub fn arg_to_val(arg: &WastArg<'_>) -> Result<Val, String> {
    let core = match arg {
        WastArg::Core(c) => c,
        WastArg::Component(_) => return Err("component-model arguments are not supported".into()),
        _ => return Err("this kind of argument is not supported".into()),
    };
    Ok(match core {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(f32::from_bits(v.bits)),
        WastArgCore::F64(v) => Val::F64(f64::from_bits(v.bits)),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(heap) => match abstract_heap(heap)? {
            RefKind::Func => Val::FuncRef(0),
            RefKind::Extern => Val::ExternRef(0),
            RefKind::Exn => Val::ExnRef(0),
        },
        WastArgCore::RefExtern(n) => extern_ref(*n),
        WastArgCore::RefHost(_) => {
            return Err("`ref.host` arguments are not supported (GC proposal)".into())
        }
    })
}

enum RefKind {
    Func,
    Extern,
    Exn,
}

fn abstract_heap(heap: &HeapType<'_>) -> Result<RefKind, String> {
    match heap {
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Func | AbstractHeapType::NoFunc,
        } => Ok(RefKind::Func),
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Extern | AbstractHeapType::NoExtern,
        } => Ok(RefKind::Extern),
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Exn | AbstractHeapType::NoExn,
        } => Ok(RefKind::Exn),
        other => Err(format!(
            "reference type {other:?} is not supported (only funcref and externref)"
        )),
    }
}

/// Renders a value the way the script would write it.
pub fn show(val: &Val) -> String {
    match *val {
        Val::I32(v) => format!("(i32.const {v})"),
        Val::I64(v) => format!("(i64.const {v})"),
        Val::F32(v) => format!("(f32.const {} (0x{:08x}))", v, v.to_bits()),
        Val::F64(v) => format!("(f64.const {} (0x{:016x}))", v, v.to_bits()),
        Val::V128(v) => {
            let lanes: Vec<String> = (0..4)
                .map(|i| format!("0x{:08x}", (v >> (32 * i)) as u32))
                .collect();
            format!("(v128.const i32x4 {})", lanes.join(" "))
        }
        Val::FuncRef(0) => "(ref.null func)".into(),
        Val::FuncRef(p) => format!("(ref.func @{p:#x})"),
        Val::ExternRef(0) => "(ref.null extern)".into(),
        Val::ExternRef(n) => format!("(ref.extern {})", n - 1),
        Val::ExnRef(0) => "(ref.null exn)".into(),
        Val::ExnRef(_) => "(ref.exn)".into(),
        // Results are always read back as a wasm type; other variants only go in.
        other => format!("({} {other})", other.type_name()),
    }
}

/// Renders an expectation for failure messages.
pub fn show_expected(ret: &WastRet<'_>) -> String {
    match ret {
        WastRet::Core(c) => show_core_expected(c),
        WastRet::Component(_) => "<component value>".into(),
        _ => "<unsupported value>".into(),
    }
}

fn show_nan32(p: &NanPattern<F32>) -> String {
    match p {
        NanPattern::CanonicalNan => "nan:canonical".into(),
        NanPattern::ArithmeticNan => "nan:arithmetic".into(),
        NanPattern::Value(v) => format!("{} (0x{:08x})", f32::from_bits(v.bits), v.bits),
    }
}

fn show_nan64(p: &NanPattern<F64>) -> String {
    match p {
        NanPattern::CanonicalNan => "nan:canonical".into(),
        NanPattern::ArithmeticNan => "nan:arithmetic".into(),
        NanPattern::Value(v) => format!("{} (0x{:016x})", f64::from_bits(v.bits), v.bits),
    }
}

fn show_core_expected(c: &WastRetCore<'_>) -> String {
    let join = |v: Vec<String>| v.join(" ");
    match c {
        WastRetCore::I32(v) => format!("(i32.const {v})"),
        WastRetCore::I64(v) => format!("(i64.const {v})"),
        WastRetCore::F32(p) => format!("(f32.const {})", show_nan32(p)),
        WastRetCore::F64(p) => format!("(f64.const {})", show_nan64(p)),
        WastRetCore::V128(p) => match p {
            V128Pattern::I8x16(l) => format!(
                "(v128.const i8x16 {})",
                join(l.iter().map(|x| x.to_string()).collect())
            ),
            V128Pattern::I16x8(l) => format!(
                "(v128.const i16x8 {})",
                join(l.iter().map(|x| x.to_string()).collect())
            ),
            V128Pattern::I32x4(l) => format!(
                "(v128.const i32x4 {})",
                join(l.iter().map(|x| x.to_string()).collect())
            ),
            V128Pattern::I64x2(l) => format!(
                "(v128.const i64x2 {})",
                join(l.iter().map(|x| x.to_string()).collect())
            ),
            V128Pattern::F32x4(l) => format!(
                "(v128.const f32x4 {})",
                join(l.iter().map(show_nan32).collect())
            ),
            V128Pattern::F64x2(l) => format!(
                "(v128.const f64x2 {})",
                join(l.iter().map(show_nan64).collect())
            ),
        },
        WastRetCore::RefNull(Some(h)) => match abstract_heap(h) {
            Ok(RefKind::Func) => "(ref.null func)".into(),
            Ok(RefKind::Extern) => "(ref.null extern)".into(),
            Ok(RefKind::Exn) => "(ref.null exn)".into(),
            Err(_) => format!("(ref.null {h:?})"),
        },
        WastRetCore::RefNull(None) => "(ref.null)".into(),
        WastRetCore::RefExtern(Some(n)) => format!("(ref.extern {n})"),
        WastRetCore::RefExtern(None) => "(ref.extern)".into(),
        WastRetCore::RefFunc(_) => "(ref.func)".into(),
        WastRetCore::Either(alts) => format!(
            "(either {})",
            join(alts.iter().map(show_core_expected).collect())
        ),
        other => format!("{other:?}"),
    }
}

fn f32_matches(p: &NanPattern<F32>, bits: u32) -> bool {
    let is_nan = bits & 0x7f80_0000 == 0x7f80_0000 && bits & 0x007f_ffff != 0;
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => is_nan && bits & 0x0040_0000 != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_matches(p: &NanPattern<F64>, bits: u64) -> bool {
    let exp = 0x7ff0_0000_0000_0000u64;
    let is_nan = bits & exp == exp && bits & 0x000f_ffff_ffff_ffff != 0;
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => is_nan && bits & 0x0008_0000_0000_0000 != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn v128_matches(p: &V128Pattern, v: u128) -> bool {
    let lane = |bits: u32, i: usize| (v >> (bits as usize * i)) & ((1u128 << bits) - 1);
    match p {
        V128Pattern::I8x16(l) => l
            .iter()
            .enumerate()
            .all(|(i, x)| lane(8, i) == *x as u8 as u128),
        V128Pattern::I16x8(l) => l
            .iter()
            .enumerate()
            .all(|(i, x)| lane(16, i) == *x as u16 as u128),
        V128Pattern::I32x4(l) => l
            .iter()
            .enumerate()
            .all(|(i, x)| lane(32, i) == *x as u32 as u128),
        V128Pattern::I64x2(l) => l
            .iter()
            .enumerate()
            .all(|(i, x)| lane(64, i) == *x as u64 as u128),
        V128Pattern::F32x4(l) => l
            .iter()
            .enumerate()
            .all(|(i, p)| f32_matches(p, lane(32, i) as u32)),
        V128Pattern::F64x2(l) => l
            .iter()
            .enumerate()
            .all(|(i, p)| f64_matches(p, lane(64, i) as u64)),
    }
}

/// Whether `actual` satisfies the expectation `expected`.
pub fn matches(expected: &WastRet<'_>, actual: &Val) -> Result<bool, String> {
    match expected {
        WastRet::Core(c) => core_matches(c, actual),
        WastRet::Component(_) => Err("component-model results are not supported".into()),
        _ => Err("this kind of result is not supported".into()),
    }
}

fn core_matches(expected: &WastRetCore<'_>, actual: &Val) -> Result<bool, String> {
    Ok(match (expected, actual) {
        (WastRetCore::I32(e), Val::I32(a)) => e == a,
        (WastRetCore::I64(e), Val::I64(a)) => e == a,
        (WastRetCore::F32(p), Val::F32(a)) => f32_matches(p, a.to_bits()),
        (WastRetCore::F64(p), Val::F64(a)) => f64_matches(p, a.to_bits()),
        (WastRetCore::V128(p), Val::V128(a)) => v128_matches(p, *a),
        (WastRetCore::RefNull(heap), Val::FuncRef(a)) => {
            *a == 0
                && heap.as_ref().map_or(Ok(true), |h| {
                    abstract_heap(h).map(|k| matches!(k, RefKind::Func))
                })?
        }
        (WastRetCore::RefNull(heap), Val::ExternRef(a)) => {
            *a == 0
                && heap.as_ref().map_or(Ok(true), |h| {
                    abstract_heap(h).map(|k| matches!(k, RefKind::Extern))
                })?
        }
        (WastRetCore::RefNull(heap), Val::ExnRef(a)) => {
            *a == 0
                && heap.as_ref().map_or(Ok(true), |h| {
                    abstract_heap(h).map(|k| matches!(k, RefKind::Exn))
                })?
        }
        (WastRetCore::RefExtern(None), Val::ExternRef(a)) => *a != 0,
        (WastRetCore::RefExtern(Some(n)), Val::ExternRef(a)) => {
            Val::ExternRef(*a) == extern_ref(*n)
        }
        // The script cannot name a particular function instance, only that the
        // reference is not null.
        (WastRetCore::RefFunc(_), Val::FuncRef(a)) => *a != 0,
        (WastRetCore::Either(alts), a) => {
            for alt in alts {
                if core_matches(alt, a)? {
                    return Ok(true);
                }
            }
            false
        }
        (
            WastRetCore::RefHost(_)
            | WastRetCore::RefAny
            | WastRetCore::RefEq
            | WastRetCore::RefArray
            | WastRetCore::RefStruct
            | WastRetCore::RefI31
            | WastRetCore::RefI31Shared,
            _,
        ) => {
            return Err(format!(
                "expectation {} needs the GC proposal, which is not supported",
                show_core_expected(expected)
            ))
        }
        _ => false,
    })
}
