//! A plugin host in the style of the classic Lucet calculator.
//!
//! Every plugin is a WebAssembly module (see `plugins/`) exporting
//! `calc(u32, u32) -> u32`, `name()` and `operator()`, the last two returning a
//! pointer to a NUL-terminated string in the plugin's memory, and
//! `release_string(ptr)` to give such a string back. The host copies the strings
//! out of `instance.heap()` and prints, for each plugin:
//!
//! ```text
//! Plugin: add
//! Calc: 1 + 2 = 3
//! ```
//!
//! Compile the plugins with `lucetc-wasi`, then pass the `.so` files:
//!
//! ```text
//! cargo lucetc-wasi -o add.so examples/calculator/plugins/add-rust/add.wasm
//! cargo lucetc-wasi -o mul.so examples/calculator/plugins/mul-c/mul.wasm
//! cargo run -p calculator -- add.so mul.so
//! ```

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use lucet_runtime::{DlModule, Error, InstanceHandle, Limits, MmapRegion, Region};
use lucet_wasi::WasiCtxBuilder;
use std::path::{Path, PathBuf};

/// A plugin gets this much linear memory at most: enough for a small C plugin,
/// and a bound on what a misbehaving one can take.
const PLUGIN_LIMITS: Limits = Limits { heap_memory_size: 19 * 64 * 1024, ..Limits::default() };

#[derive(Parser)]
#[command(version, about = "Loads calculator plugins and computes 1 <op> 2 with each")]
struct Args {
    /// Compiled plugins (`.so` files made by lucetc-wasi).
    #[arg(required = true)]
    plugins: Vec<PathBuf>,

    /// First operand.
    #[arg(long, default_value_t = 1)]
    lhs: u32,

    /// Second operand.
    #[arg(long, default_value_t = 2)]
    rhs: u32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One slot per plugin: all of them are alive at once, each in its own sandbox.
    let region = MmapRegion::create(args.plugins.len(), &PLUGIN_LIMITS)?;

    for path in &args.plugins {
        let mut plugin = load_plugin(&region, path).with_context(|| format!("plugin {}", path.display()))?;
        let name = plugin_string(&mut plugin, "name")?;
        let operator = plugin_string(&mut plugin, "operator")?;
        let result = u32::from(plugin.run("calc", &[args.lhs.into(), args.rhs.into()])?.returned()?);
        println!("Plugin: {name}");
        println!("Calc: {} {operator} {} = {result}", args.lhs, args.rhs);
    }
    Ok(())
}

fn load_plugin(region: &MmapRegion, path: &Path) -> anyhow::Result<InstanceHandle> {
    if !path.exists() {
        bail!("no such file; compile the plugin first with `lucetc-wasi -o {} PLUGIN.wasm`", path.display());
    }
    let module = DlModule::load(path)?;
    let mut instance = region.new_instance(module)?;
    // Plugins built with a WASI toolchain may import WASI functions (a Rust
    // plugin's runtime does); they get a context that grants nothing.
    instance.insert_embed_ctx(WasiCtxBuilder::new().build()?);
    // A reactor-style module initialises its C runtime in `_initialize`, which a
    // host must call once before any other export; other modules have none.
    match instance.run("_initialize", &[]) {
        Ok(_) | Err(Error::SymbolNotFound(_)) => Ok(instance),
        Err(e) => Err(e).context("running `_initialize`"),
    }
}

/// Calls the export `func`, copies the string it returns out of the plugin's
/// memory, and hands the pointer back to the plugin.
fn plugin_string(plugin: &mut InstanceHandle, func: &str) -> anyhow::Result<String> {
    let ptr = u32::from(plugin.run(func, &[])?.returned()?);
    let s = {
        let heap = plugin.heap();
        let bytes = heap
            .get(ptr as usize..)
            .ok_or_else(|| anyhow!("`{func}` returned {ptr:#x}, which is outside the plugin's memory"))?;
        let len = bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| anyhow!("the string returned by `{func}` has no terminating NUL"))?;
        String::from_utf8_lossy(&bytes[..len]).into_owned()
    };
    plugin.run("release_string", &[ptr.into()])?;
    Ok(s)
}
