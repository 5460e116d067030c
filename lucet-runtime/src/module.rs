//! Loading compiled modules.
//!
//! A `.so` is checked with the `object` crate before `dlopen` ever sees it: it must be an
//! x86-64 ELF shared object exporting `lucet_module`, and the descriptor's magic and
//! format version are read straight from the file. Only then is it loaded (`RTLD_NOW |
//! RTLD_LOCAL`, so nothing it defines leaks into the process's symbol namespace), its
//! metadata deserialized, its CPU features checked, its types interned into the
//! process-wide signature table and its code ranges indexed for the signal handler.

use crate::exec::{TrapInfo, TrapLookup};
use crate::hostcall::lookup_hostcall;
use crate::region::mmap::MemoryImage;
use crate::signature::{PublicKey, VerifiedImage};
use crate::Error;
use lucet_module::{
    ExportKind, FuncRef, FuncType, ImportKind, ModuleData, ModuleDescriptor, TrapCode, TrapSite, FORMAT_VERSION, MAGIC,
    MODULE_SYMBOL,
};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

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
    handle: *mut libc::c_void,
    descriptor: *const ModuleDescriptor,
    data: ModuleData,
    /// Process-wide signature id of each module type.
    type_ids: Vec<u32>,
    /// One entry per import, in import order (only meaningful for function imports).
    imports: Vec<ResolvedImport>,
    code_map: Arc<CodeMap>,
    /// Copy-on-write image of memory 0's initial contents, built once here so that
    /// instantiation maps it instead of copying data segments.
    memory_image: Option<Arc<MemoryImage>>,
    /// `image_covers[i]`: data segment `i` is part of `memory_image`.
    image_covers: Vec<bool>,
    /// The FuncRef of every defined function with a null vmctx: instantiation copies
    /// these and fills in its own vmctx.
    defined_funcrefs: Vec<FuncRef>,
}

// SAFETY: the dlopen handle and descriptor pointers refer to immutable, loaded code and
// data that stay valid until `Drop`; nothing in a `DlModule` is mutated after loading.
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
        f.debug_struct("DlModule").field("path", &self.path).finish_non_exhaustive()
    }
}

fn invalid(path: &str, reason: impl Into<String>) -> Error {
    Error::InvalidModule { path: path.to_string(), reason: reason.into() }
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
        let shown = path.display().to_string();
        let image = VerifiedImage::read(path, &shown, key)?;
        check_file(&shown, image.bytes())?;
        let module = Self::load_checked(shown.clone(), image.dl_name(), strict)?;
        image.check_loaded(module.descriptor.cast()).map_err(|reason| invalid(&shown, reason))?;
        Ok(module)
    }

    pub fn module_data(&self) -> &ModuleData {
        &self.data
    }

    /// The path the module was loaded from.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn load_impl(path: &Path, strict: bool) -> Result<Arc<DlModule>, Error> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| invalid(&shown, format!("cannot read the file: {e}")))?;
        check_file(&shown, &bytes)?;
        drop(bytes);

        // A bare file name would make dlopen search the library path instead of
        // loading this file.
        let abs = std::fs::canonicalize(path).map_err(|e| invalid(&shown, format!("cannot resolve the path: {e}")))?;
        let cpath = CString::new(abs.as_os_str().as_encoded_bytes())
            .map_err(|_| invalid(&shown, "the path contains a NUL byte"))?;
        Self::load_checked(shown, &cpath, strict)
    }

    /// Loads the object at `cpath`, which has passed `check_file`; `shown` names it in
    /// errors and becomes [`DlModule::path`].
    fn load_checked(shown: String, cpath: &CStr, strict: bool) -> Result<Arc<DlModule>, Error> {
        // SAFETY: dlopen runs the object's initialisers; lucetc emits none, and the file
        // was just checked to carry a Lucet descriptor of this runtime's format version.
        let handle = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(invalid(&shown, format!("dlopen failed: {}", dlerror_text())));
        }
        // From here on, `Guard` closes the handle on every error path.
        struct Guard(*mut libc::c_void);
        impl Drop for Guard {
            fn drop(&mut self) {
                if !self.0.is_null() {
                    // SAFETY: the handle came from a successful dlopen and no code or
                    // data from it is referenced once loading has failed.
                    unsafe { libc::dlclose(self.0) };
                }
            }
        }
        let mut guard = Guard(handle);

        let sym = CString::new(MODULE_SYMBOL).expect("constant has no NUL");
        // SAFETY: `handle` is a live dlopen handle and `sym` is NUL-terminated.
        let desc = unsafe { libc::dlsym(handle, sym.as_ptr()) } as *const ModuleDescriptor;
        if desc.is_null() {
            return Err(invalid(&shown, format!("symbol `{MODULE_SYMBOL}` not found: {}", dlerror_text())));
        }
        // SAFETY: check_file verified the symbol is at least as large as a descriptor, and
        // the dynamic linker has applied its relocations.
        let d = unsafe { std::ptr::read(desc) };
        if d.magic != MAGIC || d.format_version != FORMAT_VERSION {
            return Err(invalid(
                &shown,
                "the loaded descriptor differs from the file's; the file changed while loading",
            ));
        }
        // SAFETY: metadata_ptr/len describe a read-only byte array inside the loaded
        // object (emitted by lucetc together with the descriptor).
        let meta = unsafe { std::slice::from_raw_parts(d.metadata_ptr, d.metadata_len as usize) };
        let data = ModuleData::deserialize(meta).map_err(|e| invalid(&shown, e.to_string()))?;

        let n_imported = data.num_imported_funcs();
        let n_defined = data.functions.len().saturating_sub(n_imported);
        if d.functions_len as usize != n_defined
            || d.trampolines_len as usize != data.types.len()
            || d.adapters_len as usize != data.types.len()
        {
            return Err(invalid(
                &shown,
                format!(
                    "the descriptor lists {} functions, {} trampolines and {} adapters, but the metadata \
                     describes {} defined functions and {} types; the file is corrupt, recompile it",
                    d.functions_len,
                    d.trampolines_len,
                    d.adapters_len,
                    n_defined,
                    data.types.len()
                ),
            ));
        }
        validate_metadata(&data).map_err(|e| {
            invalid(&shown, format!("inconsistent metadata ({e}); recompile the module with this version of lucetc"))
        })?;
        check_cpu_features(&shown, &data)?;

        let type_ids = data.types.iter().map(intern_signature).collect::<Vec<_>>();
        let imports = resolve_imports(&shown, &data, strict)?;

        // SAFETY: functions_ptr/len describe the array of code pointers lucetc emitted,
        // relocated by the dynamic linker; its length was checked above.
        let funcs = unsafe { std::slice::from_raw_parts(d.functions_ptr, d.functions_len as usize) };
        let mut ranges = Vec::with_capacity(n_defined);
        for (def, &ptr) in funcs.iter().enumerate() {
            let index = (n_imported + def) as u32;
            let code = data.functions[index as usize].code.as_ref().expect("checked above");
            let mut traps = code.traps.clone();
            traps.sort_by_key(|t| t.offset);
            ranges.push(CodeRange {
                start: ptr as usize,
                end: ptr as usize + code.len as usize,
                func_index: index,
                traps,
            });
        }
        ranges.sort_by_key(|r| r.start);

        // Without an image (no memfd, say) instantiation applies every segment itself,
        // which is slower but equivalent.
        let (memory_image, image_covers) = match MemoryImage::build(&data) {
            Ok(Some(plan)) => (Some(Arc::new(plan.image)), plan.covered),
            Ok(None) | Err(_) => (None, Vec::new()),
        };

        let defined_funcrefs = funcs
            .iter()
            .enumerate()
            .map(|(def, &ptr)| FuncRef {
                func_ptr: ptr,
                vmctx: std::ptr::null_mut(),
                type_id: type_ids[data.functions[n_imported + def].type_index as usize],
                _pad: 0,
            })
            .collect();

        guard.0 = std::ptr::null_mut();
        Ok(Arc::new(DlModule {
            defined_funcrefs,
            memory_image,
            image_covers,
            path: shown,
            handle,
            descriptor: desc,
            data,
            type_ids,
            imports,
            code_map: Arc::new(CodeMap { ranges }),
        }))
    }

    fn descriptor(&self) -> &ModuleDescriptor {
        // SAFETY: the descriptor stays mapped until `Drop` closes the handle.
        unsafe { &*self.descriptor }
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
        let d = self.descriptor();
        assert!((ty as u64) < d.trampolines_len);
        // SAFETY: index checked against the array length just above.
        unsafe { *d.trampolines_ptr.add(ty as usize) }
    }

    /// The wasm->host adapter for module type `ty`.
    pub(crate) fn adapter(&self, ty: u32) -> *const u8 {
        let d = self.descriptor();
        assert!((ty as u64) < d.adapters_len);
        // SAFETY: index checked against the array length just above.
        unsafe { *d.adapters_ptr.add(ty as usize) }
    }

    /// Name of function `index` for messages.
    pub(crate) fn function_name(&self, index: u32) -> String {
        match self.data.functions.get(index as usize).and_then(|f| f.name.clone()) {
            Some(n) => n,
            None => format!("func{index}"),
        }
    }
}

impl Drop for DlModule {
    fn drop(&mut self) {
        // SAFETY: every instance holds an `Arc` of its module, so when the last one
        // is gone no code or data from the object is in use any more.
        unsafe { libc::dlclose(self.handle) };
    }
}

/// Checks every index in the metadata, so instantiation can index without panicking
/// even if the metadata was tampered with.
fn validate_metadata(d: &ModuleData) -> Result<(), String> {
    let n_types = d.types.len();
    let n_funcs = d.functions.len();
    let n_imp_funcs = d.num_imported_funcs();
    let n_tables = d.num_imported_tables() + d.defined_tables.len();
    let n_mems = d.memory_plans.len();
    let n_globals = d.num_imported_globals() + d.defined_globals.len();
    if d.num_imported_memories() > n_mems {
        return Err("more imported memories than memory plans".into());
    }
    let mut imp_func = 0;
    for imp in &d.imports {
        if let ImportKind::Func(t) = imp.kind {
            if t as usize >= n_types {
                return Err(format!("import `{}`.`{}` has type {t} of {n_types}", imp.module, imp.field));
            }
            if d.functions.get(imp_func).map(|f| f.type_index) != Some(t) {
                return Err(format!("imported function {imp_func} disagrees with its import"));
            }
            imp_func += 1;
        }
    }
    for (i, f) in d.functions.iter().enumerate() {
        if f.type_index as usize >= n_types || (i >= n_imp_funcs) != f.code.is_some() {
            return Err(format!("function {i} is malformed"));
        }
    }
    for e in &d.exports {
        let ok = match e.kind {
            ExportKind::Func(i) => (i as usize) < n_funcs,
            ExportKind::Table(i) => (i as usize) < n_tables,
            ExportKind::Memory(i) => (i as usize) < n_mems,
            ExportKind::Global(i) => (i as usize) < n_globals,
        };
        if !ok {
            return Err(format!("export `{}` refers to a missing item", e.name));
        }
    }
    if let Some(s) = d.start {
        if s as usize >= n_funcs {
            return Err(format!("start function {s} does not exist"));
        }
    }
    Ok(())
}

fn dlerror_text() -> String {
    // SAFETY: dlerror returns either null or a NUL-terminated string valid until the
    // next dl* call on this thread; it is copied immediately.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// Checks the file is an x86-64 ELF shared object carrying a descriptor of this
/// runtime's format version, without loading it.
fn check_file(path: &str, bytes: &[u8]) -> Result<(), Error> {
    use object::{Object, ObjectSection, ObjectSymbol};
    let not_lucet = || invalid(path, "not a Lucet module (compile it with lucetc)");
    let file = object::File::parse(bytes).map_err(|e| {
        if bytes.starts_with(b"\x7fELF") {
            invalid(path, format!("malformed or truncated ELF file ({e}); recompile it with lucetc"))
        } else if bytes.starts_with(b"\0asm") {
            invalid(path, "this is a WebAssembly binary, not a compiled module; compile it with lucetc first")
        } else {
            invalid(path, "not an ELF shared object; compile the WebAssembly module with lucetc")
        }
    })?;
    if file.format() != object::BinaryFormat::Elf
        || file.architecture() != object::Architecture::X86_64
        || file.kind() != object::ObjectKind::Dynamic
    {
        return Err(invalid(
            path,
            format!(
                "expected an x86-64 ELF shared object, found {:?} {:?} {:?}; compile the module with lucetc",
                file.format(),
                file.architecture(),
                file.kind()
            ),
        ));
    }
    let sym =
        file.dynamic_symbols().find(|s| s.name() == Ok(MODULE_SYMBOL) && !s.is_undefined()).ok_or_else(not_lucet)?;
    if (sym.size() as usize) < std::mem::size_of::<ModuleDescriptor>() {
        return Err(not_lucet());
    }
    let section_index = sym.section_index().ok_or_else(not_lucet)?;
    let section = file
        .section_by_index(section_index)
        .map_err(|e| invalid(path, format!("the `{MODULE_SYMBOL}` symbol has a bad section ({e})")))?;
    let (file_off, file_len) = section
        .file_range()
        .ok_or_else(|| invalid(path, format!("the `{MODULE_SYMBOL}` symbol is not backed by file data")))?;
    let rel = sym.address().checked_sub(section.address()).filter(|r| r + 12 <= file_len).ok_or_else(not_lucet)?;
    let start = (file_off + rel) as usize;
    let head = bytes
        .get(start..start + 12)
        .ok_or_else(|| invalid(path, "the file is truncated (the descriptor lies past its end)"))?;
    if head[..8] != MAGIC {
        return Err(not_lucet());
    }
    let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(Error::VersionMismatch {
            path: path.to_string(),
            found: version,
            expected: FORMAT_VERSION,
            compiler: compiler_version_hint(&file),
            runtime_version: lucet_module::COMPILER_VERSION,
        });
    }
    Ok(())
}

/// The metadata of an out-of-date module cannot be trusted to deserialize, so the
/// compiler version is only named when the format is ours.
fn compiler_version_hint(_file: &object::File<'_>) -> String {
    "an incompatible version".to_string()
}

fn check_cpu_features(path: &str, data: &ModuleData) -> Result<(), Error> {
    let missing: Vec<&str> =
        data.target.cpu_features.iter().map(|s| s.as_str()).filter(|f| !host_has_feature(f)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::CpuFeatures { path: path.to_string(), missing: missing.join(", ") })
    }
}

fn host_has_feature(name: &str) -> bool {
    let n = name.strip_prefix("has_").unwrap_or(name).replace(['.', '_', '-'], "");
    macro_rules! detect {
        ($($s:literal => $f:tt),* $(,)?) => {
            match n.as_str() {
                $($s => std::arch::is_x86_feature_detected!($f),)*
                _ => false,
            }
        };
    }
    detect!(
        "sse2" => "sse2", "sse3" => "sse3", "ssse3" => "ssse3", "sse41" => "sse4.1", "sse42" => "sse4.2",
        "popcnt" => "popcnt", "avx" => "avx", "avx2" => "avx2", "bmi1" => "bmi1", "bmi2" => "bmi2",
        "lzcnt" => "lzcnt", "fma" => "fma", "avx512f" => "avx512f", "avx512vl" => "avx512vl",
        "avx512dq" => "avx512dq", "avx512bw" => "avx512bw", "avx512bitalg" => "avx512bitalg",
        "avx512vbmi" => "avx512vbmi", "f16c" => "f16c", "cmpxchg16b" => "cmpxchg16b",
    )
}

fn resolve_imports(path: &str, data: &ModuleData, strict: bool) -> Result<Vec<ResolvedImport>, Error> {
    let mut out = Vec::with_capacity(data.imports.len());
    for imp in &data.imports {
        let resolved = match &imp.kind {
            ImportKind::Func(ty) => {
                let want = data.types.get(*ty as usize).cloned().unwrap_or_default();
                match lookup_hostcall(&imp.module, &imp.field) {
                    Some(def) if def.func_type() == want => ResolvedImport::Hostcall(def.func),
                    Some(def) => {
                        return Err(Error::UnresolvedImport(format!(
                            "module {path} imports `{}`.`{}` with signature {want}, but the registered hostcall \
                             of that name has signature {}; fix the import or the hostcall definition",
                            imp.module,
                            imp.field,
                            def.func_type()
                        )))
                    }
                    None if strict => {
                        return Err(unresolved(path, &imp.module, &imp.field, &format!("function {want}")))
                    }
                    None => ResolvedImport::Unresolved,
                }
            }
            other if strict => {
                let what = match other {
                    ImportKind::Table(t) => describe_table(t),
                    ImportKind::Memory(m) => describe_memory(m),
                    ImportKind::Global(g) => describe_global(g),
                    ImportKind::Func(_) => unreachable!(),
                };
                return Err(unresolved(path, &imp.module, &imp.field, &what));
            }
            _ => ResolvedImport::Unresolved,
        };
        out.push(resolved);
    }
    Ok(out)
}

/// `global i32`, `global (mut i64)`.
pub(crate) fn describe_global(g: &lucet_module::GlobalType) -> String {
    if g.mutable {
        format!("global (mut {})", g.ty)
    } else {
        format!("global {}", g.ty)
    }
}

/// `memory 1..2 pages`, `memory64 1.. pages`.
pub(crate) fn describe_memory(m: &lucet_module::MemoryType) -> String {
    let kind = if m.memory64 { "memory64" } else { "memory" };
    let max = m.max_pages.map(|x| x.to_string()).unwrap_or_default();
    format!("{kind} {}..{max} pages", m.min_pages)
}

/// `table 10..20 funcref`.
pub(crate) fn describe_table(t: &lucet_module::TableType) -> String {
    let max = t.max.map(|x| x.to_string()).unwrap_or_default();
    let elem = match t.elem {
        lucet_module::RefType::FuncRef => "funcref",
        lucet_module::RefType::ExternRef => "externref",
    };
    format!("table {}..{max} {elem}", t.min)
}

pub(crate) fn unresolved(path: &str, module: &str, field: &str, what: &str) -> Error {
    let hint = if crate::hostcall::has_hostcall_module(module) {
        format!(
            "; hostcalls are registered for `{module}`, but none named `{field}` (this runtime or its \
             hostcall library does not implement it)"
        )
    } else if module == "wasi_snapshot_preview1" || module == "wasi_unstable" {
        "; this is a WASI import: depend on the lucet-wasi crate and give the instance a \
         lucet_wasi::WasiCtx (WasiCtxBuilder::new().build()) as its embed context"
            .to_string()
    } else {
        "; register a hostcall with lucet_runtime::register_hostcalls, or load the module with \
         DlModule::load_unresolved and supply the import with a Linker"
            .to_string()
    };
    Error::UnresolvedImport(format!("module {path} imports {what} `{module}`.`{field}`, which nothing provides{hint}"))
}

/// The process-wide id of a signature: equal types get equal ids in every module.
pub(crate) fn intern_signature(ty: &FuncType) -> u32 {
    static TABLE: OnceLock<Mutex<HashMap<FuncType, u32>>> = OnceLock::new();
    let mut t = TABLE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let next = t.len() as u32 + 1;
    *t.entry(ty.clone()).or_insert(next)
}

/// One defined function's code.
#[derive(Debug)]
pub(crate) struct CodeRange {
    pub start: usize,
    pub end: usize,
    pub func_index: u32,
    /// Sorted by offset.
    pub traps: Vec<TrapSite>,
}

/// Sorted code ranges of one module, for the signal handler.
#[derive(Debug)]
pub(crate) struct CodeMap {
    pub ranges: Vec<CodeRange>,
}

impl CodeMap {
    pub(crate) fn find(&self, pc: usize) -> Option<&CodeRange> {
        // Binary search only: this runs inside the signal handler.
        let i = self.ranges.partition_point(|r| r.start <= pc);
        let r = self.ranges.get(i.checked_sub(1)?)?;
        (pc < r.end).then_some(r)
    }
}

impl TrapLookup for CodeMap {
    fn lookup(&self, pc: usize) -> Option<TrapInfo> {
        let r = self.find(pc)?;
        let off = (pc - r.start) as u32;
        let site = r.traps.binary_search_by_key(&off, |t| t.offset).ok().map(|i| r.traps[i]);
        Some(TrapInfo {
            code: site.map(|s| s.code).unwrap_or(TrapCode::Unknown),
            function: Some(r.func_index),
            wasm_offset: site.and_then(|s| s.wasm_offset),
        })
    }
}

/// The code maps of every module an instance can reach (its own and those of the
/// instances it imports from), so a fault in any of them is recognised as a guest trap.
pub(crate) struct MultiCodeMap {
    pub maps: Vec<Arc<CodeMap>>,
}

impl TrapLookup for MultiCodeMap {
    fn lookup(&self, pc: usize) -> Option<TrapInfo> {
        self.maps.iter().find_map(|m| m.lookup(pc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_signature_same_id() {
        let a = FuncType { params: vec![lucet_module::ValType::I32], results: vec![] };
        let b = FuncType { params: vec![lucet_module::ValType::I64], results: vec![] };
        assert_eq!(intern_signature(&a), intern_signature(&a.clone()));
        assert_ne!(intern_signature(&a), intern_signature(&b));
    }

    #[test]
    fn cpu_feature_names() {
        assert!(host_has_feature("sse2"));
        assert_eq!(host_has_feature("has_sse41"), std::arch::is_x86_feature_detected!("sse4.1"));
        assert_eq!(host_has_feature("sse4.2"), std::arch::is_x86_feature_detected!("sse4.2"));
        assert!(!host_has_feature("quantum"));
        let mut d = ModuleData::default();
        d.target.cpu_features = vec!["sse2".into(), "quantum".into()];
        let e = check_cpu_features("m.so", &d).unwrap_err().to_string();
        assert!(e.contains("quantum") && e.contains("--target-cpu baseline"), "{e}");
    }

    #[test]
    fn code_map_lookup() {
        let site = TrapSite { offset: 4, code: TrapCode::Unreachable, wasm_offset: Some(9) };
        let m = CodeMap {
            ranges: vec![
                CodeRange { start: 100, end: 110, func_index: 1, traps: vec![site] },
                CodeRange { start: 200, end: 220, func_index: 2, traps: vec![] },
            ],
        };
        assert!(m.lookup(99).is_none());
        assert!(m.lookup(110).is_none());
        let t = m.lookup(104).unwrap();
        assert_eq!((t.code, t.function, t.wasm_offset), (TrapCode::Unreachable, Some(1), Some(9)));
        assert_eq!(m.lookup(219).unwrap().code, TrapCode::Unknown);
    }
}
