//! Running one guest the way the shim does, without containerd: find or compile the
//! module, instantiate it under the container's limits, run its entrypoint with WASI,
//! and turn how the run ended into an exit code and a message for the container's
//! stderr. The shim's `run_wasi` is a thin layer over [`run`], so the tests of this
//! module cover the path containers take.

use crate::entry::{self, ModuleKind};
use crate::settings::Settings;
use lucet_runtime::{
    DlModule, Error, InstanceHandle, Limits, MmapRegion, PublicKey, Region, TerminationDetails,
    WASM_PAGE_SIZE,
};
use lucet_wasi::cache::{Cache, CompileOptions};
use lucet_wasi::{OutputCapture, WasiCtxBuilder};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A failure of the host while running the guest (I/O, a hostcall's own error).
pub const EXIT_HOST_ERROR: i32 = 1;
/// The entrypoint cannot be found, read, compiled, verified, loaded or instantiated.
pub const EXIT_BAD_MODULE: i32 = 2;
/// The guest ran past its deadline (`LUCET_DEADLINE`).
pub const EXIT_DEADLINE: i32 = 124;
/// The guest trapped.
pub const EXIT_TRAP: i32 = 125;

/// Where the module comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file in the container's root filesystem (`.wasm`, `.wat` or lucetc's `.so`).
    File(PathBuf),
    /// The bytes of an image layer: WebAssembly, or the `.so` the shim's compiler made
    /// from it and containerd stored.
    Bytes(Vec<u8>),
}

/// Where the guest's standard streams go.
pub enum Stdio {
    /// The process's own, which in a container are the container's.
    Inherit,
    /// Captured, for tests.
    Capture {
        stdout: OutputCapture,
        stderr: OutputCapture,
    },
}

/// Everything one run needs.
pub struct Plan {
    pub source: Source,
    /// The export to call (`_start` unless the entrypoint said `path#func`).
    pub func: String,
    /// The guest's arguments, the first being the program's name.
    pub args: Vec<String>,
    pub settings: Settings,
    /// The container's memory limit in bytes, if it has one.
    pub memory_limit: Option<u64>,
    /// The host directory the guest sees as `/`: the container's root.
    pub root: PathBuf,
    pub stdio: Stdio,
}

/// How a run ended: the container's exit code, and what to write on its stderr.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub message: Option<String>,
}

impl Outcome {
    fn fail(code: i32, message: impl Into<String>) -> Outcome {
        Outcome {
            code,
            message: Some(message.into()),
        }
    }
}

/// The limits an instance gets: lucet's defaults, with the linear memory capped at the
/// container's memory limit (rounded down to whole WebAssembly pages).
pub fn limits_for(memory_limit: Option<u64>) -> Limits {
    let default = Limits::default();
    let heap = match memory_limit {
        Some(limit) => {
            let pages = limit / WASM_PAGE_SIZE as u64;
            usize::try_from(pages * WASM_PAGE_SIZE as u64)
                .unwrap_or(usize::MAX)
                .min(default.heap_memory_size)
        }
        None => default.heap_memory_size,
    };
    default.with_heap_memory_size(heap)
}

/// A verification key: the `RW...` key line itself, or a `.pub` file.
pub fn public_key(value: &str) -> Result<PublicKey, String> {
    if Path::new(value).is_file() {
        return PublicKey::from_file(value).map_err(|e| e.to_string());
    }
    PublicKey::from_base64(value).map_err(|_| {
        format!(
            "LUCET_VERIFY_KEY={value}: neither a file in the container nor a minisign public key; give the key \
             line of the .pub file `minisign -G` wrote (56 characters starting with RW)"
        )
    })
}

/// Loads a shared object from memory: a sealed memfd, so nothing is written to the
/// container's filesystem (which may be read-only, or mounted noexec).
pub fn load_from_memory(so: &[u8]) -> Result<Arc<DlModule>, String> {
    let name = c"lucet-module";
    // SAFETY: `name` is a valid C string; the flags are plain constants.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(format!(
            "cannot create an in-memory file for the module (memfd_create): {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(so)
        .map_err(|e| format!("cannot write the module into memory: {e}"))?;
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    // SAFETY: `fd` is open (owned by `file`); F_ADD_SEALS takes an int argument.
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } != 0 {
        return Err(format!(
            "cannot seal the in-memory module: {}",
            std::io::Error::last_os_error()
        ));
    }
    DlModule::load(format!("/proc/self/fd/{fd}")).map_err(|e| e.to_string())
}

/// Compiles WebAssembly (binary or text) and loads the result: through lucet-wasi's
/// cache when the container names a cache directory, else in memory.
pub fn compile(source: &[u8], cache_dir: Option<&Path>) -> Result<Arc<DlModule>, String> {
    let options = CompileOptions::default();
    if let Some(dir) = cache_dir {
        let loaded = Cache::open(dir)
            .and_then(|c| c.load_or_compile(source, &options))
            .map_err(|e| format!("{e} (LUCET_CACHE_DIR={})", dir.display()))?;
        return Ok(loaded.module);
    }
    let so = options
        .compile_to_bytes(source)
        .map_err(|e| format!("cannot compile the module: {e}"))?;
    load_from_memory(&so)
}

/// The compiled form of one image layer, for containerd to keep (the shim's
/// `Compiler`): `None` for a layer that is already a compiled module.
pub fn precompile(layer: &[u8]) -> Result<Option<Vec<u8>>, String> {
    if entry::is_elf(layer) {
        return Ok(None);
    }
    CompileOptions::default()
        .compile_to_bytes(layer)
        .map(Some)
        .map_err(|e| format!("cannot compile the module: {e}"))
}

/// Finds, compiles or loads the module, checking a signature when a key is set.
fn load(plan: &Plan) -> Result<Arc<DlModule>, String> {
    let key = plan
        .settings
        .verify_key
        .as_deref()
        .map(public_key)
        .transpose()?;
    let unsigned = |what: &str| {
        format!(
            "LUCET_VERIFY_KEY is set, so only a signed .so may run, and {what}; compile and sign the module with \
             `lucetc-wasi --sign-key SECRET_KEY -o app.so app.wasm` and ship app.so with app.so.minisig"
        )
    };
    match &plan.source {
        Source::File(path) => match entry::classify(path).map_err(|e| e.to_string())? {
            ModuleKind::SharedObject => match &key {
                Some(key) => DlModule::load_verified(path, key),
                None => DlModule::load(path),
            }
            .map_err(|e| e.to_string()),
            ModuleKind::Wasm | ModuleKind::Wat => {
                if key.is_some() {
                    return Err(unsigned(&format!("{} is not compiled", path.display())));
                }
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read the entrypoint {}: {e}", path.display()))?;
                compile(&bytes, plan.settings.cache_dir.as_deref())
            }
        },
        Source::Bytes(bytes) => {
            if key.is_some() {
                return Err(unsigned("an image layer carries no signature"));
            }
            if entry::is_elf(bytes) {
                load_from_memory(bytes)
            } else {
                compile(bytes, plan.settings.cache_dir.as_deref())
            }
        }
    }
}

/// Builds the guest's WASI context: its arguments and environment, the container's
/// root as `/`, and the standard streams.
fn wasi(plan: &Plan) -> Result<lucet_wasi::WasiCtx, lucet_wasi::Error> {
    let mut b = WasiCtxBuilder::new()
        .args(&plan.args)
        .envs(plan.settings.guest_env.iter().map(|(k, v)| (k, v)))
        .preopened_dir(&plan.root, "/");
    b = match &plan.stdio {
        Stdio::Inherit => b.inherit_stdio(),
        Stdio::Capture { stdout, stderr } => b.stdout(stdout.clone()).stderr(stderr.clone()),
    };
    b.build()
}

/// Runs the plan to its end.
pub fn run(plan: Plan) -> Outcome {
    let module = match load(&plan) {
        Ok(m) => m,
        Err(e) => return Outcome::fail(EXIT_BAD_MODULE, e),
    };
    let mut inst = match instantiate(&plan, module) {
        Ok(i) => i,
        Err(o) => return o,
    };
    match wasi(&plan) {
        Ok(ctx) => inst.insert_embed_ctx(ctx),
        Err(e) => return Outcome::fail(EXIT_BAD_MODULE, e.to_string()),
    }
    // A reactor (a module with `_initialize`) is initialised before the export asked for.
    let needs_init = plan.func != "_start"
        && plan.func != "_initialize"
        && inst.export_func_type("_initialize").is_some();
    let mut call = |name: &str| match plan.settings.deadline {
        Some(d) => inst.run_with_timeout(name, &[], d),
        None => inst.run(name, &[]),
    };
    let result = if needs_init {
        call("_initialize").and_then(|_| call(&plan.func))
    } else {
        call(&plan.func)
    };
    match result {
        Ok(_) => Outcome {
            code: 0,
            message: None,
        },
        Err(e) => outcome_of(&plan, &inst, e),
    }
}

fn instantiate(plan: &Plan, module: Arc<DlModule>) -> Result<InstanceHandle, Outcome> {
    let limits = limits_for(plan.memory_limit);
    let region = MmapRegion::create(1, &limits).map_err(|e| {
        Outcome::fail(
            EXIT_BAD_MODULE,
            format!("cannot reserve memory for the guest: {e}"),
        )
    })?;
    region.new_instance(module).map_err(|e| match e {
        Error::InstantiationTrap(_) => Outcome::fail(EXIT_TRAP, e.to_string()),
        Error::LimitsExceeded(why) if plan.memory_limit.is_some() => {
            // The runtime's advice (raise `Limits::heap_memory_size`) is for embedders;
            // here the limit is the container's.
            let why = why.split("; raise").next().unwrap_or(&why);
            Outcome::fail(
                EXIT_BAD_MODULE,
                format!(
                    "{why}: the container's memory limit allows the guest {} bytes of linear memory, less than \
                     the module needs at start; raise the container's memory limit",
                    limits.heap_memory_size
                ),
            )
        }
        e => Outcome::fail(EXIT_BAD_MODULE, e.to_string()),
    })
}

/// The exit code and message for a run that did not return normally.
pub fn outcome_of(plan: &Plan, inst: &InstanceHandle, e: Error) -> Outcome {
    if let Some(code) = lucet_wasi::exit_code(&e) {
        return Outcome {
            code: (code & 0xff) as i32,
            message: None,
        };
    }
    match e {
        Error::RuntimeTerminated(TerminationDetails::Timeout | TerminationDetails::Remote) => {
            Outcome::fail(
                EXIT_DEADLINE,
                format!(
                    "the guest did not finish within its deadline ({:?}, LUCET_DEADLINE) and was stopped",
                    plan.settings.deadline.unwrap_or_default()
                ),
            )
        }
        Error::RuntimeFault(_) | Error::InstantiationTrap(_) => Outcome::fail(EXIT_TRAP, e.to_string()),
        Error::SymbolNotFound(_) => {
            let names: Vec<&str> = inst.exports().collect();
            Outcome::fail(
                EXIT_BAD_MODULE,
                format!(
                    "the module exports no function `{}`; its exports are: {}; name one after `#` in the \
                     container's command",
                    plan.func,
                    names.join(", ")
                ),
            )
        }
        e => Outcome::fail(EXIT_HOST_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests;
