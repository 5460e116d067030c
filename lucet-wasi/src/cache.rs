//! A per-user cache of modules compiled on the fly, for commands that run `.wasm` and
//! `.wat` files (the `lucet-wasi` command uses it).
//!
//! Loading a shared object runs code from it, so an entry is only used when nothing
//! but the current user could have written it, and when it was made from exactly the
//! module asked for:
//!
//! - The cache lives in `$XDG_CACHE_HOME/lucet`, else `$HOME/.cache/lucet`
//!   ([`Cache::default_dir`]). There is no shared fallback such as `/tmp`: without
//!   either variable, [`compile_private`] compiles into a fresh private directory.
//! - The directory is created with mode 0700. [`Cache::open`] refuses a directory owned
//!   by another user, or one that others may write to.
//! - An entry is named by a hash of the module's bytes, the compiler's version, the
//!   `.so` format version and every compile option ([`CompileOptions`]).
//! - An entry is used only if it is a regular file owned by the current user and not
//!   writable by others, and if the module it holds records (in its metadata,
//!   `ModuleData::source_hash`) the SHA-256 of exactly the bytes asked for. Any other
//!   entry is compiled again and replaced, and [`Loaded::rejected`] says why.

use lucet_runtime::DlModule;
use lucetc::{Lucetc, OptLevel, TargetCpu};
use sha2::{Digest, Sha256};
use std::fmt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use lucetc::Linker;

/// Mode bits that let users other than the owner change a file or a directory.
const WRITABLE_BY_OTHERS: u32 = 0o022;

/// Everything besides the module that decides what lucetc produces. Each field is part
/// of the cache key, so modules compiled with different options never share an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    opt_level: OptLevel,
    target_cpu: TargetCpu,
    reserved_size: u64,
    guard_size: u64,
    linker: Linker,
}

impl Default for CompileOptions {
    /// lucetc's defaults.
    fn default() -> Self {
        CompileOptions {
            opt_level: OptLevel::default(),
            target_cpu: TargetCpu::default(),
            reserved_size: lucetc::DEFAULT_RESERVED_SIZE,
            guard_size: lucetc::DEFAULT_GUARD_SIZE,
            linker: Linker::default(),
        }
    }
}

impl CompileOptions {
    pub fn with_opt_level(mut self, opt_level: OptLevel) -> Self {
        self.opt_level = opt_level;
        self
    }

    pub fn with_target_cpu(mut self, target_cpu: TargetCpu) -> Self {
        self.target_cpu = target_cpu;
        self
    }

    pub fn with_reserved_size(mut self, bytes: u64) -> Self {
        self.reserved_size = bytes;
        self
    }

    pub fn with_guard_size(mut self, bytes: u64) -> Self {
        self.guard_size = bytes;
        self
    }

    pub fn with_linker(mut self, linker: Linker) -> Self {
        self.linker = linker;
        self
    }

    /// Every option, spelled out for the cache key. The module is validated with
    /// every feature lucetc supports, so that is part of it too.
    fn key_text(&self) -> String {
        let target_cpu = match self.target_cpu {
            TargetCpu::Baseline => "baseline",
            TargetCpu::Native => "native",
        };
        let linker = match self.linker {
            Linker::Builtin => "builtin",
            Linker::System => "system",
        };
        format!(
            "features=all opt-level={} target-cpu={target_cpu} reserved-size={} guard-size={} linker={linker}",
            self.opt_level, self.reserved_size, self.guard_size
        )
    }

    /// Compiles `source` (`.wasm` or `.wat` bytes) into the shared object `out`.
    pub fn compile(&self, source: &[u8], out: &Path) -> Result<(), lucetc::Error> {
        self.lucetc(source)?.shared_object_file(out)
    }
}

impl CompileOptions {
    /// Compiles `source` (`.wasm` or `.wat` bytes) into the bytes of a shared object,
    /// for hosts that have no private directory to write one into.
    pub fn compile_to_bytes(&self, source: &[u8]) -> Result<Vec<u8>, lucetc::Error> {
        self.lucetc(source)?.shared_object_bytes()
    }

    fn lucetc(&self, source: &[u8]) -> Result<Lucetc, lucetc::Error> {
        Ok(Lucetc::try_from_bytes(source)?
            .with_opt_level(self.opt_level)
            .with_target_cpu(self.target_cpu)
            .with_reserved_size(self.reserved_size)
            .with_guard_size(self.guard_size)
            .with_linker(self.linker))
    }
}

/// Why the cache could not be used, or a module not compiled or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create the cache directory {}: {source}; use another cache directory, or compile without the cache", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("the cache path {} is not a directory; remove it, or use another cache directory", dir.display())]
    NotADirectory { dir: PathBuf },
    #[error("the cache directory {} belongs to uid {owner}, not to this user (uid {user}), so its entries cannot be trusted; remove it, or use another cache directory", dir.display())]
    DirOwner { dir: PathBuf, owner: u32, user: u32 },
    #[error("the cache directory {} is writable by other users (mode {mode:04o}), so its entries cannot be trusted; run `chmod go-w {}`, or use another cache directory", dir.display(), dir.display())]
    DirWritable { dir: PathBuf, mode: u32 },
    #[error("cannot create a private temporary directory to compile into: {0}")]
    TempDir(std::io::Error),
    #[error("cannot store the compiled module as {}: {source}", path.display())]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot compile the module: {0}")]
    Compile(#[from] lucetc::Error),
    #[error("cannot load the compiled module {}: {source}", path.display())]
    Load {
        path: PathBuf,
        source: lucet_runtime::Error,
    },
    #[error("the module just compiled into {} does not record the hash of its input; remove the file and try again", path.display())]
    NotFromSource { path: PathBuf },
}

/// Why an existing cache entry was not used (it was compiled again and replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// A symbolic link, a directory or anything else but a regular file.
    NotAFile,
    /// Owned by another user.
    Owner { owner: u32 },
    /// Writable by users other than its owner.
    Writable { mode: u32 },
    /// Not a module this runtime loads (another format version, a damaged file, ...).
    Unloadable(String),
    /// A module compiled from other bytes than those asked for, or one that does not
    /// say what it was compiled from.
    OtherSource,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::NotAFile => write!(f, "the cache entry is not a regular file"),
            Rejected::Owner { owner } => {
                write!(f, "the cache entry belongs to another user (uid {owner})")
            }
            Rejected::Writable { mode } => {
                write!(
                    f,
                    "the cache entry is writable by other users (mode {mode:04o})"
                )
            }
            Rejected::Unloadable(why) => write!(f, "the cache entry does not load ({why})"),
            Rejected::OtherSource => {
                write!(f, "the cache entry was not compiled from this module")
            }
        }
    }
}

/// A module from the cache.
pub struct Loaded {
    pub module: Arc<DlModule>,
    /// The entry's file.
    pub path: PathBuf,
    /// Set when an entry existed but was not trusted, and was replaced.
    pub rejected: Option<Rejected>,
}

/// A module compiled outside any cache. The directory holding its file is removed
/// when this is dropped.
pub struct Private {
    pub module: Arc<DlModule>,
    _dir: tempfile::TempDir,
}

/// A cache directory that passed the ownership and mode checks.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `source`, as lucetc records it in `ModuleData::source_hash`.
pub fn source_hash(source: &[u8]) -> [u8; 32] {
    Sha256::digest(source).into()
}

impl Cache {
    /// `$XDG_CACHE_HOME/lucet`, else `$HOME/.cache/lucet`; `None` if neither variable
    /// holds an absolute path. There is deliberately no shared fallback.
    pub fn default_dir() -> Option<PathBuf> {
        let absolute = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        absolute("XDG_CACHE_HOME")
            .map(|d| d.join("lucet"))
            .or_else(|| absolute("HOME").map(|h| h.join(".cache").join("lucet")))
    }

    /// Uses `dir` as the cache, creating it (mode 0700) if needed. Refuses a directory
    /// that another user owns or may write to.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Cache, CacheError> {
        let dir = dir.into();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| CacheError::CreateDir {
                dir: dir.clone(),
                source,
            })?;
        let meta = std::fs::metadata(&dir).map_err(|source| CacheError::CreateDir {
            dir: dir.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(CacheError::NotADirectory { dir });
        }
        check_dir(&dir, meta.uid(), meta.mode(), current_uid())?;
        Ok(Cache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for `source` compiled with `options` lives.
    pub fn entry_path(&self, source: &[u8], options: &CompileOptions) -> PathBuf {
        let mut h = Sha256::new();
        h.update(b"lucet compiled-module cache\n");
        h.update(format!("compiler {}\n", lucet_module::COMPILER_VERSION));
        h.update(format!("format {}\n", lucet_module::FORMAT_VERSION));
        h.update(format!("options {}\n", options.key_text()));
        h.update(format!("source {}\n", hex(&source_hash(source))));
        self.dir.join(format!("{}.so", hex(&h.finalize())))
    }

    /// The module compiled from `source` with `options`: the cache's entry if it can
    /// be trusted, else a fresh compile that replaces it.
    pub fn load_or_compile(
        &self,
        source: &[u8],
        options: &CompileOptions,
    ) -> Result<Loaded, CacheError> {
        let path = self.entry_path(source, options);
        let hash = source_hash(source);
        let rejected = match trusted_entry(&path, &hash) {
            Ok(module) => {
                return Ok(Loaded {
                    module,
                    path,
                    rejected: None,
                })
            }
            Err(why) => why,
        };
        self.store(source, options, &path)?;
        let module = load_checked(&path, &hash)?;
        Ok(Loaded {
            module,
            path,
            rejected,
        })
    }

    /// Compiles beside the entry, makes the file private, and renames it into place,
    /// so that no run ever sees a partial or a writable entry.
    fn store(
        &self,
        source: &[u8],
        options: &CompileOptions,
        path: &Path,
    ) -> Result<(), CacheError> {
        let store_err = |source| CacheError::Store {
            path: path.to_owned(),
            source,
        };
        let tmp = tempfile::Builder::new()
            .prefix(".compiling-")
            .suffix(".so")
            .tempfile_in(&self.dir)
            .map_err(store_err)?
            .into_temp_path();
        options.compile(source, &tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(store_err)?;
        tmp.persist(path).map_err(|e| store_err(e.error))?;
        Ok(())
    }
}

/// Refuses a cache directory that someone else could have written entries into.
fn check_dir(dir: &Path, owner: u32, mode: u32, user: u32) -> Result<(), CacheError> {
    if owner != user {
        return Err(CacheError::DirOwner {
            dir: dir.to_owned(),
            owner,
            user,
        });
    }
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(CacheError::DirWritable {
            dir: dir.to_owned(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Whether an entry's file may be loaded at all: nothing but its owner, the current
/// user, can have written it.
fn check_entry(meta: &std::fs::Metadata, user: u32) -> Result<(), Rejected> {
    if !meta.file_type().is_file() {
        return Err(Rejected::NotAFile);
    }
    if meta.uid() != user {
        return Err(Rejected::Owner { owner: meta.uid() });
    }
    if meta.mode() & WRITABLE_BY_OTHERS != 0 {
        return Err(Rejected::Writable {
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Loads the entry at `path` if it passes every check. `Err(None)` means there is no
/// entry; `Err(Some(why))` one that must not be used.
fn trusted_entry(path: &Path, hash: &[u8; 32]) -> Result<Arc<DlModule>, Option<Rejected>> {
    // Not following a symbolic link: the entry itself must be the user's file.
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(None),
        Err(e) => return Err(Some(Rejected::Unloadable(e.to_string()))),
    };
    check_entry(&meta, current_uid()).map_err(Some)?;
    let module = DlModule::load(path).map_err(|e| Some(Rejected::Unloadable(e.to_string())))?;
    if module.module_data().source_hash.as_ref() != Some(hash) {
        return Err(Some(Rejected::OtherSource));
    }
    Ok(module)
}

/// Loads a module this process has just compiled, and checks that it is the one.
fn load_checked(path: &Path, hash: &[u8; 32]) -> Result<Arc<DlModule>, CacheError> {
    let module = DlModule::load(path).map_err(|source| CacheError::Load {
        path: path.to_owned(),
        source,
    })?;
    if module.module_data().source_hash.as_ref() != Some(hash) {
        return Err(CacheError::NotFromSource {
            path: path.to_owned(),
        });
    }
    Ok(module)
}

/// Compiles `source` into a fresh private temporary directory (mode 0700, random name),
/// for runs without a cache.
pub fn compile_private(source: &[u8], options: &CompileOptions) -> Result<Private, CacheError> {
    let dir = tempfile::Builder::new()
        .prefix("lucet-")
        .tempdir()
        .map_err(CacheError::TempDir)?;
    let path = dir.path().join("module.so");
    options.compile(source, &path)?;
    let module = load_checked(&path, &source_hash(source))?;
    Ok(Private { module, _dir: dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_others_can_write_are_refused() {
        let d = Path::new("/x");
        assert!(check_dir(d, 1000, 0o40700, 1000).is_ok());
        assert!(check_dir(d, 1000, 0o40755, 1000).is_ok());
        assert!(matches!(
            check_dir(d, 0, 0o40700, 1000),
            Err(CacheError::DirOwner {
                owner: 0,
                user: 1000,
                ..
            })
        ));
        for mode in [0o40770, 0o40702, 0o41777] {
            assert!(matches!(
                check_dir(d, 1000, mode, 1000),
                Err(CacheError::DirWritable { .. })
            ));
        }
        let msg = check_dir(d, 1000, 0o40777, 1000).unwrap_err().to_string();
        assert!(
            msg.contains("chmod go-w /x") && msg.contains("0777"),
            "{msg}"
        );
    }

    #[test]
    fn every_option_is_in_the_key() {
        let base = CompileOptions::default();
        let variants = [
            base.clone(),
            base.clone().with_opt_level(OptLevel::None),
            base.clone().with_opt_level(OptLevel::SpeedAndSize),
            base.clone().with_target_cpu(TargetCpu::Native),
            base.clone().with_reserved_size(1 << 20),
            base.clone().with_guard_size(0),
            base.clone().with_linker(Linker::System),
        ];
        let keys: std::collections::HashSet<String> =
            variants.iter().map(CompileOptions::key_text).collect();
        assert_eq!(keys.len(), variants.len());
    }
}
