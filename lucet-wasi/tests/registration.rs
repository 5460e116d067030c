//! Depending on lucet-wasi is enough for WASI modules to load: the hostcalls are
//! registered before `main` by a constructor, with no call into the crate and no
//! linker flags. This test binary deliberately calls nothing in lucet-wasi before
//! loading a WASI module.

mod common;

use lucet_runtime::DlModule;

#[test]
fn hostcalls_are_registered_before_main() {
    // Only `common` (which names WasiCtx in a signature) ties this binary to the crate.
    assert!(
        lucet_runtime::lookup_hostcall("wasi_snapshot_preview1", "fd_write").is_some(),
        "preview1 hostcalls are registered"
    );
    assert!(lucet_runtime::has_hostcall_module("wasi_unstable"));
    DlModule::load(common::compile("basics.wat")).expect("a WASI module loads with no setup call");
}
