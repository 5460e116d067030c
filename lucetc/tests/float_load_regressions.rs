//! Regression tests for two defects of the Cranelift line lucetc used before 0.135, both
//! in the x86-64 backend's folding of a scalar float load into a 128-bit operand:
//!
//! - `f64.copysign` of a loaded value computed the wrong sign;
//! - a scalar `f32`/`f64` load feeding `copysign`, `abs`, `neg`, `min`/`max`, a splat or
//!   a `replace_lane` read 16 bytes, so a load of the last bytes of memory trapped
//!   although it was in bounds (and, with a bounds-checked heap, read past the bound).
//!
//! Each case runs with the default heap (guard pages, no checks), and with a 64 KiB
//! bounds-checked reservation with and without a guard.

use lucet_runtime::{DlModule, Error, Limits, Linker, MmapRegion, Region, TrapCode, Val};
use lucetc::Lucetc;
use std::sync::Arc;

const PAGE: u32 = 65536;

const WAT: &str = r#"(module
  (memory (export "memory") 1 1)
  ;; copysign with the loaded value as the sign, and as the magnitude
  (func (export "f64_sign_from_load") (param i32 f64) (result f64)
    (f64.copysign (local.get 1) (f64.load (local.get 0))))
  (func (export "f64_magnitude_from_load") (param i32 f64) (result f64)
    (f64.copysign (f64.load (local.get 0)) (local.get 1)))
  (func (export "f32_sign_from_load") (param i32 f32) (result f32)
    (f32.copysign (local.get 1) (f32.load (local.get 0))))
  (func (export "f32_magnitude_from_load") (param i32 f32) (result f32)
    (f32.copysign (f32.load (local.get 0)) (local.get 1)))
  ;; the other consumers that take a vector operand
  (func (export "f64_abs") (param i32) (result f64) (f64.abs (f64.load (local.get 0))))
  (func (export "f64_neg") (param i32) (result f64) (f64.neg (f64.load (local.get 0))))
  (func (export "f64_min") (param i32 f64) (result f64) (f64.min (local.get 1) (f64.load (local.get 0))))
  (func (export "f64_max") (param i32 f64) (result f64) (f64.max (local.get 1) (f64.load (local.get 0))))
  (func (export "f32_abs") (param i32) (result f32) (f32.abs (f32.load (local.get 0))))
  (func (export "f32_neg") (param i32) (result f32) (f32.neg (f32.load (local.get 0))))
  (func (export "f32_min") (param i32 f32) (result f32) (f32.min (local.get 1) (f32.load (local.get 0))))
  (func (export "f32_max") (param i32 f32) (result f32) (f32.max (local.get 1) (f32.load (local.get 0))))
  (func (export "f64_splat") (param i32) (result f64)
    (f64x2.extract_lane 1 (f64x2.splat (f64.load (local.get 0)))))
  (func (export "f32_splat") (param i32) (result f32)
    (f32x4.extract_lane 3 (f32x4.splat (f32.load (local.get 0)))))
  (func (export "f64_replace_lane") (param i32) (result f64)
    (f64x2.extract_lane 1 (f64x2.replace_lane 1 (v128.const i64x2 0 0) (f64.load (local.get 0)))))
  (func (export "f32_replace_lane") (param i32) (result f32)
    (f32x4.extract_lane 2 (f32x4.replace_lane 2 (v128.const i64x2 0 0) (f32.load (local.get 0)))))
  (func (export "store_f64") (param i32 f64) (f64.store (local.get 0) (local.get 1)))
  (func (export "store_f32") (param i32 f32) (f32.store (local.get 0) (local.get 1)))
)"#;

struct Setup {
    _dir: tempfile::TempDir,
    _region: Arc<MmapRegion>,
    inst: lucet_runtime::InstanceHandle,
}

fn setup(configure: impl FnOnce(Lucetc) -> Lucetc) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("m.so");
    configure(Lucetc::try_from_bytes(WAT).unwrap()).shared_object_file(&so).unwrap();
    let module = DlModule::load_unresolved(&so).unwrap_or_else(|e| panic!("load: {e}"));
    let region = MmapRegion::create(1, &Limits::default()).unwrap();
    let inst = region
        .new_instance_builder(module)
        .with_linker(&Linker::new())
        .build()
        .unwrap_or_else(|e| panic!("instantiate: {e}"));
    Setup { _dir: dir, _region: region, inst }
}

fn configurations() -> Vec<(&'static str, Setup)> {
    vec![
        ("default heap", setup(|c| c)),
        ("64 KiB reservation, no guard", setup(|c| c.with_reserved_size(PAGE.into()).with_guard_size(0))),
        ("64 KiB reservation, 64 KiB guard", setup(|c| c.with_reserved_size(PAGE.into()).with_guard_size(PAGE.into()))),
    ]
}

fn call(inst: &mut lucet_runtime::InstanceHandle, f: &str, args: &[Val]) -> Result<Val, Error> {
    inst.run(f, args).map(|r| r.unwrap_returned().values().first().copied().unwrap_or(Val::I32(0)))
}

fn f64_of(v: Val) -> f64 {
    match v {
        Val::F64(x) => x,
        other => panic!("expected an f64, got {other:?}"),
    }
}

fn f32_of(v: Val) -> f32 {
    match v {
        Val::F32(x) => x,
        other => panic!("expected an f32, got {other:?}"),
    }
}

const F64_VALUES: [f64; 6] = [1.5, -1.5, 0.0, -0.0, f64::INFINITY, -3.25e300];
const F32_VALUES: [f32; 6] = [1.5, -1.5, 0.0, -0.0, f32::NEG_INFINITY, 7.0e30];

#[test]
fn copysign_of_a_loaded_value_takes_the_right_sign() {
    for (config, mut s) in configurations() {
        // The last 8 (or 4) bytes of memory, and an address far from the end.
        for addr in [PAGE - 8, 64] {
            for stored in F64_VALUES {
                call(&mut s.inst, "store_f64", &[Val::I32(addr as i32), Val::F64(stored)]).unwrap();
                for other in F64_VALUES {
                    let got = f64_of(call(&mut s.inst, "f64_sign_from_load", &[Val::I32(addr as i32), Val::F64(other)]).unwrap());
                    assert_eq!(got.to_bits(), other.copysign(stored).to_bits(), "{config}: copysign({other}, load {stored}) at {addr}");
                    let got = f64_of(call(&mut s.inst, "f64_magnitude_from_load", &[Val::I32(addr as i32), Val::F64(other)]).unwrap());
                    assert_eq!(got.to_bits(), stored.copysign(other).to_bits(), "{config}: copysign(load {stored}, {other}) at {addr}");
                }
            }
        }
        for addr in [PAGE - 4, 64] {
            for stored in F32_VALUES {
                call(&mut s.inst, "store_f32", &[Val::I32(addr as i32), Val::F32(stored)]).unwrap();
                for other in F32_VALUES {
                    let got = f32_of(call(&mut s.inst, "f32_sign_from_load", &[Val::I32(addr as i32), Val::F32(other)]).unwrap());
                    assert_eq!(got.to_bits(), other.copysign(stored).to_bits(), "{config}: copysign({other}, load {stored}) at {addr}");
                    let got = f32_of(call(&mut s.inst, "f32_magnitude_from_load", &[Val::I32(addr as i32), Val::F32(other)]).unwrap());
                    assert_eq!(got.to_bits(), stored.copysign(other).to_bits(), "{config}: copysign(load {stored}, {other}) at {addr}");
                }
            }
        }
    }
}

#[test]
fn float_loads_at_the_end_of_memory_do_not_trap() {
    let x64 = -2.75f64;
    let x32 = -2.75f32;
    for (config, mut s) in configurations() {
        let last64 = Val::I32((PAGE - 8) as i32);
        let last32 = Val::I32((PAGE - 4) as i32);
        call(&mut s.inst, "store_f64", &[last64, Val::F64(x64)]).unwrap();
        let f64_cases: [(&str, Vec<Val>, f64); 6] = [
            ("f64_abs", vec![last64], x64.abs()),
            ("f64_neg", vec![last64], -x64),
            ("f64_min", vec![last64, Val::F64(1.0)], x64.min(1.0)),
            ("f64_max", vec![last64, Val::F64(-9.0)], x64.max(-9.0)),
            ("f64_splat", vec![last64], x64),
            ("f64_replace_lane", vec![last64], x64),
        ];
        for (f, args, want) in f64_cases {
            let got = call(&mut s.inst, f, &args).unwrap_or_else(|e| panic!("{config}: {f} at the last 8 bytes: {e}"));
            assert_eq!(f64_of(got).to_bits(), want.to_bits(), "{config}: {f}");
        }
        call(&mut s.inst, "store_f32", &[last32, Val::F32(x32)]).unwrap();
        let f32_cases: [(&str, Vec<Val>, f32); 6] = [
            ("f32_abs", vec![last32], x32.abs()),
            ("f32_neg", vec![last32], -x32),
            ("f32_min", vec![last32, Val::F32(1.0)], x32.min(1.0)),
            ("f32_max", vec![last32, Val::F32(-9.0)], x32.max(-9.0)),
            ("f32_splat", vec![last32], x32),
            ("f32_replace_lane", vec![last32], x32),
        ];
        for (f, args, want) in f32_cases {
            let got = call(&mut s.inst, f, &args).unwrap_or_else(|e| panic!("{config}: {f} at the last 4 bytes: {e}"));
            assert_eq!(f32_of(got).to_bits(), want.to_bits(), "{config}: {f}");
        }
        // One byte further is out of bounds, and must trap as such.
        for (f, addr) in [("f64_abs", PAGE - 7), ("f32_abs", PAGE - 3)] {
            match call(&mut s.inst, f, &[Val::I32(addr as i32)]) {
                Err(Error::RuntimeFault(d)) => assert_eq!(d.trap_code, TrapCode::HeapOutOfBounds, "{config}: {f}"),
                other => panic!("{config}: {f} at {addr}: expected a trap, got {other:?}"),
            }
        }
    }
}
