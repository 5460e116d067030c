//! The scripts the compiler and runtime foundation is judged by: integer and float
//! arithmetic, conversions, memory, indirect calls, traps, `br_table` and one SIMD
//! file. Quick enough to run after every change.

const SUBSET: &[&str] = &[
    "i32",
    "i64",
    "f32",
    "f64",
    "conversions",
    "memory",
    "call_indirect",
    "traps",
    "br_table",
    "simd_i32x4_arith",
];

fn main() -> std::process::ExitCode {
    lucet_spectest::harness::test_main(
        &lucet_spectest::harness::corpus_dir("wasm-2.0"),
        Some(SUBSET),
    )
}
