//! Host functions the generated modules may import, defined the same way in both
//! engines. Calling them exercises the compiled wasm-to-host adapters and the host's
//! `Linker`, with every value type crossing the boundary.

use super::value::Value;

/// The value types host functions use (references stay inside the guest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    I32,
    I64,
    F32,
    F64,
    V128,
}

/// `(name, params, results)`, all imported from module `host`.
pub const FUNCS: &[(&str, &[Ty], &[Ty])] = &[
    ("i32_to_i32", &[Ty::I32], &[Ty::I32]),
    ("i64_i64_to_i64", &[Ty::I64, Ty::I64], &[Ty::I64]),
    ("f32_to_f64", &[Ty::F32], &[Ty::F64]),
    ("v128_i32_to_v128", &[Ty::V128, Ty::I32], &[Ty::V128]),
    (
        "mixed",
        &[Ty::I32, Ty::I64, Ty::F32, Ty::F64],
        &[Ty::F64, Ty::F32, Ty::I64, Ty::I32],
    ),
    ("nothing", &[], &[]),
];

pub const MODULE: &str = "host";

fn wat_name(t: Ty) -> &'static str {
    match t {
        Ty::I32 => "i32",
        Ty::I64 => "i64",
        Ty::F32 => "f32",
        Ty::F64 => "f64",
        Ty::V128 => "v128",
    }
}

/// A module that only imports [`FUNCS`]: the generator may import from it.
pub fn imports_module() -> Vec<u8> {
    let mut text = String::from("(module\n");
    for (name, params, results) in FUNCS {
        let p: Vec<&str> = params.iter().map(|&t| wat_name(t)).collect();
        let r: Vec<&str> = results.iter().map(|&t| wat_name(t)).collect();
        text.push_str(&format!(
            "  (import \"{MODULE}\" \"{name}\" (func (param {}) (result {})))\n",
            p.join(" "),
            r.join(" ")
        ));
    }
    text.push(')');
    wat::parse_str(&text).expect("the host import module is valid")
}

/// What a host function returns: a mix of its arguments' bits, the same in both
/// engines.
pub fn call(params: &[Value], results: &[Ty]) -> Vec<Value> {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for p in params {
        let bits = match *p {
            Value::I32(x) => x as u32 as u64,
            Value::I64(x) => x as u64,
            Value::F32(b) => b as u64,
            Value::F64(b) => b,
            Value::V128(b) => (b as u64) ^ ((b >> 64) as u64).rotate_left(29),
            Value::FuncRef { null } | Value::ExternRef { null } => null as u64,
        };
        h = (h ^ bits)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(23);
    }
    results
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let x = h.rotate_left(k as u32 * 13);
            match t {
                Ty::I32 => Value::I32(x as i32),
                Ty::I64 => Value::I64(x as i64),
                Ty::F32 => Value::f32(x as u32),
                Ty::F64 => Value::f64(x),
                Ty::V128 => Value::V128(((x as u128) << 64) | x.rotate_left(7) as u128),
            }
        })
        .collect()
}
