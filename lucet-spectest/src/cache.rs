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
    /// lucetc panicked, which it promises never to do: a compiler bug, never a
    /// legitimate rejection.
    #[error("lucetc panicked (a compiler bug): {0}")]
    Panicked(String),
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

/// A generation of the cache that has not been used for this long is deleted.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Written whenever a generation is opened; its modification time says when it was
/// last used.
const LAST_USED: &str = "last-used";

/// Deletes the other generations under `root` that nobody has used for
/// [`STALE_AFTER`]. Only directories named like a generation are touched, and
/// failures are ignored: pruning is housekeeping, never a reason to fail a run.
fn prune_stale_generations(root: &Path, current: &str) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_generation = name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_generation || name == current {
            continue;
        }
        let path = entry.path();
        let last_used = fs::metadata(path.join(LAST_USED))
            .or_else(|_| fs::metadata(&path))
            .and_then(|m| m.modified());
        let stale = last_used
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if stale {
            let _ = fs::remove_dir_all(&path);
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
    /// Uses `root`, creating it if needed.
    ///
    /// Each compiler identity gets its own subdirectory of `root`, so that while
    /// lucetc is being changed the results of earlier versions do not pile up: a
    /// subdirectory no process has opened for [`STALE_AFTER`] is deleted.
    pub fn new(root: impl Into<PathBuf>) -> Result<ModuleCache, CompileError> {
        let root = root.into();
        let identity = format!(
            "lucetc {} format {} sources {}",
            lucet_module::COMPILER_VERSION,
            lucet_module::FORMAT_VERSION,
            env!("LUCETC_SOURCE_FINGERPRINT"),
        );
        let generation: String = Sha256::digest(identity.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let dir = root.join(&generation);
        let cache_error = |e: std::io::Error| CompileError::Cache {
            path: dir.display().to_string(),
            reason: format!(
                "cannot use the directory ({e}); set {CACHE_ENV} to a writable directory"
            ),
        };
        fs::create_dir_all(&dir).map_err(cache_error)?;
        fs::write(dir.join(LAST_USED), identity.as_bytes()).map_err(cache_error)?;
        prune_stale_generations(&root, &generation);
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
    ///
    /// Safe to call from several threads and processes at once: results are
    /// written under a temporary name and renamed into place.
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
                Err(CompileError::Panicked(what))
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
