//! Compiling modules with lucetc, remembering the results on disk.
//!
//! The spec suite has about 1,600 modules; compiling them is most of the cost of a
//! run. Each result is stored under the SHA-256 of the wasm bytes together with the
//! compiler's identity (version, `.so` format version, a fingerprint of its sources
//! taken at build time) and the compile options, so a rerun compiles only modules
//! whose bytes or compiler changed. Rejections are remembered too (as `.err` files
//! holding lucetc's message), because `assert_invalid` and `assert_malformed` make up
//! a large share of the suite.

use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Environment variable that overrides the cache directory.
pub const CACHE_ENV: &str = "LUCET_SPECTEST_CACHE";

/// Why a module did not become a `.so`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CompileError {
    /// lucetc refused the module (malformed or invalid wasm, or a feature it lacks).
    #[error("lucetc rejected the module: {0}")]
    Rejected(String),
    /// The cache could not be read or written.
    #[error("module cache {path}: {reason}")]
    Cache { path: String, reason: String },
}

/// Which WebAssembly features modules may use.
///
/// The Wasm 2.0 suite expects some modules to be rejected that later versions
/// accept (a second memory, a non-zero memory index byte), so each suite is run
/// with the feature set it was written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Features {
    /// Exactly WebAssembly 2.0.
    Wasm2,
    /// Everything lucetc supports (Wasm 2.0 plus tail calls, extended constant
    /// expressions, multi-memory, memory64 and relaxed SIMD).
    Latest,
}

impl Features {
    /// The feature set for a script: [`Features::Wasm2`] below a directory named
    /// `wasm-2.0`, [`Features::Latest`] otherwise.
    pub fn for_script(path: &Path) -> Features {
        if path.components().any(|c| c.as_os_str() == "wasm-2.0") {
            Features::Wasm2
        } else {
            Features::Latest
        }
    }

    fn wasm_features(self) -> lucetc::WasmFeatures {
        match self {
            Features::Wasm2 => lucetc::wasm2_features(),
            Features::Latest => lucetc::wasm_features(),
        }
    }
}

/// Compiles wasm bytes to shared objects in a cache directory.
#[derive(Debug, Clone)]
pub struct ModuleCache {
    dir: PathBuf,
    identity: String,
}

impl ModuleCache {
    /// Uses `dir`, creating it if needed.
    pub fn new(dir: impl Into<PathBuf>) -> Result<ModuleCache, CompileError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| CompileError::Cache {
            path: dir.display().to_string(),
            reason: format!(
                "cannot create the directory ({e}); set {CACHE_ENV} to a writable directory"
            ),
        })?;
        let identity = format!(
            "lucetc {} format {} sources {}",
            lucet_module::COMPILER_VERSION,
            lucet_module::FORMAT_VERSION,
            env!("LUCETC_SOURCE_FINGERPRINT"),
        );
        Ok(ModuleCache { dir, identity })
    }

    /// `$LUCET_SPECTEST_CACHE`, else `target/lucet-spectest-cache` at the workspace root.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os(CACHE_ENV) {
            return PathBuf::from(dir);
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        target.join("lucet-spectest-cache")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key(&self, wasm: &[u8], features: Features) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.identity.as_bytes());
        hasher.update([0]);
        hasher.update(format!("{:?}", features.wasm_features()).as_bytes());
        hasher.update([0]);
        hasher.update(wasm);
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The path of the compiled `.so` for `wasm`, compiling it if it is not cached.
    pub fn compile(&self, wasm: &[u8], features: Features) -> Result<PathBuf, CompileError> {
        let key = self.key(wasm, features);
        let so = self.dir.join(format!("{key}.so"));
        let err = self.dir.join(format!("{key}.err"));
        if so.exists() {
            return Ok(so);
        }
        if let Ok(message) = fs::read_to_string(&err) {
            return Err(CompileError::Rejected(message));
        }
        // lucetc promises not to panic on any input; should it break that promise the
        // suite must still report the module as a failure rather than abort.
        let result = catch_unwind(AssertUnwindSafe(|| {
            lucetc::Lucetc::try_from_bytes_with_features(wasm, features.wasm_features())
                .and_then(|c| c.shared_object_file(&so))
        }));
        match result {
            Ok(Ok(())) => Ok(so),
            Ok(Err(e)) => {
                let message = e.to_string();
                self.remember_rejection(&err, &message)?;
                Err(CompileError::Rejected(message))
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".to_string());
                // Not remembered: a panic is a compiler bug that should be seen again.
                Err(CompileError::Rejected(format!("lucetc panicked: {what}")))
            }
        }
    }

    fn remember_rejection(&self, path: &Path, message: &str) -> Result<(), CompileError> {
        let cache_error = |e: std::io::Error| CompileError::Cache {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        // Written beside the final name and renamed, so a concurrent reader never sees
        // a half-written message.
        let mut tmp = tempfile_in(&self.dir).map_err(cache_error)?;
        tmp.1.write_all(message.as_bytes()).map_err(cache_error)?;
        drop(tmp.1);
        fs::rename(&tmp.0, path).map_err(cache_error)
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".tmp-{}-{n}", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The workspace this crate was built in.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}
