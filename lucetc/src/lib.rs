//! `lucetc` compiles a WebAssembly module ahead of time into a native x86-64 ELF
//! shared object that `lucet-runtime` loads and runs in a sandbox.
//!
//! Start at [`Lucetc`]: `Lucetc::try_from_bytes(wasm)?.shared_object_file("m.so")`. The
//! layout of the output is specified by the `lucet-module` crate, which the runtime
//! shares; `docs/architecture.md` in the repository shows how everything fits.
//!
//! # The pipeline
//!
//! 1. **Read and validate** ([`Lucetc::try_from_bytes`], in this file). Text is encoded
//!    with the `wast` crate; the module and then every function body (in parallel) are
//!    validated with `wasmparser`. Nothing later validates again: the translator assumes
//!    a valid module. A module that needs a proposal lucetc does not compile yet is
//!    reported as `not supported yet: <proposal>` (`NOT_YET`, and `gc_free` for the one
//!    Wasm 3.0 rule wasmparser ties to GC: constant expressions reading the module's own
//!    globals).
//! 2. **Module pass** (`translate::module`). The sections become a
//!    `lucet_module::ModuleData` (types, imports, functions, tables, memories with the
//!    reservation the code assumes, globals, elements, data, exports, start), plus the
//!    function bodies to compile. `translate::info::ModuleInfo` wraps it with the vmctx
//!    layout and the object-file ids, shared read-only by every function's translation.
//! 3. **Translate and compile each function** (`compile`, in parallel with rayon). A
//!    body becomes Cranelift IR in `translate::func`, is rewritten by
//!    `div_by_constant` (and by `readonly_loads` when Cranelift's mid-end is off), and is
//!    compiled by Cranelift 0.135 with the settings of `config`. Trap sites are recorded
//!    with their wasm offsets.
//! 4. **Glue per function type** (`trampolines`): a host-to-wasm trampoline (`SystemV`,
//!    what the runtime calls) and a wasm-to-host adapter (host closures and native
//!    hostcalls).
//! 5. **Emit and link** (`emit`, `shared_object`, `link`): code, metadata and the
//!    `lucet_module` descriptor go into a relocatable object, which is linked into a
//!    `.so` in-process, or by the system linker on request. `signing` signs it.
//!
//! # The translator (`src/translate/`)
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | the layout below in brief |
//! | `module.rs` | the module pass: sections to `ModuleData`, wasm types to lucet types |
//! | `info.rs` | `ModuleInfo`; `wasm_signature`, the machine signature of every wasm function |
//! | `func.rs` | `Translator`: operand stack, control frames, locals as `cranelift_frontend` variables, unreachable code; offers each operator to the families in `ops` |
//! | `vmctx.rs` | `VmctxAccess`: the only code that knows vmctx offsets; memory bounds checks (Spectre-guarded by default), tables, globals, builtins, `FuncRef`s |
//! | `ops/` | the operators, one file per family: `control`, `locals` (and globals), `memory`, `numeric`, `convert`, `simd` (with relaxed SIMD), `table` (and references), `call` |
//! | `traps.rs` | the trap codes used in the IR and the `lucet_module::TrapCode` each reports |
//!
//! Indices are typed (`FuncIndex`, `DefinedFuncIndex`, `TypeIndex`, `MemoryIndex`,
//! `TableIndex`, `GlobalIndex` from `lucet-module`). Whether an index names an import or
//! a definition is answered in one place, `lucet_module::ImportCounts` (as `Origin`).
//!
//! **Calling convention.** Every wasm function, and everything a `FuncRef` points at,
//! uses Cranelift's `tail` convention as `fn(vmctx, params...) -> results`, so
//! `return_call`, `return_call_indirect` and `return_call_ref` are real tail calls in
//! every case (`ops/call.rs`). Host code is `extern "C"`: it enters through the
//! trampolines, and is reached through the adapters, which call a native hostcall with
//! `SystemV`. Builtins (`memory.grow`, `table.copy`, ...) are `SystemV` calls through the
//! table in the vmctx header.
//!
//! **Adding an operator.** Find its family in `ops/`, match it in that file's
//! `translate`, pop its operands from `t` (the `Translator`), push its results. Anything
//! that touches the instance (memory, tables, globals, calls) goes through `t.env`
//! (`VmctxAccess`). An operator that no family accepts is reported by
//! `ops::not_supported`, which names its proposal.

pub mod cli;
mod compile;
mod config;
mod div_by_constant;
mod emit;
mod gc_free;
mod error;
mod link;
mod placement;
mod readonly_loads;
mod shared_object;
mod signing;
mod trampolines;
mod translate;

pub use config::{parse_size, OptLevel, TargetCpu, DEFAULT_GUARD_SIZE, DEFAULT_RESERVED_SIZE};
pub use translate::module::{wasm2_features, wasm_features};
pub use error::Error;
pub use link::Linker;
pub use signing::SigningKey;
pub use translate::vmctx::Spectre;
pub use wasmparser::WasmFeatures;

use compile::{compile_clif, guarded};
use config::Config;
use translate::ModuleInfo;
use lucet_module::{CodegenInfo, TargetInfo};
use rayon::prelude::*;
use sha2::Digest;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Called as functions are compiled, with the number compiled so far and the total.
///
/// Functions are compiled in parallel, so calls come from several threads at once and
/// their counts are not always in increasing order.
pub type ProgressFn = dyn Fn(usize, usize) + Send + Sync;

/// A module to compile, and how.
///
/// ```no_run
/// # fn main() -> Result<(), lucetc::Error> {
/// lucetc::Lucetc::new("hello.wasm")?.shared_object_file("hello.so")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Lucetc {
    /// Always the binary encoding, already validated.
    wasm: Vec<u8>,
    /// SHA-256 of the bytes as given (text or binary), recorded in the metadata.
    source_hash: [u8; 32],
    features: WasmFeatures,
    config: Config,
    linker: Linker,
    signing_key: Option<SigningKey>,
    trusted_comment: Option<String>,
    progress: Option<Arc<ProgressFn>>,
}

impl std::fmt::Debug for Lucetc {
    // The module's bytes would drown everything else.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lucetc")
            .field("wasm_len", &self.wasm.len())
            .field("features", &self.features)
            .field("config", &self.config)
            .field("linker", &self.linker)
            .field("signing_key", &self.signing_key)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Lucetc {
    /// Reads a `.wasm` or `.wat` file.
    pub fn new(input: impl AsRef<Path>) -> Result<Lucetc, Error> {
        let path = input.as_ref();
        let bytes = std::fs::read(path).map_err(|error| Error::Read { path: path.to_path_buf(), error })?;
        Lucetc::try_from_bytes(bytes)
    }

    /// Accepts a module in the binary format or the text format, and validates it with
    /// every feature lucetc supports ([`wasm_features`]).
    pub fn try_from_bytes(bytes: impl AsRef<[u8]>) -> Result<Lucetc, Error> {
        Lucetc::try_from_bytes_with_features(bytes, wasm_features())
    }

    /// Like [`Lucetc::try_from_bytes`], but accepts only the given WebAssembly features
    /// (for example [`wasm2_features`] to reject what Wasm 2.0 forbids, such as a second
    /// memory). Features lucetc cannot compile are never accepted.
    pub fn try_from_bytes_with_features(bytes: impl AsRef<[u8]>, features: WasmFeatures) -> Result<Lucetc, Error> {
        let features = features & wasm_features();
        let bytes = bytes.as_ref();
        let source_hash = sha2::Sha256::digest(bytes).into();
        let wasm = guarded("reading the module", || {
            let wasm = if bytes.starts_with(b"\0asm") {
                bytes.to_vec()
            } else if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                return Err(Error::InvalidWasm {
                    offset: 0,
                    message: "the input is empty; expected a WebAssembly module".into(),
                });
            } else {
                let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidWasm {
                    offset: 0,
                    message: "not a WebAssembly module: the binary format starts with `\\0asm` and the text \
                              format must be UTF-8"
                        .into(),
                })?;
                parse_wat(text)?
            };
            // A component's header has layer 1 where a core module's has version 1 (text
            // gets here as a component when wast is built with components).
            if wasm.get(6..8) == Some(&[1, 0][..]) {
                return Err(Error::Unsupported(COMPONENTS_UNSUPPORTED.into()));
            }
            validate(&wasm, features)?;
            Ok(wasm)
        })?;
        Ok(Lucetc {
            wasm,
            source_hash,
            features,
            config: Config::default(),
            linker: Linker::default(),
            signing_key: None,
            trusted_comment: None,
            progress: None,
        })
    }

    pub fn with_opt_level(mut self, opt_level: OptLevel) -> Self {
        self.config.opt_level = opt_level;
        self
    }

    pub fn with_target_cpu(mut self, target_cpu: TargetCpu) -> Self {
        self.config.target_cpu = target_cpu;
        self
    }

    /// Address space the code assumes behind each linear memory's base. At 4 GiB or
    /// more, 32-bit memories need no bounds checks; below, every access is checked.
    pub fn with_reserved_size(mut self, bytes: u64) -> Self {
        self.config.reserved_size = bytes;
        self
    }

    /// Inaccessible space after the reservation that lets constant offsets skip checks.
    pub fn with_guard_size(mut self, bytes: u64) -> Self {
        self.config.guard_size = bytes;
        self
    }

    /// Whether bounds checks are hardened against speculative execution
    /// ([`Spectre::Guarded`], the default) or not ([`Spectre::Off`], for measurement only).
    /// The choice is recorded in the module's metadata.
    pub fn with_spectre(mut self, spectre: Spectre) -> Self {
        self.config.spectre = spectre;
        self
    }

    /// Runs Cranelift's IR verifier on every function (slower compiles; meant for
    /// debugging the compiler). Off by default unless `LUCETC_VERIFY=1` is set.
    pub fn with_verifier(mut self, verify: bool) -> Self {
        self.config.verify = verify;
        self
    }

    /// How [`Lucetc::shared_object_file`] links: in-process ([`Linker::Builtin`], the
    /// default) or with the system's `ld`/`cc` ([`Linker::System`]).
    pub fn with_linker(mut self, linker: Linker) -> Self {
        self.linker = linker;
        self
    }

    /// Calls `report(done, total)` once with `done` = 0 before the module's defined
    /// functions are compiled, and again after each one (see [`ProgressFn`]). The
    /// `lucetc` command draws its progress bar with it.
    pub fn with_progress(mut self, report: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(report));
        self
    }

    /// Signs every shared object [`Lucetc::shared_object_file`] writes: the signature
    /// goes to `OUT.minisig` ([`lucet_module::signature_path`]), in minisign's format,
    /// for `DlModule::load_verified`, `lucet-wasi --verify-key` and `minisign -V`.
    /// Relocatable objects and IR text are not signed.
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// The signature's trusted comment (one line, covered by the signature), instead of
    /// `timestamp:T<TAB>file:NAME<TAB>lucetc:VERSION`.
    pub fn with_trusted_comment(mut self, comment: impl Into<String>) -> Self {
        self.trusted_comment = Some(comment.into());
        self
    }

    /// The binary encoding of the module.
    pub fn wasm(&self) -> &[u8] {
        &self.wasm
    }

    /// SHA-256 of the input exactly as it was given (the `.wasm` or `.wat` bytes),
    /// which every compiled module records as `ModuleData::source_hash`.
    pub fn source_hash(&self) -> [u8; 32] {
        self.source_hash
    }

    /// Compiles and links the module into the shared object `out`, and signs it into
    /// `OUT.minisig` if a key was given ([`Lucetc::with_signing_key`]).
    pub fn shared_object_file(&self, out: impl AsRef<Path>) -> Result<(), Error> {
        let out = out.as_ref();
        let object = self.object_bytes()?;
        let so = link::shared_object_bytes(&object, out, self.linker)?;
        // Signed before anything is written, so a signing failure leaves no new file.
        let signature = match &self.signing_key {
            Some(key) => Some(key.sign(&so, out, self.trusted_comment.as_deref())?),
            None => None,
        };
        link::write_bytes(out, &so)?;
        if let Some(signature) = signature {
            link::write_bytes(&lucet_module::signature_path(out), signature.as_bytes())?;
        }
        Ok(())
    }

    /// Compiles and links the module into the bytes of a shared object, for hosts that
    /// load it from memory (a memfd) rather than from a file they write. Nothing is
    /// signed: a signature is made for a file ([`Lucetc::shared_object_file`]).
    pub fn shared_object_bytes(&self) -> Result<Vec<u8>, Error> {
        let object = self.object_bytes()?;
        link::shared_object_bytes(&object, Path::new("<memory>"), self.linker)
    }

    /// Compiles the module into the relocatable object `out` (what would be linked).
    pub fn object_file(&self, out: impl AsRef<Path>) -> Result<(), Error> {
        let object = self.object_bytes()?;
        link::write_bytes(out.as_ref(), &object)
    }

    /// Writes the Cranelift IR of every function, trampoline and adapter to `out`.
    pub fn clif_ir(&self, out: impl AsRef<Path>) -> Result<(), Error> {
        let text = guarded("translating the module", || {
            let isa = self.config.isa()?;
            let parsed = translate::module::parse(&self.wasm, self.features, &self.config)?;
            let mut info = ModuleInfo::new(parsed.data);
            // Functions are numbered as in the object file.
            info.func_ids = (0..info.num_defined_funcs()).collect();
            let mut text = compile::clif_functions(&info, &*isa, self.config.spectre, parsed.bodies)?.join("\n");
            for (t, ty) in info.data.types.iter().enumerate() {
                text.push_str(&format!("\n; host-to-wasm trampoline for type {t} {ty}\n"));
                text.push_str(&trampolines::host_to_wasm(t as u32, ty).display().to_string());
                text.push_str(&format!("\n; wasm-to-host adapter for type {t} {ty}\n"));
                text.push_str(&trampolines::wasm_to_host(t as u32, ty).display().to_string());
            }
            Ok(text)
        })?;
        link::write_bytes(out.as_ref(), text.as_bytes())
    }

    fn object_bytes(&self) -> Result<Vec<u8>, Error> {
        guarded("compiling the module", || {
            let isa = self.config.isa()?;
            let parsed = translate::module::parse(&self.wasm, self.features, &self.config)?;
            let mut info = ModuleInfo::new(parsed.data);
            info.data.source_hash = Some(self.source_hash);
            info.data.codegen = CodegenInfo {
                spectre_guards: self.config.spectre == Spectre::Guarded,
                opt_level: self.config.opt_level,
            };
            info.data.target = TargetInfo {
                triple: isa.triple().to_string(),
                cpu_features: config::cpu_features(&*isa),
            };
            let mut emitter = emit::Emitter::new(isa.clone(), &mut info)?;
            let plain = self.config.plain_isa()?;
            let total = parsed.bodies.len();
            let done = AtomicUsize::new(0);
            let report = |n| {
                if let Some(progress) = &self.progress {
                    progress(n, total)
                }
            };
            report(0);
            let compiled = || report(done.fetch_add(1, Ordering::Relaxed) + 1);
            let functions = compile::compile_functions(&info, &*isa, &*plain, self.config.spectre, parsed.bodies, &compiled)?;
            let glue: Vec<_> = info
                .data
                .types
                .par_iter()
                .enumerate()
                .map(|(t, ty)| {
                    let label = format!("trampolines of type {t}");
                    guarded(&label, || {
                        Ok((
                            compile_clif(&*isa, trampolines::host_to_wasm(t as u32, ty), &label)?,
                            compile_clif(&*isa, trampolines::wasm_to_host(t as u32, ty), &label)?,
                        ))
                    })
                })
                .collect::<Result<_, Error>>()?;
            let (host_to_wasm, wasm_to_host): (Vec<_>, Vec<_>) = glue.into_iter().unzip();
            let (mut sites, mut saves) = (Vec::new(), Vec::new());
            let codes = emitter.define_code(&functions, &host_to_wasm, &wasm_to_host, &mut sites, &mut saves)?;
            info.data.exceptions.sites = sites;
            info.data.exceptions.saves = saves;
            let first = info.imports.funcs as usize;
            for (entry, code) in info.data.functions[first..].iter_mut().zip(codes) {
                entry.code = Some(code);
            }
            emitter.finish(&info.data)
        })
    }
}

/// Validates the module, its function bodies in parallel (they are independent, and a
/// large module has megabytes of them). Reports the first invalid body by index, as a
/// sequential validation would. This is the only validation: a [`Lucetc`] holds only
/// valid modules, and the translator relies on that.
fn validate(wasm: &[u8], features: WasmFeatures) -> Result<(), Error> {
    match validate_with(wasm, features) {
        Ok(()) => Ok(()),
        Err(e) if gc_free::may_need_gc_validation(&e, features) => {
            // Valid Wasm 3.0 that wasmparser accepts only with GC on: accept it if it
            // uses nothing else of GC.
            match validate_with(wasm, gc_free::validation_features(features)) {
                Ok(()) => gc_free::check(wasm, features),
                Err(_) => Err(explain_invalid(wasm, features, e)),
            }
        }
        Err(e) => Err(explain_invalid(wasm, features, e)),
    }
}

/// Proposals lucetc does not compile yet, by the feature that makes wasmparser accept them.
const NOT_YET: &[(WasmFeatures, &str)] = &[
    (WasmFeatures::EXCEPTIONS, "exception handling"),
    (WasmFeatures::LEGACY_EXCEPTIONS, "exception handling (legacy instructions)"),
    (WasmFeatures::GC.union(WasmFeatures::FUNCTION_REFERENCES), "garbage collection"),
    (WasmFeatures::THREADS, "threads"),
    (WasmFeatures::SHARED_EVERYTHING_THREADS, "shared-everything threads"),
    (WasmFeatures::STACK_SWITCHING, "stack switching"),
    (WasmFeatures::WIDE_ARITHMETIC, "wide arithmetic"),
    (WasmFeatures::CUSTOM_PAGE_SIZES, "custom page sizes"),
    (WasmFeatures::CUSTOM_DESCRIPTORS.union(WasmFeatures::GC).union(WasmFeatures::FUNCTION_REFERENCES), "custom descriptors"),
    (
        WasmFeatures::GC.union(WasmFeatures::FUNCTION_REFERENCES).union(WasmFeatures::EXCEPTIONS),
        "garbage collection and exception handling",
    ),
];

/// A module that is invalid only because it uses a proposal lucetc does not support yet
/// is reported as such ("not supported yet: exception handling") rather than with the
/// validator's complaint about a disabled feature. Only failed validations pay for this.
fn explain_invalid(wasm: &[u8], features: WasmFeatures, error: wasmparser::BinaryReaderError) -> Error {
    let offset = error.offset();
    for (feature, proposal) in NOT_YET {
        if validate_with(wasm, features | *feature).is_ok() {
            return Error::Unsupported(format!("not supported yet: {proposal} (at byte offset {offset:#x})"));
        }
    }
    error.into()
}

fn validate_with(wasm: &[u8], features: WasmFeatures) -> Result<(), wasmparser::BinaryReaderError> {
    let mut validator = wasmparser::Validator::new_with_features(features);
    let mut parser = wasmparser::Parser::new(0);
    parser.set_features(features);
    let mut bodies = Vec::new();
    for payload in parser.parse_all(wasm) {
        if let wasmparser::ValidPayload::Func(func, body) = validator.payload(&payload?)? {
            bodies.push((func, body));
        }
    }
    let results: Vec<Result<(), wasmparser::BinaryReaderError>> = bodies
        .into_par_iter()
        .map_init(wasmparser::FuncValidatorAllocations::default, |allocs, (func, body)| {
            let mut v = func.into_validator(std::mem::take(allocs));
            let result = v.validate(&body);
            *allocs = v.into_allocations();
            result
        })
        .collect();
    results.into_iter().collect::<Result<(), _>>()
}

/// What lucetc says of a component, binary or text.
const COMPONENTS_UNSUPPORTED: &str = "the input is a component (the component model), and lucetc compiles core \
     WebAssembly modules only; compile the component's core module instead, or build the program for \
     wasm32-wasip1";

/// Encodes WebAssembly text, reporting errors as one line with their position.
fn parse_wat(text: &str) -> Result<Vec<u8>, Error> {
    let at = |e: wast::Error| {
        let (line, column) = e.span().linecol_in(text);
        Error::InvalidWat { line: line + 1, column: column + 1, message: e.message() }
    };
    // wast is built without components, and says only that its own support for them is
    // missing (a test pins the message).
    let at = |e: wast::Error| {
        if e.message().contains("components disabled") {
            Error::Unsupported(COMPONENTS_UNSUPPORTED.into())
        } else {
            at(e)
        }
    };
    let buf = wast::parser::ParseBuffer::new(text).map_err(at)?;
    let mut wat = wast::parser::parse::<wast::Wat>(&buf).map_err(at)?;
    wat.encode().map_err(at)
}

