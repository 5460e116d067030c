//! A plugin host written the way hosts of the original Lucet were, unchanged:
//!
//!     lucet-style MODULE.so
//!
//! It makes the calls the original needed to keep its symbols linked, loads the
//! module, gives the instance a WASI context, and then treats the guest as a plugin:
//! `alloc_string` returns a pointer, read as a `u32` out of an `UntypedRetVal`; the
//! host reads the string out of the heap and passes the pointer back to
//! `release_string` as a `usize`, which the original accepted for an `i32` parameter.
//! Errors are handled with `expect`, as in the examples of its time.

use lucet_runtime::{DlModule, Error, Limits, MmapRegion, Region, UntypedRetVal};
use lucet_wasi::WasiCtxBuilder;

fn main() {
    // Both were required by the original Lucet; here they are documented no-ops.
    lucet_runtime::lucet_internal_ensure_linked();
    lucet_wasi::export_wasi_funcs();

    let path = std::env::args().nth(1).expect("usage: lucet-style MODULE.so");
    let module = DlModule::load(&path).expect("module can be loaded");
    let region = MmapRegion::create(1, &Limits::default()).expect("region can be created");
    let mut instance = region.new_instance(module).expect("instance can be created");

    let wasi_ctx = WasiCtxBuilder::new().args(["plugin"]).inherit_stdio().build().expect("WASI context");
    instance.insert_embed_ctx(wasi_ctx);

    // A C reactor sets up its runtime in `_initialize`; a Rust cdylib has none.
    if instance.exports().any(|e| e == "_initialize") {
        instance.run("_initialize", &[]).expect("_initialize runs");
    }
    instance.run("hello", &[]).expect("hello runs");

    let retval: UntypedRetVal = instance.run("alloc_string", &[]).expect("alloc_string runs").unwrap_returned();
    let ptr = retval.as_u32() as usize;
    let heap = instance.heap();
    let len = heap[ptr..].iter().position(|&b| b == 0).expect("the string is NUL-terminated");
    let text = std::str::from_utf8(&heap[ptr..ptr + len]).expect("the string is UTF-8").to_string();
    println!("alloc_string() = {text:?}");
    println!("live strings: {}", live_strings(&mut instance));

    instance.run("release_string", &[ptr.into()]).expect("release_string runs");
    println!("after release_string: {}", live_strings(&mut instance));

    // A pointer that cannot be a guest address is refused, not truncated.
    match instance.run("release_string", &[usize::MAX.into()]) {
        Err(Error::InvalidArgument(_)) => println!("release_string(usize::MAX) is refused"),
        other => panic!("release_string(usize::MAX) was not refused: {other:?}"),
    }
}

fn live_strings(instance: &mut lucet_runtime::InstanceHandle) -> u32 {
    instance.run("live_strings", &[]).expect("live_strings runs").unwrap_returned().as_u32()
}
