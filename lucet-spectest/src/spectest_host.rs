//! The `spectest` module that every script may import from.
//!
//! It is an ordinary wasm module compiled by lucetc and instantiated first in every
//! file, then registered under the name `spectest`; so its functions, globals, table
//! and memory reach importers through exactly the cross-instance linking that user
//! programs use. The print functions do nothing: the scripts never check output.

/// Source of the `spectest` module, with the exports the reference interpreter provides.
pub const SPECTEST_WAT: &str = r#"
(module
  (func (export "print"))
  (func (export "print_i32") (param i32))
  (func (export "print_i64") (param i64))
  (func (export "print_f32") (param f32))
  (func (export "print_f64") (param f64))
  (func (export "print_i32_f32") (param i32 f32))
  (func (export "print_f64_f64") (param f64 f64))
  (global (export "global_i32") i32 (i32.const 666))
  (global (export "global_i64") i64 (i64.const 666))
  (global (export "global_f32") f32 (f32.const 666.6))
  (global (export "global_f64") f64 (f64.const 666.6))
  (table (export "table") 10 20 funcref)
  (table (export "table64") i64 10 20 funcref)
  (memory (export "memory") 1 2)
)
"#;

/// The name scripts import it by.
pub const SPECTEST_NAME: &str = "spectest";

/// The module as wasm bytes.
pub fn spectest_wasm() -> Vec<u8> {
    // The text is a constant checked by the unit test below, so these cannot fail.
    let buf =
        wast::parser::ParseBuffer::new(SPECTEST_WAT).expect("the built-in spectest module lexes");
    let mut wat: wast::Wat<'_> =
        wast::parser::parse(&buf).expect("the built-in spectest module parses");
    wat.encode().expect("the built-in spectest module encodes")
}

#[cfg(test)]
mod tests {
    #[test]
    fn spectest_module_encodes() {
        assert!(super::spectest_wasm().starts_with(b"\0asm"));
    }
}
