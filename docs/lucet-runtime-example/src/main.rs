//! The host program from the original Lucet documentation, unchanged in
//! substance: load a compiled module, create a region, instantiate, give the
//! instance a WASI context, run its `_start`, then call its `add` export.
//!
//! Build the module it runs from the Rust example guest, then run it:
//!
//! ```text
//! cargo lucetc-wasi -o example.so examples/hello-rust/hello-rust.wasm
//! cargo run -p lucet-runtime-example -- example.so
//! ```
//!
//! It prints the guest's greeting and `add(5, 3) = 8`. No linker flags and no
//! registration calls are needed for the WASI hostcalls to be found.

use anyhow::{bail, Context};
use clap::Parser;
use lucet_runtime::{DlModule, Error, Limits, MmapRegion, Region};
use lucet_wasi::WasiCtxBuilder;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Runs a lucetc-compiled WASI module, then calls its `add` export")]
struct Args {
    /// The compiled module (`lucetc-wasi -o example.so examples/hello-rust/hello-rust.wasm`).
    #[arg(default_value = "example.so")]
    module: PathBuf,

    /// Use `Limits::default()` instead of the documentation's 100 * 16 wasm pages of heap.
    #[arg(long)]
    default_limits: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.module.exists() {
        bail!(
            "{} does not exist; compile a module first, e.g. `cargo lucetc-wasi -o {} examples/hello-rust/hello-rust.wasm`",
            args.module.display(),
            args.module.display()
        );
    }

    let limits = if args.default_limits {
        Limits::default()
    } else {
        Limits::default().with_heap_memory_size(100 * 16 * 64 * 1024)
    };

    let dl_module = DlModule::load(&args.module)?;
    // One slot: this program runs a single instance. The region reserves the
    // slot's address space now, so instantiating maps nothing new.
    let region = MmapRegion::create(1, &limits)?;
    let mut instance = region.new_instance(dl_module)?;
    // The guest prints through WASI; let it use this process's stdout and stderr.
    let wasi_ctx = WasiCtxBuilder::new().inherit_stdio().build()?;
    instance.insert_embed_ctx(wasi_ctx);

    match instance.run("_start", &[]) {
        Ok(_) => {}
        // A guest may end `_start` with an explicit `exit(0)`. That is success,
        // but a terminated instance must be reset before it runs again, which
        // would lose the state `add` might depend on, so stop there.
        Err(Error::RuntimeTerminated(details)) => {
            match details.provided_details().and_then(|d| d.downcast_ref::<lucet_wasi::ExitCode>()) {
                Some(lucet_wasi::ExitCode(0)) => return Ok(()),
                Some(lucet_wasi::ExitCode(code)) => bail!("the guest exited with status {code}"),
                None => bail!("the guest was terminated: {details}"),
            }
        }
        Err(e) => return Err(e).context("running `_start`"),
    }

    // `_start` returned, so the instance is still usable: its exports can be
    // called with whatever state `_start` left behind.
    let retval = instance.run("add", &[5i32.into(), 3i32.into()])?.unwrap_returned();
    println!("add(5, 3) = {}", i32::from(retval));
    Ok(())
}
