//! Corrupted modules must come back as errors, never as panics or internal errors.

use lucetc::{Error, Lucetc};

const SEED_MODULE: &str = r#"(module
  (import "env" "f" (func $f (param i32) (result i32)))
  (memory 1 2)
  (table 2 funcref)
  (global $g (mut i32) (i32.const 1))
  (elem (i32.const 0) $a $b)
  (data (i32.const 8) "xyz")
  (func $a (param i32) (result i32) local.get 0 i32.load8_u offset=3 global.get $g i32.add)
  (func $b (param i32) (result i32)
    (block (result i32) (i32.const 3) local.get 0 br_if 0 call $f i32.const 1 call_indirect (param i32) (result i32)))
  (func (export "v") (param v128 i64) (result v128 i64)
    local.get 0 local.get 0 i8x16.add local.get 1 i64.const 3 i64.rem_u)
  (func (export "bulk") (param i32) local.get 0 i32.const 0 i32.const 4 memory.fill
    i32.const 0 i32.const 1 i32.const 1 table.copy))"#;

#[test]
fn mutated_modules_never_panic() {
    let wasm = wat::parse_str(SEED_MODULE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    Lucetc::try_from_bytes(&wasm).unwrap().object_file(dir.path().join("seed.o")).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 7;
        x ^= x >> 9;
        x
    };
    let (mut accepted, mut rejected) = (0, 0);
    for i in 0..500 {
        let mut m = wasm.clone();
        for _ in 0..1 + next() % 3 {
            let at = 8 + (next() as usize) % (m.len() - 8);
            m[at] = next() as u8;
        }
        let out = dir.path().join(format!("{i}.o"));
        match Lucetc::try_from_bytes(&m).and_then(|c| c.object_file(&out)) {
            Ok(()) => accepted += 1,
            Err(Error::Internal(e)) => panic!("internal error on mutation {i}: {e}"),
            Err(_) => {
                rejected += 1;
                assert!(!out.exists());
            }
        }
    }
    eprintln!("{accepted} accepted, {rejected} rejected");
    assert!(accepted > 0 && rejected > 0);
}
