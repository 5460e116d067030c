//! Every load and store width at the last bytes of a one-page memory, each feeding the
//! kinds of instruction that Cranelift may fold a load into.
//!
//! The module is generated here: one exported function per (access, consumer) pair that
//! takes an address. The same 32-byte pattern lies just below the end of memory and at
//! a reference address far from it, so an access that is in bounds must return exactly
//! what the same access returns at the reference address, and one that is not must trap
//! with `HeapOutOfBounds`. A backend that widens an access (reads 16 bytes for a scalar
//! float, say) traps where it must not, or reads past a checked bound.

use lucet_runtime::{DlModule, Error, Limits, Linker, MmapRegion, Region, TrapCode, Val};
use lucetc::Lucetc;

const PAGE: u32 = 65536;
/// Where the copy of the pattern far from the end of memory ends.
const REFERENCE_END: u32 = 4096;

/// A memory access: its wat, its width in bytes and the type it leaves on the stack.
struct Access {
    name: &'static str,
    /// Instructions that turn the address on the stack into a value (or store one).
    code: &'static str,
    size: u32,
    result: Ty,
}

#[derive(Clone, Copy, PartialEq)]
enum Ty {
    I32,
    I64,
    F32,
    F64,
    V128,
    None,
}

const ACCESSES: &[Access] = &[
    Access { name: "i32_load", code: "i32.load", size: 4, result: Ty::I32 },
    Access { name: "i32_load8_s", code: "i32.load8_s", size: 1, result: Ty::I32 },
    Access { name: "i32_load8_u", code: "i32.load8_u", size: 1, result: Ty::I32 },
    Access { name: "i32_load16_s", code: "i32.load16_s", size: 2, result: Ty::I32 },
    Access { name: "i32_load16_u", code: "i32.load16_u", size: 2, result: Ty::I32 },
    Access { name: "i64_load", code: "i64.load", size: 8, result: Ty::I64 },
    Access { name: "i64_load8_s", code: "i64.load8_s", size: 1, result: Ty::I64 },
    Access { name: "i64_load16_u", code: "i64.load16_u", size: 2, result: Ty::I64 },
    Access { name: "i64_load32_s", code: "i64.load32_s", size: 4, result: Ty::I64 },
    Access { name: "i64_load32_u", code: "i64.load32_u", size: 4, result: Ty::I64 },
    Access { name: "f32_load", code: "f32.load", size: 4, result: Ty::F32 },
    Access { name: "f64_load", code: "f64.load", size: 8, result: Ty::F64 },
    Access { name: "v128_load", code: "v128.load", size: 16, result: Ty::V128 },
    Access { name: "load8x8_s", code: "v128.load8x8_s", size: 8, result: Ty::V128 },
    Access { name: "load16x4_u", code: "v128.load16x4_u", size: 8, result: Ty::V128 },
    Access { name: "load32x2_s", code: "v128.load32x2_s", size: 8, result: Ty::V128 },
    Access { name: "load8_splat", code: "v128.load8_splat", size: 1, result: Ty::V128 },
    Access { name: "load16_splat", code: "v128.load16_splat", size: 2, result: Ty::V128 },
    Access { name: "load32_splat", code: "v128.load32_splat", size: 4, result: Ty::V128 },
    Access { name: "load64_splat", code: "v128.load64_splat", size: 8, result: Ty::V128 },
    Access { name: "load32_zero", code: "v128.load32_zero", size: 4, result: Ty::V128 },
    Access { name: "load64_zero", code: "v128.load64_zero", size: 8, result: Ty::V128 },
    Access { name: "load8_lane", code: "(v128.const i64x2 -1 -1) v128.load8_lane 3", size: 1, result: Ty::V128 },
    Access { name: "load16_lane", code: "(v128.const i64x2 -1 -1) v128.load16_lane 1", size: 2, result: Ty::V128 },
    Access { name: "load32_lane", code: "(v128.const i64x2 -1 -1) v128.load32_lane 2", size: 4, result: Ty::V128 },
    Access { name: "load64_lane", code: "(v128.const i64x2 -1 -1) v128.load64_lane 1", size: 8, result: Ty::V128 },
    Access { name: "i32_store", code: "i32.const 0x01020304 i32.store", size: 4, result: Ty::None },
    Access { name: "i32_store8", code: "i32.const 7 i32.store8", size: 1, result: Ty::None },
    Access { name: "i32_store16", code: "i32.const 7 i32.store16", size: 2, result: Ty::None },
    Access { name: "i64_store", code: "i64.const 7 i64.store", size: 8, result: Ty::None },
    Access { name: "i64_store32", code: "i64.const 7 i64.store32", size: 4, result: Ty::None },
    Access { name: "f32_store", code: "f32.const -1.5 f32.store", size: 4, result: Ty::None },
    Access { name: "f64_store", code: "f64.const -1.5 f64.store", size: 8, result: Ty::None },
    Access { name: "v128_store", code: "v128.const i32x4 1 2 3 4 v128.store", size: 16, result: Ty::None },
    Access { name: "store8_lane", code: "v128.const i32x4 1 2 3 4 v128.store8_lane 4", size: 1, result: Ty::None },
    Access { name: "store64_lane", code: "v128.const i32x4 1 2 3 4 v128.store64_lane 1", size: 8, result: Ty::None },
];

/// What a value of each type can feed, each ending in an `i64` to compare.
fn consumers(ty: Ty) -> &'static [(&'static str, &'static str)] {
    match ty {
        Ty::I32 => &[("add", "i32.const 1 i32.add i64.extend_i32_u"), ("mul", "i32.const 3 i32.mul i64.extend_i32_s")],
        Ty::I64 => &[("add", "i64.const 1 i64.add"), ("shl", "i64.const 3 i64.shl")],
        Ty::F32 => &[
            ("add", "f32.const 1 f32.add i32.reinterpret_f32 i64.extend_i32_u"),
            ("copysign", "f32.const -1 f32.copysign i32.reinterpret_f32 i64.extend_i32_u"),
            ("copysign_from", "local.set $f32 f32.const 2 local.get $f32 f32.copysign i32.reinterpret_f32 i64.extend_i32_u"),
            ("abs", "f32.abs i32.reinterpret_f32 i64.extend_i32_u"),
            ("neg", "f32.neg i32.reinterpret_f32 i64.extend_i32_u"),
            ("min", "f32.const 0.5 f32.min i32.reinterpret_f32 i64.extend_i32_u"),
            ("max", "f32.const 0.5 f32.max i32.reinterpret_f32 i64.extend_i32_u"),
            ("convert", "i64.trunc_sat_f32_s"),
            ("promote", "f64.promote_f32 i64.reinterpret_f64"),
            ("splat", "f32x4.splat f32x4.extract_lane 2 i32.reinterpret_f32 i64.extend_i32_u"),
            ("replace_lane", "local.set $f32 v128.const i32x4 0 0 0 0 local.get $f32 f32x4.replace_lane 1 i64x2.extract_lane 0"),
        ],
        Ty::F64 => &[
            ("add", "f64.const 1 f64.add i64.reinterpret_f64"),
            ("copysign", "f64.const -1 f64.copysign i64.reinterpret_f64"),
            ("copysign_from", "local.set $f64 f64.const 2 local.get $f64 f64.copysign i64.reinterpret_f64"),
            ("abs", "f64.abs i64.reinterpret_f64"),
            ("neg", "f64.neg i64.reinterpret_f64"),
            ("min", "f64.const 0.5 f64.min i64.reinterpret_f64"),
            ("max", "f64.const 0.5 f64.max i64.reinterpret_f64"),
            ("convert", "i64.trunc_sat_f64_u"),
            ("demote", "f32.demote_f64 i32.reinterpret_f32 i64.extend_i32_u"),
            ("splat", "f64x2.splat f64x2.extract_lane 1 i64.reinterpret_f64"),
            ("replace_lane", "local.set $f64 v128.const i32x4 0 0 0 0 local.get $f64 f64x2.replace_lane 1 i64x2.extract_lane 1"),
        ],
        Ty::V128 => &[
            ("lanes", "local.set $v local.get $v i64x2.extract_lane 0 local.get $v i64x2.extract_lane 1 i64.xor"),
            ("add", "v128.const i32x4 1 1 1 1 i32x4.add i64x2.extract_lane 1"),
            ("fmin", "v128.const f32x4 0 0 0 0 f32x4.min i64x2.extract_lane 0"),
            ("bitmask", "i8x16.bitmask i64.extend_i32_u"),
        ],
        // A store's effect is read back: the 32 bytes that end at the next 4 KiB boundary
        // (the end of memory, or the end of the reference copy).
        Ty::None => &[(
            "store",
            "local.get $a i32.const -4096 i32.and i32.const 4064 i32.add local.tee $a v128.load \
             local.get $a v128.load offset=16 i64x2.extract_lane 1 local.set $v128_high \
             i64x2.extract_lane 0 local.get $v128_high i64.const 1 i64.rotl i64.xor",
        )],
    }
}

/// The module: the pattern at the end of memory and at the reference address, and one
/// function per case.
fn module() -> (String, Vec<(String, u32)>) {
    let pattern: String = (0..32u8).map(|i| format!("\\{:02x}", 0x80u8.wrapping_add(i.wrapping_mul(37)))).collect();
    let mut wat = String::from("(module (memory 1 1)\n");
    wat.push_str(&format!("  (data (i32.const {}) \"{pattern}\")\n", PAGE - 32));
    wat.push_str(&format!("  (data (i32.const {}) \"{pattern}\")\n", REFERENCE_END - 32));
    let mut cases = Vec::new();
    for access in ACCESSES {
        for (consumer, code) in consumers(access.result) {
            let name = format!("{}_{consumer}", access.name);
            wat.push_str(&format!(
                "  (func (export \"{name}\") (param $a i32) (result i64) (local $f32 f32) (local $f64 f64) (local $v v128) (local $v128_high i64)\n    local.get $a {} {code})\n",
                access.code
            ));
            cases.push((name, access.size));
        }
    }
    wat.push(')');
    (wat, cases)
}

fn run(inst: &mut lucet_runtime::InstanceHandle, f: &str, addr: u32) -> Result<i64, TrapCode> {
    match inst.run(f, &[Val::I32(addr as i32)]) {
        Ok(r) => match r.unwrap_returned().values() {
            [Val::I64(v)] => Ok(*v),
            other => panic!("{f}: unexpected results {other:?}"),
        },
        Err(Error::RuntimeFault(d)) => Err(d.trap_code),
        Err(e) => panic!("{f}({addr}): {e}"),
    }
}

fn check(label: &str, configure: impl Fn(Lucetc) -> Lucetc) {
    let (wat, cases) = module();
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("m.so");
    configure(Lucetc::try_from_bytes(&wat).unwrap()).shared_object_file(&so).unwrap();
    let module = DlModule::load_unresolved(&so).unwrap();
    let region = MmapRegion::create(1, &Limits::default()).unwrap();
    let mut inst = region.new_instance_builder(module).with_linker(&Linker::new()).build().unwrap();
    let mut failures = Vec::new();
    for (name, size) in &cases {
        for addr in PAGE - 16..=PAGE {
            // Stores change the pattern; every case starts from the same bytes.
            inst.reset().unwrap();
            let got = run(&mut inst, name, addr);
            let want = if addr + size <= PAGE {
                inst.reset().unwrap();
                Ok(run(&mut inst, name, addr + REFERENCE_END - PAGE).unwrap_or_else(|t| panic!("{name}: reference trapped: {t:?}")))
            } else {
                Err(TrapCode::HeapOutOfBounds)
            };
            if got != want {
                failures.push(format!("{name} at {addr:#x}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{label}: {} of the cases are wrong:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn default_reservation_with_guard() {
    check("4 GiB + 2 GiB guard", |c| c);
}

#[test]
fn small_reservation_without_guard() {
    check("64 KiB, no guard", |c| c.with_reserved_size(64 << 10).with_guard_size(0));
}

#[test]
fn small_reservation_with_guard() {
    check("64 KiB + 64 KiB guard", |c| c.with_reserved_size(64 << 10).with_guard_size(64 << 10));
}

#[test]
fn host_cpu_features() {
    check("4 GiB + 2 GiB guard, --target-cpu native", |c| c.with_target_cpu(lucetc::TargetCpu::Native));
}
