//! Loading compiled modules.
//!
//! No code from a file runs before the file has been checked. `DlModule::load` opens the
//! file once and checks its bytes through a read-only mapping, three small ranges of them
//! through copies read with `pread` (`elf_file`, `elf_check`, `descriptor`): an x86-64 ELF shared object exporting `lucet_module` and nothing else,
//! with this runtime's format version, nothing the dynamic linker would run or write
//! outside the object, and every pointer and length of the descriptor inside the file's
//! segments. Then the small metadata is decoded from the file, its tables' records
//! validated in place and everything checked (`metadata`, including the CPU features), imports are
//! resolved (`imports`), and only then is that same open file given to `dlopen` (`load`),
//! whose result is checked against the file before anything is read through it. The
//! signal handler's code map (`code_map`) is the checked function addresses and the trap
//! tables, read where they lie in the checked mapping of the file, which the module
//! keeps; the image of memory 0 is mapped from the file when lucetc stored one. Finally types are interned into the process-wide signature table.

// A measurement build skips the checks, leaving them unused.
#![cfg_attr(feature = "unsafe-skip-load-checks", allow(dead_code))]

mod code_map;
#[cfg(test)]
mod copies_tests;
mod descriptor;
mod elf_check;
mod elf_file;
mod imports;
mod inspect;
mod load;
mod metadata;
mod phases;
#[cfg(feature = "unsafe-skip-load-checks")]
mod skip_checks;

pub(crate) use code_map::{CodeMap, MultiCodeMap};
use code_map::CodeIndex;
pub(crate) use imports::{describe_global, describe_memory, describe_table, intern_typed_signature, unresolved};
pub use inspect::{FunctionInfo, ModuleInfo, SignatureStatus};
pub use phases::{load_phases, LoadPhase};

use crate::region::image::MemoryImage;
use crate::signature::{read_verified, PublicKey};
use crate::error::Error;
use lucet_module::{
    plan_memory_image, DataIndex, DefinedFuncIndex, FuncRef, Metadata, ModuleData, FORMAT_VERSION, IMAGE_PAGE,
};
use std::path::Path;
use std::sync::Arc;

/// A compiled module that instances can be created from.
///
/// The only implementation is [`DlModule`]; the trait exists so regions can take any
/// `Arc<dyn Module>` as the original Lucet API did.
pub trait Module: Send + Sync + 'static {
    fn module_data(&self) -> &ModuleData;
    #[doc(hidden)]
    fn as_dl_module(&self) -> &DlModule;
}

/// How an imported function was resolved when the module was loaded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ResolvedImport {
    /// A native hostcall from the registry.
    Hostcall(*const u8),
    /// Left for a `Linker` at instantiation.
    Unresolved,
}

/// A module loaded from a shared object with `dlopen`.
pub struct DlModule {
    path: String,
    data: ModuleData,
    /// Process-wide signature id of each module type.
    type_ids: Vec<u32>,
    /// One entry per import, in import order (only meaningful for function imports).
    imports: Vec<ResolvedImport>,
    /// Copy-on-write image of memory 0's initial contents, built once here so that
    /// instantiation maps it instead of copying data segments.
    memory_image: Option<Arc<MemoryImage>>,
    /// `image_covers[i]`: data segment `i` is part of `memory_image`.
    image_covers: Vec<bool>,
    /// The FuncRef of every defined function with a null vmctx: instantiation copies
    /// these and fills in its own vmctx.
    defined_funcrefs: Vec<FuncRef>,
    /// The host->wasm trampoline and the wasm->host adapter of each type.
    trampolines: Vec<*const u8>,
    adapters: Vec<*const u8>,
    /// This module's exception handlers in the process-wide list a throw searches;
    /// removed before the code is unloaded.
    _handlers: crate::exec::unwind::Registration,
    /// Declared last: the code and data above point into the object, which this keeps
    /// loaded (instances may keep it longer, to find the code of their traps).
    code_map: Arc<CodeMap>,
}

// SAFETY: the code pointers refer to immutable, loaded code that stays mapped until
// `code_map` (which holds the object) is dropped; nothing in a `DlModule` is mutated
// after loading.
unsafe impl Send for DlModule {}
// SAFETY: as above; every method only reads.
unsafe impl Sync for DlModule {}

impl Module for DlModule {
    fn module_data(&self) -> &ModuleData {
        &self.data
    }
    fn as_dl_module(&self) -> &DlModule {
        self
    }
}

impl std::fmt::Debug for DlModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DlModule")
            .field("path", &self.path)
            .field("load_address", &format_args!("{:#x}", self.code_map.loaded().base))
            .finish_non_exhaustive()
    }
}

fn invalid(path: &str, reason: impl Into<String>) -> Error {
    Error::InvalidModule { path: path.to_string(), reason: reason.into() }
}

/// Why a file was refused before it was loaded.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Not an ELF file at all (`wasm`: a WebAssembly binary).
    NotElf { wasm: bool },
    /// An ELF file, but not an x86-64 shared object.
    WrongKind(String),
    /// A shared object without a Lucet descriptor.
    NotLucet,
    /// A Lucet module of another format version.
    Version(u32),
    /// Structures that are damaged, truncated or inconsistent.
    Malformed(String),
    /// Something lucetc never writes that would run code or change the host when loaded.
    Forbidden(String),
    /// The whole message.
    Inconsistent(String),
}

impl Refusal {
    fn into_error(self, path: &str) -> Error {
        match self {
            Refusal::NotElf { wasm: true } => {
                invalid(path, "this is a WebAssembly binary, not a compiled module; compile it with lucetc first")
            }
            Refusal::NotElf { wasm: false } => {
                invalid(path, "not an ELF shared object; compile the WebAssembly module with lucetc")
            }
            Refusal::WrongKind(what) => invalid(
                path,
                format!("expected an x86-64 ELF shared object, found {what}; compile the module with lucetc"),
            ),
            Refusal::NotLucet => invalid(path, "not a Lucet module (compile it with lucetc)"),
            Refusal::Version(found) => Error::VersionMismatch {
                path: path.to_string(),
                found,
                expected: FORMAT_VERSION,
                compiler: "an incompatible version".to_string(),
                runtime_version: lucet_module::COMPILER_VERSION,
            },
            Refusal::Malformed(what) => {
                invalid(path, format!("malformed or truncated ELF file ({what}); recompile it with lucetc"))
            }
            Refusal::Forbidden(what) => invalid(
                path,
                format!(
                    "refused before loading: {what}. lucetc never writes this, so the file was altered or made by \
                     another tool; none of its code has run. Recompile the module with lucetc"
                ),
            ),
            Refusal::Inconsistent(what) => invalid(path, what),
        }
    }
}

/// What is worked out from the metadata before the object is loaded.
struct Prepared {
    imports: Vec<ResolvedImport>,
    type_ids: Vec<u32>,
    plan: Option<lucet_module::ImageLayout>,
    /// Where the file stores the image of memory 0, if it does: file offset, offset in
    /// the heap, length.
    stored_image: Option<(u64, u64, usize)>,
}

impl Prepared {
    /// Resolves the imports, interns the types and finds the stored image of memory 0.
    /// `tables` lie in the mapping of `file`.
    fn new(
        file: &load::ModuleFile,
        shown: &str,
        tables: &Metadata<'_>,
        data: &ModuleData,
        strict: bool,
    ) -> Result<Prepared, Error> {
        let imports = imports::resolve_imports(shown, data, strict)?;

        // The image of memory 0, if the file stores one, is mapped from the file later:
        // it must be what the segments make, and page-aligned in the file.
        let plan = plan_memory_image(data, |i| tables.segment(DataIndex::from_u32(i as u32)).len() as u64);
        let stored_image = match (tables.image(), &plan) {
            (None, _) => None,
            (Some((heap_offset, bytes)), Some(plan)) if heap_offset == plan.start && bytes.len() as u64 == plan.len() => {
                // The image lies inside the metadata (`tables` was parsed from `meta`),
                // which lies in the file's bytes: its place in them is its file offset.
                let at = (bytes.as_ptr() as usize - file.bytes().as_ptr() as usize) as u64;
                (at % IMAGE_PAGE == 0).then_some((at, heap_offset, bytes.len()))
            }
            (Some(_), _) => {
                return Err(invalid(
                    shown,
                    "inconsistent metadata (the stored image of memory 0 is not what the data segments make); \
                     recompile the module with this version of lucetc",
                ))
            }
        };

        let type_ids = data
            .types
            .iter()
            .enumerate()
            .map(|(i, ty)| imports::intern_typed_signature(ty, data.type_digests.get(i).copied().flatten()))
            .collect::<Vec<_>>();
        phases::work("imports and types");
        Ok(Prepared { imports, type_ids, plan, stored_image })
    }
}

impl DlModule {
    /// Loads a module whose every import is a registered hostcall
    /// ([`crate::register_hostcalls`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<DlModule>, Error> {
        Self::load_impl(path.as_ref(), true)
    }

    /// Loads a module, leaving imports that are not registered hostcalls to be supplied
    /// at instantiation by a [`crate::Linker`].
    pub fn load_unresolved(path: impl AsRef<Path>) -> Result<Arc<DlModule>, Error> {
        Self::load_impl(path.as_ref(), false)
    }

    /// Loads a module only if `PATH.minisig` is a valid minisign signature of it by
    /// `key`; like [`DlModule::load`] otherwise. A missing, malformed or foreign
    /// signature, or a file changed after signing, is [`Error::SignatureRejected`], and
    /// nothing from the file is mapped executable. `crate::signature` explains how the
    /// bytes verified are the bytes loaded, and what that costs.
    pub fn load_verified(path: impl AsRef<Path>, key: &PublicKey) -> Result<Arc<DlModule>, Error> {
        Self::load_verified_impl(path.as_ref(), key, true)
    }

    /// [`DlModule::load_verified`], leaving imports that are not registered hostcalls to
    /// a [`crate::Linker`] as [`DlModule::load_unresolved`] does.
    pub fn load_verified_unresolved(path: impl AsRef<Path>, key: &PublicKey) -> Result<Arc<DlModule>, Error> {
        Self::load_verified_impl(path.as_ref(), key, false)
    }

    fn load_verified_impl(path: &Path, key: &PublicKey, strict: bool) -> Result<Arc<DlModule>, Error> {
        phases::start();
        let shown = path.display().to_string();
        let sealed = read_verified(path, &shown, key)?;
        phases::work("signature");
        let file = load::ModuleFile::from_file(sealed).map_err(|reason| invalid(&shown, reason))?;
        phases::work("open and map");
        Self::load_file(file, shown, strict)
    }

    pub fn module_data(&self) -> &ModuleData {
        &self.data
    }

    /// The path the module was loaded from.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn load_impl(path: &Path, strict: bool) -> Result<Arc<DlModule>, Error> {
        phases::start();
        let shown = path.display().to_string();
        let file = load::ModuleFile::open(path).map_err(|reason| invalid(&shown, reason))?;
        phases::work("open and map");
        Self::load_file(file, shown, strict)
    }

    /// Checks and loads an opened file. Whatever else is to be checked on the file's bytes
    /// (`file.bytes()`) before it is loaded fits in between opening and this.
    #[cfg(not(feature = "unsafe-skip-load-checks"))]
    fn load_file(file: load::ModuleFile, shown: String, strict: bool) -> Result<Arc<DlModule>, Error> {
        // Everything up to `load::load` reads the file's bytes only.
        let inspect::Checked { segments, layout, meta, tables, data } = inspect::check_file(&file, &shown)?;
        metadata::check_cpu_features(&shown, &data)?;
        phases::check("metadata and tables");
        let prepared = Prepared::new(&file, &shown, &tables, &data, strict)?;
        let meta = (meta.as_ptr(), meta.len());
        let loaded = load::load(&file, &segments, &layout).map_err(|reason| invalid(&shown, reason))?;
        Self::finish(file, shown, layout, meta, data, prepared, loaded)
    }

    /// Loads an opened file without checking it, for measuring what the checks add to a
    /// load (docs/benchmarks.md). Only a measurement build has this: the feature that
    /// selects it refuses any other build (`skip_checks`).
    #[cfg(feature = "unsafe-skip-load-checks")]
    fn load_file(file: load::ModuleFile, shown: String, strict: bool) -> Result<Arc<DlModule>, Error> {
        let (loaded, layout, meta_at) = load::load_unchecked(&file).map_err(|reason| invalid(&shown, reason))?;
        let meta = usize::try_from(meta_at)
            .ok()
            .and_then(|at| file.bytes().get(at..at.checked_add(layout.metadata_len as usize)?))
            .ok_or_else(|| invalid(&shown, "the metadata lies outside the file"))?;
        let inconsistent = |e: lucet_module::Error| invalid(&shown, e.to_string());
        let tables = Metadata::parse(meta).map_err(inconsistent)?;
        let data = tables.decode().map_err(inconsistent)?;
        phases::work("decode");
        let prepared = Prepared::new(&file, &shown, &tables, &data, strict)?;
        let meta = (meta.as_ptr(), meta.len());
        Self::finish(file, shown, layout, meta, data, prepared, loaded)
    }

    /// What is made of the loaded object: the memory image, the code map, the function
    /// references and the exception handlers. `meta` lies in the mapping of `file`.
    fn finish(
        file: load::ModuleFile,
        shown: String,
        layout: descriptor::Layout,
        (meta_ptr, meta_len): (*const u8, usize),
        data: ModuleData,
        prepared: Prepared,
        loaded: load::Loaded,
    ) -> Result<Arc<DlModule>, Error> {
        let Prepared { imports, type_ids, plan, stored_image } = prepared;
        let n_imported = data.num_imported_funcs();
        let base = loaded.base;
        let at = |vaddr: u64| base.wrapping_add(vaddr as usize) as *const u8;

        // Without an image (no memfd, say) instantiation applies every segment itself,
        // which is slower but equivalent.
        let (memory_image, image_covers) = match (stored_image, plan) {
            (Some((file_offset, heap_offset, len)), Some(plan)) => {
                match file.duplicate().and_then(|f| MemoryImage::in_file(f, file_offset, heap_offset as usize, len)) {
                    Ok(image) => (Some(Arc::new(image)), plan.covered),
                    Err(_) => (None, Vec::new()),
                }
            }
            _ => {
                // SAFETY: the bytes lie in the mapping of `file`, which lives until the
                // end of this block.
                let meta = unsafe { std::slice::from_raw_parts(meta_ptr, meta_len) };
                let tables = Metadata::parse(meta).map_err(|e| invalid(&shown, e.to_string()))?;
                match MemoryImage::build(&data, &|i| tables.segment(DataIndex::from_u32(i as u32))) {
                    Ok(Some(plan)) => (Some(Arc::new(plan.image)), plan.covered),
                    Ok(None) | Err(_) => (None, Vec::new()),
                }
            }
        };

        // The code map reads the tables where they were validated, in the checked
        // mapping, which it keeps.
        let starts = layout.functions().iter().map(|&v| at(v) as usize).collect();
        let Some(checked) = file.into_map() else {
            return Err(invalid(&shown, "the file is empty"));
        };
        // SAFETY: the bytes lie in the mapping `checked`, which moving did not unmap,
        // and which the code map keeps mapped, read-only, for as long as it hands out
        // the tables (never for longer than its own borrow).
        let meta: &'static [u8] = unsafe { std::slice::from_raw_parts(meta_ptr, meta_len) };
        // The bytes `tables` were parsed from and validated in, so the same tables.
        let tables = Metadata::parse(meta).map_err(|e| invalid(&shown, e.to_string()))?;
        let code_map = CodeMap::new(loaded, checked, CodeIndex::new(starts, tables, n_imported as u32));

        let defined_funcrefs = layout
            .functions()
            .iter()
            .enumerate()
            .map(|(def, &vaddr)| FuncRef {
                func_ptr: at(vaddr),
                vmctx: std::ptr::null_mut(),
                type_id: type_ids[data.functions[n_imported + def].type_index as usize],
                _pad: 0,
            })
            .collect();

        let tables = code_map.tables();
        let code: Vec<(usize, usize)> = layout
            .functions()
            .iter()
            .enumerate()
            .map(|(d, &v)| {
                let len = tables.function(DefinedFuncIndex::from_u32(d as u32)).map_or(0, |f| f.code_len as usize);
                (at(v) as usize, len)
            })
            .collect();
        let handlers = crate::exec::unwind::Registration::new(&data, &code);
        phases::work("image, functions, handlers");
        Ok(Arc::new(DlModule {
            _handlers: handlers,
            defined_funcrefs,
            memory_image,
            image_covers,
            path: shown,
            trampolines: layout.trampolines().iter().map(|&v| at(v)).collect(),
            adapters: layout.adapters().iter().map(|&v| at(v)).collect(),
            data,
            type_ids,
            imports,
            code_map: Arc::new(code_map),
        }))
    }

    /// The bytes of data segment `i`, read in place from the checked mapping of the file.
    pub(crate) fn data_segment(&self, i: u32) -> &[u8] {
        self.code_map.tables().segment(DataIndex::from_u32(i))
    }

    pub(crate) fn type_ids(&self) -> &[u32] {
        &self.type_ids
    }

    pub(crate) fn resolved_imports(&self) -> &[ResolvedImport] {
        &self.imports
    }

    /// FuncRefs of the defined functions, in definition order, with a null vmctx.
    pub(crate) fn defined_funcrefs(&self) -> &[FuncRef] {
        &self.defined_funcrefs
    }

    pub(crate) fn memory_image(&self) -> Option<&Arc<MemoryImage>> {
        self.memory_image.as_ref()
    }

    /// Whether data segment `i` is already part of the memory image.
    pub(crate) fn image_covers(&self, i: usize) -> bool {
        self.image_covers.get(i).copied().unwrap_or(false)
    }

    pub(crate) fn code_map(&self) -> &Arc<CodeMap> {
        &self.code_map
    }

    /// The host->wasm trampoline for module type `ty`.
    pub(crate) fn trampoline(&self, ty: u32) -> *const u8 {
        self.trampolines[ty as usize]
    }

    /// The wasm->host adapter for module type `ty`.
    pub(crate) fn adapter(&self, ty: u32) -> *const u8 {
        self.adapters[ty as usize]
    }

    /// Name of function `index` for messages.
    pub(crate) fn function_name(&self, index: u32) -> String {
        match self.data.functions.get(index as usize).and_then(|f| f.name.clone()) {
            Some(n) => n,
            None => format!("func{index}"),
        }
    }
}
