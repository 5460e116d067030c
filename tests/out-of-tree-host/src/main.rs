//! Runs the `_start` of a lucetc-compiled WASI module with the host's stdio.
//!
//! Written the way a user of the runtime would: no special linker flags, no
//! calls that exist only to keep symbols alive. The WASI hostcalls are found
//! because depending on lucet-wasi registers them.

use lucet_runtime::{DlModule, Error, Limits, MmapRegion, Region};
use lucet_wasi::{ExitCode, WasiCtxBuilder};
use std::process::exit;

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: out-of-tree-host MODULE.so");
        exit(2);
    };
    if let Err(e) = run(path.as_ref()) {
        eprintln!("error: {e}");
        exit(1);
    }
}

fn run(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let module = DlModule::load(path)?;
    let region = MmapRegion::create(1, &Limits::default())?;
    let mut instance = region.new_instance(module)?;
    instance.insert_embed_ctx(WasiCtxBuilder::new().inherit_stdio().build()?);
    match instance.run("_start", &[]) {
        Ok(_) => Ok(()),
        Err(Error::RuntimeTerminated(details)) => {
            match details.provided_details().and_then(|d| d.downcast_ref::<ExitCode>()) {
                Some(ExitCode(code)) => exit(*code as i32),
                None => Err(format!("the guest was terminated: {details}").into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}
