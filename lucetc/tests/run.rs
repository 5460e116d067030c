//! Compiled modules running in lucet-runtime: the compiler's half of the contract.

use lucet_runtime::{DlModule, Error, Limits, Linker, MmapRegion, Region, TrapCode, Val};
use lucet_module::{FuncType, ValType};
use lucetc::Lucetc;
use std::sync::{Arc, Mutex};

struct Compiled {
    _dir: tempfile::TempDir,
    module: Arc<DlModule>,
}

fn compile(wat: &str, configure: impl FnOnce(Lucetc) -> Lucetc) -> Compiled {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("m.so");
    configure(Lucetc::try_from_bytes(wat).unwrap()).shared_object_file(&so).unwrap();
    let module = DlModule::load_unresolved(&so).unwrap_or_else(|e| panic!("load: {e}"));
    Compiled { _dir: dir, module }
}

fn instance(c: &Compiled, linker: &Linker) -> lucet_runtime::InstanceHandle {
    let region = MmapRegion::create(1, &Limits::default()).unwrap();
    region.new_instance_builder(c.module.clone()).with_linker(linker).build().unwrap_or_else(|e| panic!("instantiate: {e}"))
}

fn run(inst: &mut lucet_runtime::InstanceHandle, f: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
    inst.run(f, args).map(|r| r.unwrap_returned().values().to_vec())
}

fn trap_of(r: Result<Vec<Val>, Error>) -> TrapCode {
    match r {
        Err(Error::RuntimeFault(d)) => d.trap_code,
        other => panic!("expected a trap, got {other:?}"),
    }
}

const PROGRAM: &str = r#"(module
  (import "env" "log" (func $log (param i32 i64) (result i32)))
  (memory (export "memory") 1 4)
  (data (i32.const 16) "\2a\00\00\00")
  (global $g (mut i64) (i64.const 7))
  (type $t (func (param i32) (result i32)))
  (table $tab 4 funcref)
  (elem (table $tab) (i32.const 0) func $inc $dec)
  (func $inc (type $t) local.get 0 i32.const 1 i32.add)
  (func $dec (type $t) local.get 0 i32.const 1 i32.sub)
  (func $other (param i64) (result i64) local.get 0)
  (func $fac (export "fac") (param i64) (result i64)
    local.get 0 i64.eqz if (result i64) i64.const 1 else
    local.get 0 local.get 0 i64.const 1 i64.sub call $fac i64.mul end)
  (func (export "call") (param i32 i32) (result i32) local.get 1 local.get 0 call_indirect $tab (type $t))
  (func (export "load") (param i32) (result i32) local.get 0 i32.load)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "size") (result i32) memory.size)
  (func (export "bump") (result i64) global.get $g i64.const 1 i64.add global.set $g global.get $g)
  (func (export "host") (param i32) (result i32) local.get 0 i64.const 99 call $log)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "unreachable") unreachable)
  (func $recurse (export "recurse") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $recurse)
  (func (export "mv") (param i32 i64) (result i64 i32 f64) local.get 1 local.get 0 f64.const 2.5)
  (func (export "simd") (param v128 v128) (result v128) local.get 0 local.get 1 i32x4.add)
  (func (export "fill") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.fill)
  (func (export "tail") (param i32) (result i32) local.get 0 return_call $inc)
  (func (export "is_null") (param i32) (result i32) local.get 0 table.get $tab ref.is_null)
)"#;

fn linker_with_log(seen: Arc<Mutex<Vec<(i32, i64)>>>) -> Linker {
    let mut linker = Linker::new();
    linker.func_new(
        "env",
        "log",
        FuncType { params: vec![ValType::I32, ValType::I64], results: vec![ValType::I32] },
        move |args| {
            let (Val::I32(a), Val::I64(b)) = (args[0], args[1]) else { panic!("bad args {args:?}") };
            seen.lock().unwrap().push((a, b));
            Ok(vec![Val::I32(a * 2)])
        },
    );
    linker
}

fn check_program(c: &Compiled) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut inst = instance(c, &linker_with_log(seen.clone()));
    assert_eq!(run(&mut inst, "fac", &[Val::I64(10)]).unwrap(), vec![Val::I64(3628800)]);
    assert_eq!(run(&mut inst, "call", &[Val::I32(0), Val::I32(5)]).unwrap(), vec![Val::I32(6)]);
    assert_eq!(run(&mut inst, "call", &[Val::I32(1), Val::I32(5)]).unwrap(), vec![Val::I32(4)]);
    assert_eq!(run(&mut inst, "load", &[Val::I32(16)]).unwrap(), vec![Val::I32(42)]);
    assert_eq!(run(&mut inst, "size", &[]).unwrap(), vec![Val::I32(1)]);
    assert_eq!(run(&mut inst, "grow", &[Val::I32(2)]).unwrap(), vec![Val::I32(1)]);
    assert_eq!(run(&mut inst, "size", &[]).unwrap(), vec![Val::I32(3)]);
    assert_eq!(run(&mut inst, "grow", &[Val::I32(2)]).unwrap(), vec![Val::I32(-1)]);
    assert_eq!(run(&mut inst, "load", &[Val::I32(3 * 65536 - 4)]).unwrap(), vec![Val::I32(0)]);
    assert_eq!(run(&mut inst, "bump", &[]).unwrap(), vec![Val::I64(8)]);
    assert_eq!(run(&mut inst, "host", &[Val::I32(21)]).unwrap(), vec![Val::I32(42)]);
    assert_eq!(*seen.lock().unwrap(), vec![(21, 99)]);
    assert_eq!(
        run(&mut inst, "mv", &[Val::I32(3), Val::I64(4)]).unwrap(),
        vec![Val::I64(4), Val::I32(3), Val::F64(2.5)]
    );
    let a = u128::from_le_bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]);
    let b = u128::from_le_bytes([10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40, 0, 0, 0]);
    let sum = u128::from_le_bytes([11, 0, 0, 0, 22, 0, 0, 0, 33, 0, 0, 0, 44, 0, 0, 0]);
    assert_eq!(run(&mut inst, "simd", &[Val::V128(a), Val::V128(b)]).unwrap(), vec![Val::V128(sum)]);
    run(&mut inst, "fill", &[Val::I32(100), Val::I32(7), Val::I32(3)]).unwrap();
    assert_eq!(run(&mut inst, "load", &[Val::I32(100)]).unwrap(), vec![Val::I32(0x070707)]);
    assert_eq!(run(&mut inst, "tail", &[Val::I32(9)]).unwrap(), vec![Val::I32(10)]);
    assert_eq!(run(&mut inst, "is_null", &[Val::I32(0)]).unwrap(), vec![Val::I32(0)]);
    assert_eq!(run(&mut inst, "is_null", &[Val::I32(3)]).unwrap(), vec![Val::I32(1)]);

    let traps = [
        ("load", vec![Val::I32(3 * 65536 - 3)], TrapCode::HeapOutOfBounds),
        ("load", vec![Val::I32(-1)], TrapCode::HeapOutOfBounds),
        ("call", vec![Val::I32(2), Val::I32(0)], TrapCode::IndirectCallToNull),
        ("call", vec![Val::I32(4), Val::I32(0)], TrapCode::TableOutOfBounds),
        ("div", vec![Val::I32(1), Val::I32(0)], TrapCode::IntegerDivByZero),
        ("div", vec![Val::I32(i32::MIN), Val::I32(-1)], TrapCode::IntegerOverflow),
        ("unreachable", vec![], TrapCode::Unreachable),
        ("recurse", vec![Val::I32(0)], TrapCode::StackOverflow),
        ("fill", vec![Val::I32(3 * 65536 - 1), Val::I32(0), Val::I32(2)], TrapCode::HeapOutOfBounds),
    ];
    for (f, args, code) in traps {
        inst.reset().unwrap();
        assert_eq!(trap_of(run(&mut inst, f, &args)), code, "{f}({args:?})");
    }
}

#[test]
fn program_with_static_heap() {
    check_program(&compile(PROGRAM, |c| c));
}

#[test]
fn program_with_bounds_checked_heap() {
    check_program(&compile(PROGRAM, |c| c.with_reserved_size(1 << 20).with_guard_size(0)));
}

#[test]
fn program_unoptimised() {
    check_program(&compile(PROGRAM, |c| c.with_opt_level(lucetc::OptLevel::None)));
}

#[test]
fn signature_mismatch_traps() {
    let c = compile(
        r#"(module
          (type $a (func (result i32)))
          (type $b (func (param i32) (result i32)))
          (table funcref (elem $f))
          (func $f (result i32) i32.const 1)
          (func (export "good") (result i32) i32.const 0 call_indirect (type $a))
          (func (export "bad") (result i32) i32.const 0 i32.const 0 call_indirect (type $b)))"#,
        |c| c,
    );
    let mut inst = instance(&c, &Linker::new());
    assert_eq!(run(&mut inst, "good", &[]).unwrap(), vec![Val::I32(1)]);
    assert_eq!(trap_of(run(&mut inst, "bad", &[])), TrapCode::BadSignature);
}

#[test]
fn direct_tail_calls_reuse_the_frame() {
    let c = compile(
        r#"(module
          (type $t (func (param i32) (result i32)))
          (table funcref (elem $even))
          (func $even (export "even") (param i32) (result i32)
            local.get 0 i32.eqz if (result i32) i32.const 44 else local.get 0 i32.const 1 i32.sub return_call $odd end)
          (func $odd (export "odd") (param i32) (result i32)
            local.get 0 i32.eqz if (result i32) i32.const 99 else local.get 0 i32.const 1 i32.sub return_call $even end)
          (func $div (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_u)
          (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 return_call $div)
          (func (export "via_table") (param i32) (result i32) local.get 0 i32.const 0 call_indirect (type $t))
          (func (export "plain") (param i32) (result i32) local.get 0 i32.const 1 i32.add))"#,
        |c| c,
    );
    let mut inst = instance(&c, &Linker::new());
    assert_eq!(run(&mut inst, "even", &[Val::I32(1_000_000)]).unwrap(), vec![Val::I32(44)]);
    assert_eq!(run(&mut inst, "odd", &[Val::I32(1_000_001)]).unwrap(), vec![Val::I32(44)]);
    assert_eq!(run(&mut inst, "via_table", &[Val::I32(7)]).unwrap(), vec![Val::I32(99)]);
    assert_eq!(run(&mut inst, "plain", &[Val::I32(7)]).unwrap(), vec![Val::I32(8)]);
    assert_eq!(run(&mut inst, "div", &[Val::I32(7), Val::I32(2)]).unwrap(), vec![Val::I32(3)]);
    // A trap inside a tail-convention body is still attributed to its function.
    match run(&mut inst, "div", &[Val::I32(7), Val::I32(0)]) {
        Err(Error::RuntimeFault(d)) => {
            assert_eq!(d.trap_code, TrapCode::IntegerDivByZero);
            assert!(d.function.is_some(), "{d:?}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn native_target_loads_on_the_compiling_host() {
    let c = compile(PROGRAM, |c| c.with_target_cpu(lucetc::TargetCpu::Native));
    let features = &c.module.module_data().target.cpu_features;
    assert!(features.iter().any(|f| f == "sse4.1"), "{features:?}");
    check_program(&c);
}

/// The ARX rounds of [`long_block_wat`], computed natively.
fn mix_native(mut a: u32, mut b: u32, rounds: usize) -> u32 {
    for r in 0..rounds as u32 {
        a = a.wrapping_add(b).wrapping_add(r.wrapping_mul(0x9e37_79b9));
        b = (b ^ a).rotate_left(7 + r % 19);
    }
    a ^ b
}

/// A function whose body is one basic block of several thousand instructions, like an
/// unrolled hash round, which lucetc compiles without Cranelift's mid-end. It also
/// stores into and loads from memory, so that trap sites inside such a block are
/// exercised too.
fn long_block_wat(rounds: usize) -> String {
    let mut body = String::new();
    for r in 0..rounds as u32 {
        body.push_str(&format!(
            "local.get 0 local.get 1 i32.add i32.const {} i32.add local.set 0 \
             local.get 1 local.get 0 i32.xor i32.const {} i32.rotl local.set 1 \
             local.get 2 local.get 0 i32.store local.get 2 i32.load local.set 0\n",
            r.wrapping_mul(0x9e37_79b9) as i32,
            7 + r % 19
        ));
    }
    format!(
        "(module (memory 1)
           (func (export \"mix\") (param i32 i32 i32) (result i32) {body} local.get 0 local.get 1 i32.xor))"
    )
}

#[test]
fn a_function_with_a_very_long_block_computes_what_it_says() {
    let rounds = 300;
    let c = compile(&long_block_wat(rounds), |c| c);
    let mut inst = instance(&c, &Linker::new());
    for (a, b) in [(0u32, 0u32), (1, 2), (0xdead_beef, 0x1234_5678)] {
        let got = run(&mut inst, "mix", &[Val::I32(a as i32), Val::I32(b as i32), Val::I32(64)]).unwrap();
        assert_eq!(got, vec![Val::I32(mix_native(a, b, rounds) as i32)], "mix({a:#x}, {b:#x})");
    }
    // The first store is out of bounds: the trap is reported as such, and the instance
    // still works after a reset.
    assert_eq!(trap_of(run(&mut inst, "mix", &[Val::I32(1), Val::I32(2), Val::I32(-1)])), TrapCode::HeapOutOfBounds);
    inst.reset().unwrap();
    let got = run(&mut inst, "mix", &[Val::I32(1), Val::I32(2), Val::I32(8)]).unwrap();
    assert_eq!(got, vec![Val::I32(mix_native(1, 2, rounds) as i32)]);
}

/// Divisors whose division lucetc rewrites into multiplications (and 0 and -1, which
/// it leaves to the divide instruction because they trap).
const DIVISORS: &[i64] = &[
    0, 1, -1, 2, -2, 3, -3, 5, 6, 7, -7, 10, 12, 25, 100, 641, 1000, 139_968, 1 << 16, (1 << 16) + 1,
    1_000_000_007, i32::MAX as i64, 1 << 31, (1 << 31) + 1, 0xffff_fffe, 0xffff_ffff, i32::MIN as i64,
    1 << 32, (1 << 32) + 1, 10_000_000_000_000_000, i64::MAX, i64::MIN, i64::MIN + 1, -10_000_000_000, -1_000_003,
];

const DIVIDENDS: &[i64] = &[
    0, 1, -1, 2, 3, 6, 7, 99, 100, 101, -100, 139_967, 139_968, 279_937, 0x7fff_ffff, -0x8000_0000,
    0x8000_0000, 0xffff_ffff, 0x1_0000_0000, 0x1234_5678_9abc_def0, -0x1234_5678_9abc_def0, i64::MAX, i64::MIN,
    i64::MIN + 1, 0x5555_5555_5555_5555, 1_000_000_007 * 1_000_000_007, -987_654_321_987,
];

/// What WebAssembly says `op` computes, or `None` for a trap.
fn reference(op: &str, ty: &str, x: i64, d: i64) -> Option<i64> {
    let r = if ty == "i32" {
        let (x, d) = (x as i32, d as i32);
        let (ux, ud) = (x as u32, d as u32);
        match op {
            "div_s" => x.checked_div(d)? as i64,
            "rem_s" => (if d == 0 { None } else { Some(x.wrapping_rem(d)) })? as i64,
            "div_u" => ux.checked_div(ud)? as i32 as i64,
            _ => ux.checked_rem(ud)? as i32 as i64,
        }
    } else {
        let (ux, ud) = (x as u64, d as u64);
        match op {
            "div_s" => x.checked_div(d)?,
            "rem_s" => {
                if d == 0 {
                    return None;
                }
                x.wrapping_rem(d)
            }
            "div_u" => ux.checked_div(ud)? as i64,
            _ => ux.checked_rem(ud)? as i64,
        }
    };
    Some(r)
}

#[test]
fn division_by_constants_matches_the_specification() {
    let ops = ["div_s", "rem_s", "div_u", "rem_u"];
    let mut wat = String::from("(module\n");
    for ty in ["i32", "i64"] {
        for op in ops {
            for (i, d) in DIVISORS.iter().enumerate() {
                let d = if ty == "i32" { (*d as i32) as i64 } else { *d };
                wat.push_str(&format!(
                    "(func (export \"{ty}_{op}_{i}\") (param {ty}) (result {ty}) local.get 0 {ty}.const {d} {ty}.{op})\n"
                ));
            }
        }
    }
    wat.push(')');
    let c = compile(&wat, |c| c);
    let mut inst = instance(&c, &Linker::new());
    let mut checked = 0;
    for ty in ["i32", "i64"] {
        for op in ops {
            for (i, &d) in DIVISORS.iter().enumerate() {
                for &x in DIVIDENDS {
                    let arg = if ty == "i32" { Val::I32(x as i32) } else { Val::I64(x) };
                    let got = run(&mut inst, &format!("{ty}_{op}_{i}"), &[arg]);
                    match reference(op, ty, x, d) {
                        Some(want) => {
                            let want = if ty == "i32" { Val::I32(want as i32) } else { Val::I64(want) };
                            assert_eq!(got.unwrap(), vec![want], "{ty}.{op} {x} by {d}");
                        }
                        None => {
                            trap_of(got);
                            inst.reset().unwrap();
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 2 * 4 * DIVISORS.len() * DIVIDENDS.len());
}

#[test]
fn typed_function_references() {
    let wat = r#"(module
  (type $t (func (param i32) (result i32)))
  (func $double (type $t) local.get 0 local.get 0 i32.add)
  (elem declare func $double)
  (func (export "call_ref") (param i32) (result i32)
    local.get 0 ref.func $double call_ref $t)
  (func (export "call_null") (param i32) (result i32)
    local.get 0 ref.null $t call_ref $t)
  (func $probe (param $f (ref null $t)) (result i32)
    (block $null
      (return (call_ref $t (i32.const 5) (br_on_null $null (local.get $f)))))
    i32.const 1)
  (func (export "probe_null") (result i32) ref.null $t call $probe)
  (func (export "probe_func") (result i32) ref.func $double call $probe)
  (func (export "non_null") (param $f (ref null $t)) (result i32)
    (local $g (ref null $t))
    (block $some (result (ref $t))
      (br_on_non_null $some (local.get $f))
      (return (i32.const -1)))
    local.set $g
    (call_ref $t (i32.const 21) (local.get $g))))"#;
    let c = compile(wat, |c| c);
    let mut inst = instance(&c, &Linker::new());
    assert_eq!(run(&mut inst, "call_ref", &[Val::I32(4)]).unwrap(), vec![Val::I32(8)]);
    assert_eq!(trap_of(run(&mut inst, "call_null", &[Val::I32(4)])), TrapCode::NullReference);
    assert_eq!(run(&mut inst, "probe_null", &[]).unwrap(), vec![Val::I32(1)]);
    assert_eq!(run(&mut inst, "probe_func", &[]).unwrap(), vec![Val::I32(10)]);
}

#[test]
fn constant_expressions_read_the_modules_own_globals() {
    let c = compile(
        r#"(module
          (memory 1)
          (global $base i32 (i32.const 8))
          (global $next i32 (i32.add (global.get $base) (i32.const 4)))
          (data (global.get $next) "\2a")
          (func (export "next") (result i32) global.get $next)
          (func (export "load") (result i32) i32.const 12 i32.load8_u))"#,
        |c| c,
    );
    let mut inst = instance(&c, &Linker::new());
    assert_eq!(run(&mut inst, "next", &[]).unwrap(), vec![Val::I32(12)]);
    assert_eq!(run(&mut inst, "load", &[]).unwrap(), vec![Val::I32(42)]);
    // The same rule does not let GC in.
    let gc = r#"(module
      (global $g i32 (i32.const 1))
      (global i32 (global.get $g))
      (func (result i32) (ref.i31 (i32.const 1)) i31.get_s))"#;
    match Lucetc::try_from_bytes(gc) {
        Err(e) => assert!(e.to_string().contains("not supported yet: garbage collection"), "{e}"),
        Ok(_) => panic!("a GC instruction was accepted"),
    }
}

#[test]
fn tables_start_with_their_initialiser() {
    let c = compile(
        r#"(module
          (type $t (func (result i32)))
          (func $seven (type $t) i32.const 7)
          (table $tab 3 (ref $t) (ref.func $seven))
          (func (export "call") (param i32) (result i32) local.get 0 call_indirect $tab (type $t))
          (func (export "size") (result i32) table.size $tab))"#,
        |c| c,
    );
    let mut inst = instance(&c, &Linker::new());
    for i in 0..3 {
        assert_eq!(run(&mut inst, "call", &[Val::I32(i)]).unwrap(), vec![Val::I32(7)]);
    }
    assert_eq!(trap_of(run(&mut inst, "call", &[Val::I32(3)])), TrapCode::TableOutOfBounds);
    inst.reset().unwrap();
    assert_eq!(run(&mut inst, "call", &[Val::I32(2)]).unwrap(), vec![Val::I32(7)]);
}

#[test]
fn typed_reference_imports_are_checked() {
    let exporter = compile(
        r#"(module
          (type $a (func (param i64)))
          (type $b (func (param funcref)))
          (func $fa (type $a))
          (global (export "nullable") (ref null func) (ref.null func))
          (global (export "typed_a") (ref $a) (ref.func $fa))
          (table (export "table_a") 1 (ref null $a)))"#,
        |c| c,
    );
    let region = MmapRegion::create(4, &Limits::default()).unwrap();
    let exp = region.new_instance_builder(exporter.module.clone()).build().unwrap();
    let mut linker = Linker::new();
    linker.instance("m", &exp).unwrap();
    let link = |wat: &str| {
        let c = compile(wat, |c| c);
        region.new_instance_builder(c.module.clone()).with_linker(&linker).build().map(drop)
    };
    // Subtypes are accepted for immutable globals...
    link(r#"(module (type $a (func (param i64))) (global (import "m" "typed_a") (ref null $a)))"#).unwrap();
    link(r#"(module (global (import "m" "typed_a") (ref func)))"#).unwrap();
    link(r#"(module (type $a (func (param i64))) (table (import "m" "table_a") 1 (ref null $a)))"#).unwrap();
    // ...but not a nullable value where null is excluded, another function type, or a
    // table whose element type differs at all.
    for wat in [
        r#"(module (global (import "m" "nullable") (ref func)))"#,
        r#"(module (type $b (func (param funcref))) (global (import "m" "typed_a") (ref $b)))"#,
        r#"(module (type $b (func (param funcref))) (table (import "m" "table_a") 1 (ref null $b)))"#,
        r#"(module (table (import "m" "table_a") 1 funcref))"#,
    ] {
        match link(wat) {
            Err(Error::UnresolvedImport(_)) => {}
            other => panic!("{wat}: expected a link error, got {other:?}"),
        }
    }
}

/// `FuncType` erases `(ref $t)` to `funcref`. Signatures that differ only in the function
/// types of their typed references must still differ at run time: a callee trusts the
/// type of what it `call_ref`s, so taking one for the other hands it a function of the
/// wrong signature.
#[test]
fn signatures_differing_in_typed_references_are_different_types() {
    let c = compile(
        r#"(module
          (type $a (func (param i64) (result i64)))
          (type $b (func (param i32) (result i32)))
          (type $ta (func (param (ref null $a)) (result i32)))
          (type $tb (func (param (ref null $b)) (result i32)))
          (func $fa (type $a) (local.get 0))
          (func $usea (export "usea") (type $ta) (i32.wrap_i64 (call_ref $a (i64.const 7) (local.get 0))))
          (func $useb (type $tb) (call_ref $b (i32.const 5) (local.get 0)))
          (table (export "t") funcref (elem $usea $useb))
          (elem declare func $fa)
          (func (export "right") (result i32) (call_indirect (type $ta) (ref.func $fa) (i32.const 0)))
          (func (export "confuse") (result i32) (call_indirect (type $ta) (ref.func $fa) (i32.const 1))))"#,
        |c| c,
    );
    let region = MmapRegion::create(3, &Limits::default()).unwrap();
    let mut inst = region.new_instance_builder(c.module.clone()).build().unwrap();
    assert_eq!(run(&mut inst, "right", &[]).unwrap(), vec![Val::I32(7)]);
    assert_eq!(trap_of(run(&mut inst, "confuse", &[])), TrapCode::BadSignature);
    // The same holds across modules, for tables and for function imports.
    let mut linker = Linker::new();
    linker.instance("m", &inst).unwrap();
    let other = compile(
        r#"(module
          (type $a (func (param i64) (result i64)))
          (type $ta (func (param (ref null $a)) (result i32)))
          (import "m" "t" (table 2 funcref))
          (func $fa (type $a) (local.get 0))
          (elem declare func $fa)
          (func (export "same") (result i32) (call_indirect (type $ta) (ref.func $fa) (i32.const 0)))
          (func (export "confuse") (result i32) (call_indirect (type $ta) (ref.func $fa) (i32.const 1))))"#,
        |c| c,
    );
    let mut other = region.new_instance_builder(other.module.clone()).with_linker(&linker).build().unwrap();
    assert_eq!(run(&mut other, "same", &[]).unwrap(), vec![Val::I32(7)]);
    assert_eq!(trap_of(run(&mut other, "confuse", &[])), TrapCode::BadSignature);
    let wrong_import = compile(
        r#"(module
          (type $b (func (param i32) (result i32)))
          (type $tb (func (param (ref null $b)) (result i32)))
          (import "m" "usea" (func (type $tb))))"#,
        |c| c,
    );
    match region.new_instance_builder(wrong_import.module.clone()).with_linker(&linker).build() {
        Err(Error::UnresolvedImport(_)) => {}
        other => panic!("expected a link error, got {:?}", other.map(drop)),
    }
}
