//! End-to-end basics: calls, globals, memory, tables, multi-value.

mod common;
use common::*;
use lucet_runtime::{Error, Region, Val};

#[test]
fn add() {
    let mut inst = instance("add.wat");
    let r = inst.run("add", &[5i32.into(), 3i32.into()]).unwrap().unwrap_returned();
    assert_eq!(i32::from(r), 8);
    let r = inst.run("add_i64", &[Val::I64(1 << 40), Val::I64(2)]).unwrap().unwrap_returned();
    assert_eq!(r.as_i64(), (1 << 40) + 2);
    let r = inst.run("add_f64", &[1.5f64.into(), 2.25f64.into()]).unwrap().unwrap_returned();
    assert_eq!(r.as_f64(), 3.75);
}

#[test]
fn globals_and_start() {
    let mut inst = instance("state.wat");
    assert_eq!(inst.get_global("counter").unwrap(), Val::I32(10));
    assert_eq!(inst.get_global("big").unwrap(), Val::I64(1 << 32));
    assert_eq!(inst.get_global("pi").unwrap(), Val::F64(3.5));
    assert_eq!(inst.get_global("derived").unwrap(), Val::I32(3));
    // The start function ran exactly once, at instantiation.
    assert_eq!(inst.get_global("started").unwrap(), Val::I32(1));
    inst.run_start().unwrap();
    assert_eq!(inst.get_global("started").unwrap(), Val::I32(1));
    assert_eq!(inst.run("incr", &[]).unwrap().unwrap_returned().as_i32(), 11);
    assert_eq!(inst.run("incr", &[]).unwrap().unwrap_returned().as_i32(), 12);
    assert_eq!(inst.get_global("counter").unwrap(), Val::I32(12));
    inst.set_global("counter", Val::I32(100)).unwrap();
    assert_eq!(inst.run("incr", &[]).unwrap().unwrap_returned().as_i32(), 101);
    assert!(inst.set_global("big", Val::I64(0)).is_err(), "immutable");
    inst.reset().unwrap();
    assert_eq!(inst.get_global("counter").unwrap(), Val::I32(10));
    assert_eq!(inst.get_global("started").unwrap(), Val::I32(1));
}

#[test]
fn memory_grow_size_and_data() {
    let mut inst = instance("state.wat");
    assert_eq!(inst.heap().len(), 65536);
    assert_eq!(&inst.heap()[16..28], b"hello, world");
    assert_eq!(inst.run("size", &[]).unwrap().unwrap_returned().as_i32(), 1);
    assert_eq!(inst.run("grow", &[2i32.into()]).unwrap().unwrap_returned().as_i32(), 1);
    assert_eq!(inst.run("size", &[]).unwrap().unwrap_returned().as_i32(), 3);
    assert_eq!(inst.heap().len(), 3 * 65536);
    // Past the declared maximum of 4 pages.
    assert_eq!(inst.run("grow", &[2i32.into()]).unwrap().unwrap_returned().as_i32(), -1);
    inst.run("store8", &[Val::I32(3 * 65536 - 1), Val::I32(0xab)]).unwrap();
    assert_eq!(inst.run("load8", &[Val::I32(3 * 65536 - 1)]).unwrap().unwrap_returned().as_i32(), 0xab);
    assert_eq!(inst.heap()[3 * 65536 - 1], 0xab);
    assert_eq!(inst.grow_memory(1).unwrap(), 3);
    assert!(inst.grow_memory(1).is_err(), "past the maximum of 4 pages");
    assert_eq!(inst.heap_u32().len(), 4 * 65536 / 4);
    inst.heap_mut()[100] = 7;
    assert_eq!(inst.run("load8", &[Val::I32(100)]).unwrap().unwrap_returned().as_i32(), 7);

    // Bulk memory.
    inst.run("init_passive", &[Val::I32(200)]).unwrap();
    assert_eq!(&inst.heap()[200..208], b"passive!");
    inst.run("fill", &[Val::I32(300), Val::I32(0x5a), Val::I32(4)]).unwrap();
    assert_eq!(&inst.heap()[300..305], &[0x5a, 0x5a, 0x5a, 0x5a, 0]);
    inst.run("copy", &[Val::I32(301), Val::I32(16), Val::I32(5)]).unwrap();
    assert_eq!(&inst.heap()[300..307], b"\x5ahello\x00");
    inst.run("drop_passive", &[]).unwrap();
    let e = inst.run("init_passive", &[Val::I32(200)]).unwrap_err();
    assert!(matches!(e, Error::RuntimeFault(ref d) if d.trap_code == lucet_runtime::TrapCode::HeapOutOfBounds), "{e}");

    // Reset: heap back to one page, zeroed, data re-applied, passive segment restored.
    inst.reset().unwrap();
    assert_eq!(inst.heap().len(), 65536);
    assert_eq!(inst.heap()[100], 0);
    assert_eq!(inst.heap()[300], 0);
    assert_eq!(&inst.heap()[16..28], b"hello, world");
    inst.run("init_passive", &[Val::I32(200)]).unwrap();
    assert_eq!(&inst.heap()[200..208], b"passive!");
}

#[test]
fn tables_and_call_indirect() {
    let mut inst = instance("state.wat");
    for i in 0..3 {
        assert_eq!(inst.run("call", &[Val::I32(i)]).unwrap().unwrap_returned().as_i32(), i + 1);
    }
    assert_eq!(inst.run("table_size", &[]).unwrap().unwrap_returned().as_i32(), 4);
    assert_eq!(inst.run("table_grow", &[Val::I32(2)]).unwrap().unwrap_returned().as_i32(), 4);
    assert_eq!(inst.run("table_grow", &[Val::I32(10)]).unwrap().unwrap_returned().as_i32(), -1);
    inst.run("set_elem", &[Val::I32(5)]).unwrap();
    assert_eq!(inst.run("call", &[Val::I32(5)]).unwrap().unwrap_returned().as_i32(), 3);
    inst.reset().unwrap();
    assert_eq!(inst.run("table_size", &[]).unwrap().unwrap_returned().as_i32(), 4);
}

#[test]
fn multi_value() {
    let mut inst = instance("state.wat");
    let r = inst.run("multi", &[Val::I32(7), Val::I64(-9)]).unwrap().unwrap_returned();
    assert_eq!(r.values(), &[Val::I64(-9), Val::I32(7), Val::F32(1.5)]);
    let r = inst.run("swap", &[Val::I32(1), Val::I32(2)]).unwrap().unwrap_returned();
    assert_eq!(r.values(), &[Val::I32(2), Val::I32(1)]);
}

#[test]
fn bad_arguments_name_the_signature() {
    let mut inst = instance("add.wat");
    let e = inst.run("add", &[Val::I32(1)]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
    assert!(e.to_string().contains("(i32, i32) -> (i32)"), "{e}");
    let e = inst.run("add", &[Val::I64(1 << 40), Val::I32(2)]).unwrap_err();
    assert!(e.to_string().contains("called with (i64, i32)"), "{e}");
    assert!(e.to_string().contains("argument 0 (i64 1099511627776) does not fit in i32"), "{e}");
    let e = inst.run("add", &[Val::F32(1.0), Val::I32(2)]).unwrap_err();
    assert!(e.to_string().contains("argument 0 (f32 1) cannot be passed as i32"), "{e}");
}

/// Hosts written for the original Lucet pass values of any integer (or float) variant
/// where they fit, such as a pointer the guest returned, kept as a `usize`.
#[test]
fn original_lucet_argument_variants() {
    let mut inst = instance("add.wat");
    let ptr: usize = 0x1234;
    let sum = |inst: &mut lucet_runtime::InstanceHandle, a: Val, b: Val| {
        inst.run("add", &[a, b]).map(|r| r.unwrap_returned().as_i32())
    };
    assert_eq!(sum(&mut inst, ptr.into(), 1i32.into()).unwrap(), 0x1235);
    let cases: Vec<(Val, i32)> = vec![
        (Val::U8(200), 200),
        (Val::U16(60000), 60000),
        (Val::U32(u32::MAX), -1),
        (Val::U64(7), 7),
        (Val::I8(-3), -3),
        (Val::I16(-300), -300),
        (Val::I64(-5), -5),
        (Val::USize(9), 9),
        (Val::ISize(-9), -9),
        (Val::Bool(true), 1),
        (Val::GuestPtr(64), 64),
        (Val::CPtr(16 as *const std::ffi::c_void), 16),
        (true.into(), 1),
        (5u32.into(), 5),
    ];
    for (v, want) in cases {
        assert_eq!(sum(&mut inst, v, 0i32.into()).unwrap(), want, "{v:?}");
    }
    // 64-bit parameters take every integer variant; u64 by its bits.
    let r = inst.run("add_i64", &[Val::U64(u64::MAX), Val::USize(2)]).unwrap().unwrap_returned();
    assert_eq!(r.as_i64(), 1);
    let r = inst.run("add_i64", &[Val::I32(-1), Val::U32(u32::MAX)]).unwrap().unwrap_returned();
    assert_eq!(r.as_i64(), u32::MAX as i64 - 1);
    // Floats widen, and narrow only without loss.
    let r = inst.run("add_f64", &[Val::F32(1.5), Val::F64(2.0)]).unwrap().unwrap_returned();
    assert_eq!(r.as_f64(), 3.5);
    // Values that do not fit name the parameter, the value and the type.
    let e = sum(&mut inst, Val::USize(1 << 33), 0i32.into()).unwrap_err().to_string();
    assert!(e.contains("argument 0 (usize 8589934592) does not fit in i32"), "{e}");
    let e = sum(&mut inst, 0i32.into(), Val::I64(-(1 << 40))).unwrap_err().to_string();
    assert!(e.contains("argument 1 (i64 -1099511627776) does not fit in i32"), "{e}");
    let e = inst.run("add_f64", &[Val::F64(1.0), Val::I32(1)]).unwrap_err().to_string();
    assert!(e.contains("argument 1 (i32 1) cannot be passed as f64"), "{e}");
    // The typed interface stays strict.
    assert!(inst.typed_func::<(i64, i32), i32>("add").is_err());
}

#[test]
fn missing_export_lists_exports_and_hints_start() {
    let mut inst = instance("add.wat");
    let e = inst.run("main", &[]).unwrap_err();
    assert!(matches!(e, Error::SymbolNotFound(_)));
    let msg = e.to_string();
    assert!(msg.contains("add, _start, add_f64, add_i64"), "{msg}");
    assert!(msg.contains("run `_start` instead of `main`"), "{msg}");
    let e = inst.run("nope", &[]).unwrap_err();
    assert!(!e.to_string().contains("_start` instead"), "{e}");
}

#[test]
fn exports_are_listed() {
    let inst = instance("state.wat");
    let names: Vec<&str> = inst.exports().collect();
    assert!(names.contains(&"memory") && names.contains(&"incr"));
    assert!(inst.get_export("incr").is_some());
    assert!(inst.get_export("nothing").is_none());
}

#[test]
fn region_exhaustion_and_reuse() {
    let region = region(2);
    let module = load("add.wat");
    let a = region.new_instance(module.clone()).unwrap();
    let _b = region.new_instance(module.clone()).unwrap();
    assert_eq!(region.free_slots(), 0);
    let e = region.new_instance(module.clone()).unwrap_err();
    assert!(matches!(e, Error::Region(_)));
    assert!(e.to_string().contains("no free slot"), "{e}");
    drop(a);
    assert_eq!(region.free_slots(), 1);
    let mut c = region.new_instance(module).unwrap();
    assert_eq!(c.run("add", &[1i32.into(), 2i32.into()]).unwrap().unwrap_returned().as_i32(), 3);
}

#[test]
fn several_memories() {
    let so = compile_wat(
        r#"(module (memory $a 1) (memory $b 2 3)
             (data (memory $b) (i32.const 5) "b")
             (func (export "load_b") (param i32) (result i32) local.get 0 i32.load8_u $b)
             (func (export "grow_b") (param i32) (result i32) local.get 0 memory.grow $b)
             (func (export "size_b") (result i32) memory.size $b)
             (func (export "size_a") (result i32) memory.size $a))"#,
    );
    let mut inst = region(1).new_instance(lucet_runtime::DlModule::load(so).unwrap()).unwrap();
    assert_eq!(inst.run("load_b", &[5i32.into()]).unwrap().unwrap_returned().as_i32(), b'b' as i32);
    assert_eq!(inst.run("grow_b", &[1i32.into()]).unwrap().unwrap_returned().as_i32(), 2);
    assert_eq!(inst.run("grow_b", &[1i32.into()]).unwrap().unwrap_returned().as_i32(), -1);
    assert_eq!(inst.run("size_a", &[]).unwrap().unwrap_returned().as_i32(), 1);
    let e = inst.run("load_b", &[(3 * 65536i32).into()]).unwrap_err();
    assert!(matches!(e, Error::RuntimeFault(_)), "{e}");
    inst.reset().unwrap();
    assert_eq!(inst.run("size_b", &[]).unwrap().unwrap_returned().as_i32(), 2);
}

#[test]
fn funcref_arguments_are_checked() {
    let mut inst = instance("state.wat");
    let e = inst.run("ident_ref", &[Val::FuncRef(0xdead_beef)]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)) && e.to_string().contains("funcref"), "{e}");
    let r = inst.run("ident_ref", &[Val::FuncRef(0)]).unwrap().unwrap_returned();
    assert_eq!(r.values(), &[Val::FuncRef(0)]);
    let f = match inst.get_export("incr") {
        Some(lucet_runtime::Extern::Func(f)) => f.as_funcref().unwrap(),
        _ => panic!("incr is a function"),
    };
    let r = inst.run("ident_ref", &[f]).unwrap().unwrap_returned();
    assert_eq!(r.values(), &[f]);
}
