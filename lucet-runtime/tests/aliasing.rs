//! Who may reach an instance, from where, and when: instances that share state stay on
//! one thread, and no host-side reference survives into a moment where the instance's
//! state can change under it.

mod common;
use common::*;
use lucet_runtime::{
    register_hostcalls, DlModule, Error, HostcallDef, InstanceHandle, Linker, Region, RunResult, TerminationDetails,
    ValType, Vmctx,
};

const EXPORTER: &str = r#"(module (memory (export "mem") 1)
  (func (export "poke") (param i32 i32) local.get 0 local.get 1 i32.store8))"#;

#[test]
fn an_instance_with_export_handles_stays_on_its_thread() {
    let region = region(2);
    let ex = region.new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();
    // The linker's handles read the exporter's memory and tables on this thread; a run
    // on another thread would race with them.
    let r = std::thread::spawn(move || {
        let mut ex = ex;
        ex.run("poke", &[0i32.into(), 1i32.into()]).map(|_| ())
    })
    .join();
    let msg = r.expect_err("the exporter ran on another thread while its export handles live here");
    let msg = msg.downcast_ref::<&str>().copied().or(msg.downcast_ref::<String>().map(String::as_str)).unwrap_or("");
    assert!(msg.contains("use it on that thread"), "{msg}");
    drop(linker);
    // An instance that shares nothing moves freely.
    let mut lone = region.new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    lone.get_export("mem").unwrap(); // dropped at once: nothing shared any more
    let lone = std::thread::spawn(move || {
        lone.run("poke", &[0i32.into(), 7i32.into()]).unwrap();
        lone
    })
    .join()
    .unwrap();
    assert_eq!(lone.heap()[0], 7);
}

#[test]
fn an_importer_stays_on_its_exporters_thread() {
    let region = region(2);
    let ex = region.new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();
    let im = compile_wat(
        r#"(module (import "ex" "mem" (memory 1))
             (func (export "poke") (param i32 i32) local.get 0 local.get 1 i32.store8))"#,
    );
    let im = region.new_instance_builder(DlModule::load_unresolved(im).unwrap()).with_linker(&linker).build().unwrap();
    drop(linker);
    // The importer writes the exporter's memory; the exporter is used here.
    let r = std::thread::spawn(move || {
        let mut im: InstanceHandle = im;
        im.run("poke", &[0i32.into(), 1i32.into()]).map(|_| ())
    })
    .join();
    assert!(r.is_err(), "the importer ran on another thread: {r:?}");
    assert_eq!(ex.heap()[0], 0);
}

struct Counter(i64);

unsafe extern "C" fn yield_holding_ctx(vmctx: &Vmctx) -> i64 {
    let c = vmctx.get_embed_ctx::<Counter>();
    vmctx.yield_();
    // Were this reached after the host removed the context, `c` would dangle.
    c.0
}

unsafe extern "C" fn yield_holding_heap(vmctx: &Vmctx) -> i64 {
    let h = vmctx.heap();
    vmctx.yield_();
    h[0] as i64
}

unsafe extern "C" fn yield_after_dropping(vmctx: &Vmctx) -> i64 {
    let v = vmctx.get_embed_ctx::<Counter>().0;
    vmctx.yield_();
    v + vmctx.get_embed_ctx::<Counter>().0
}

static YIELDERS: [HostcallDef; 3] = [
    HostcallDef {
        module: "aliasing",
        name: "yield_holding_ctx",
        params: &[],
        results: &[ValType::I64],
        func: yield_holding_ctx as *const u8,
    },
    HostcallDef {
        module: "aliasing",
        name: "yield_holding_heap",
        params: &[],
        results: &[ValType::I64],
        func: yield_holding_heap as *const u8,
    },
    HostcallDef {
        module: "aliasing",
        name: "yield_after_dropping",
        params: &[],
        results: &[ValType::I64],
        func: yield_after_dropping as *const u8,
    },
];

#[test]
fn a_hostcall_cannot_keep_a_borrow_across_a_yield() {
    register_hostcalls(&YIELDERS);
    let so = compile_wat(
        r#"(module
             (import "aliasing" "yield_holding_ctx" (func $c (result i64)))
             (import "aliasing" "yield_holding_heap" (func $h (result i64)))
             (import "aliasing" "yield_after_dropping" (func $d (result i64)))
             (memory 1)
             (func (export "ctx") (result i64) call $c)
             (func (export "heap") (result i64) call $h)
             (func (export "dropped") (result i64) call $d))"#,
    );
    let mut inst =
        region(1).new_instance_builder(DlModule::load(so).unwrap()).with_embed_ctx(Counter(5)).build().unwrap();
    for f in ["ctx", "heap"] {
        match inst.run(f, &[]) {
            Err(Error::RuntimeTerminated(TerminationDetails::Other(msg))) => {
                assert!(msg.contains("yielded while holding a borrow"), "{msg}")
            }
            other => panic!("{f}: {other:?}"),
        }
        inst.reset().unwrap();
    }
    // While yielded, the host may change what the hostcall borrowed before.
    assert!(matches!(inst.run("dropped", &[]).unwrap(), RunResult::Yielded(_)));
    assert_eq!(inst.remove_embed_ctx::<Counter>().map(|c| c.0), Some(5));
    inst.insert_embed_ctx(Counter(10));
    inst.heap_mut()[0] = 1;
    assert_eq!(inst.resume().unwrap().unwrap_returned().as_i64(), 15);
}

struct Nested(InstanceHandle);

unsafe extern "C" fn view_then_run(vmctx: &Vmctx) -> i32 {
    let view = vmctx.heap();
    let before = view[0];
    // The exporter writes the memory this view shows.
    let r = vmctx.get_embed_ctx_mut::<Nested>().0.run("poke", &[0i32.into(), 9i32.into()]);
    let after = view[0];
    match r {
        Err(Error::InvalidArgument(msg)) if msg.contains("holds a view") => 1,
        _ => 100 + i32::from(after != before),
    }
}

static VIEWER: [HostcallDef; 1] = [HostcallDef {
    module: "aliasing",
    name: "view_then_run",
    params: &[],
    results: &[ValType::I32],
    func: view_then_run as *const u8,
}];

#[test]
fn a_nested_run_cannot_write_a_memory_a_hostcall_is_viewing() {
    register_hostcalls(&VIEWER);
    let region = region(2);
    let ex = region.new_instance(DlModule::load(compile_wat(EXPORTER)).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.instance("ex", &ex).unwrap();
    let im = compile_wat(
        r#"(module (import "ex" "mem" (memory 1)) (import "aliasing" "view_then_run" (func $v (result i32)))
             (func (export "go") (result i32) call $v))"#,
    );
    let mut im = region
        .new_instance_builder(DlModule::load_unresolved(im).unwrap())
        .with_linker(&linker)
        .with_embed_ctx(Nested(ex))
        .build()
        .unwrap();
    assert_eq!(im.run("go", &[]).unwrap().unwrap_returned().as_i32(), 1);
    // Without the view, the same nested run goes ahead.
    let mut ex = im.remove_embed_ctx::<Nested>().unwrap().0;
    ex.run("poke", &[0i32.into(), 9i32.into()]).unwrap();
    assert_eq!(im.heap()[0], 9);
}
