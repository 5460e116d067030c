//! The containerd side: the `Shim`, `Sandbox` and `Compiler` traits of
//! `containerd-shim-wasm`. `run_wasi` and `can_handle` run in the container's init
//! process (inside its namespaces, cgroup and root filesystem, with its stdio as fds
//! 0–2); the compiler runs in the shim process. Everything they decide is in
//! [`crate::run`], [`crate::entry`] and [`crate::settings`].

use crate::entry;
use crate::run::{
    self, Outcome, Plan, Source, Stdio, EXIT_BAD_MODULE, EXIT_DEADLINE, EXIT_HOST_ERROR,
};
use crate::settings::{self, Settings};
use anyhow::bail;
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source as LayerSource, WasmLayer};
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::shim::{version, Compiler, Shim, Version};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shim: `containerd-shim-lucet-v1`, runtime `io.containerd.lucet.v1`.
pub struct LucetShim;

/// One container's runtime state: none beyond what the context gives.
#[derive(Default, Clone)]
pub struct LucetSandbox;

/// Compiles Wasm image layers to lucet `.so` bytes for containerd to keep.
pub struct LucetCompiler;

impl Shim for LucetShim {
    fn name() -> &'static str {
        "lucet"
    }

    fn version() -> Version {
        version!()
    }

    type Sandbox = LucetSandbox;

    async fn compiler() -> Option<impl Compiler> {
        Some(LucetCompiler)
    }
}

impl Sandbox for LucetSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> anyhow::Result<i32> {
        // containerd-shim-wasm only logs an `Err` and exits with 137, so every failure
        // is reported on the container's stderr here and becomes an exit code.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_container(ctx)))
            .unwrap_or_else(|p| Outcome {
                code: EXIT_HOST_ERROR,
                message: Some(format!(
                    "internal error: {}",
                    lucet_runtime::panic_message(&*p)
                )),
            });
        if let Some(msg) = &outcome.message {
            eprintln!("error: {msg}");
        }
        Ok(outcome.code)
    }

    async fn can_handle(&self, ctx: &impl RuntimeContext) -> anyhow::Result<()> {
        let refusal = match ctx.entrypoint().source {
            LayerSource::Oci([_]) => return Ok(()),
            LayerSource::Oci(layers) => format!(
                "the image has {} WebAssembly layers, and this runtime runs one module; build the image with a \
                 single module layer",
                layers.len()
            ),
            LayerSource::File(path) => match check_file(&path, ctx.envs()) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            },
        };
        // This runs in the container's init process, whose stderr is the container's:
        // the refusal reaches whoever started the container, not only the shim's log.
        eprintln!("error: {refusal}");
        bail!(refusal)
    }
}

/// Whether the file entrypoint is something this runtime runs.
fn check_file(path: &Path, env: &[String]) -> Result<(), String> {
    let settings = Settings::from_env(env).map_err(|e| e.to_string())?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let found = entry::resolve(path, &cwd, settings.search_path()).map_err(|e| e.to_string())?;
    entry::classify(&found)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Builds the plan from the container's context and runs it.
fn run_container(ctx: &impl RuntimeContext) -> Outcome {
    let settings = match Settings::from_env(ctx.envs()) {
        Ok(s) => s,
        Err(e) => {
            return Outcome {
                code: EXIT_BAD_MODULE,
                message: Some(e.to_string()),
            }
        }
    };
    let entrypoint = ctx.entrypoint();
    let arg0 = ctx.args().first().map(String::as_str).unwrap_or("");
    let program = arg0
        .split_once('#')
        .map_or(arg0, |(path, _)| path)
        .to_owned();
    let source = match entrypoint.source {
        LayerSource::File(path) => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            match entry::resolve(&path, &cwd, settings.search_path()) {
                Ok(p) => Source::File(p),
                Err(e) => {
                    return Outcome {
                        code: EXIT_BAD_MODULE,
                        message: Some(e.to_string()),
                    }
                }
            }
        }
        LayerSource::Oci([layer]) => Source::Bytes(layer.layer.clone()),
        LayerSource::Oci(layers) => {
            return Outcome {
                code: EXIT_BAD_MODULE,
                message: Some(format!(
                    "the image has {} WebAssembly layers, and this runtime runs one module",
                    layers.len()
                )),
            }
        }
    };
    if let Some(deadline) = settings.deadline {
        watch_blocked_hostcalls(deadline);
    }
    let mut args = vec![program];
    args.extend(ctx.args().iter().skip(1).cloned());
    run::run(Plan {
        source,
        func: entrypoint.func,
        args,
        settings,
        memory_limit: settings::own_memory_limit(),
        root: PathBuf::from("/"),
        stdio: Stdio::Inherit,
    })
}

/// The kill switch stops a guest as soon as it runs its own code again, but a hostcall
/// blocked in the host (a long `poll_oneoff`, a read from a pipe) is never interrupted.
/// A second after the deadline, end the container's process instead: it runs this one
/// guest, so nothing else is lost.
fn watch_blocked_hostcalls(deadline: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(deadline.saturating_add(Duration::from_secs(1)));
        eprintln!(
            "error: the guest did not finish within its deadline ({deadline:?}, LUCET_DEADLINE); it was blocked in a \
             hostcall and was stopped"
        );
        std::process::exit(EXIT_DEADLINE);
    });
}

impl Compiler for LucetCompiler {
    fn cache_key(&self) -> impl Hash {
        // A compiled module is only reused by the compiler and format that made it.
        format!(
            "lucetc-{}-format-{}",
            lucet_module::COMPILER_VERSION,
            lucet_module::FORMAT_VERSION
        )
    }

    async fn compile(&self, layers: &[WasmLayer]) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
        layers
            .iter()
            .map(|l| run::precompile(&l.layer).map_err(anyhow::Error::msg))
            .collect()
    }
}
