//! Compiling with a cache that remembers how long each compilation took.
//!
//! Compiling all of sightglass takes minutes, so artifacts are kept under
//! `target/lucet-bench-cache`, in one subdirectory per build of the program doing the
//! compiling (a rebuilt compiler must not reuse old output), keyed by the input and the
//! settings. Next to each artifact a `.seconds` file records the wall time of the
//! compilation that made it, so a cached run still reports compile speed;
//! `--recompile` measures afresh. [`prune_other_builds`] removes the subdirectories of
//! earlier builds.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why an artifact could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot use the cache directory {dir}: {source}; check that it is writable or pass another --cache-dir")]
    Cache {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Compile(String),
}

/// A compiled artifact and the wall time its compilation took.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub path: PathBuf,
    pub compile_time: Duration,
    /// True when this run compiled it; false when it came from the cache.
    pub fresh: bool,
}

/// Identifies the running executable's build, so a rebuilt compiler misses the cache.
fn build_identity() -> String {
    std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
        .unwrap_or_default()
}

/// The subdirectory of `cache_dir` holding this build's artifacts.
fn build_dir(cache_dir: &Path) -> std::path::PathBuf {
    cache_dir.join(format!("build-{}", &cache_key(&[build_identity().as_bytes()])[..16]))
}

/// Removes what earlier builds left in `cache_dir`: their subdirectories, once unused
/// for an hour (a run of another build may still be reading a younger one), and files
/// of the flat layout used before builds had subdirectories. Failures are ignored: the
/// cache is only an optimisation.
pub fn prune_other_builds(cache_dir: &Path) {
    let ours = build_dir(cache_dir);
    let Ok(entries) = std::fs::read_dir(cache_dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && name.starts_with("build-") && path != ours {
            let idle = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if idle.is_some_and(|d| d > Duration::from_secs(3600)) {
                let _ = std::fs::remove_dir_all(&path);
            }
        } else if !is_dir && [".so", ".cwasm", ".seconds"].iter().any(|x| name.ends_with(x)) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Hex SHA-256 of the parts, each length-prefixed so that no two lists collide.
pub fn cache_key(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Returns the artifact for `key` in `dir`, running `make(tmp_path)` to create it when
/// it is missing (or always, with `recompile`). Only the time `make` takes is recorded.
pub fn cached(
    dir: &Path,
    key: &str,
    extension: &str,
    recompile: bool,
    make: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<Artifact, Error> {
    let dir = &build_dir(dir);
    let key = cache_key(&[key.as_bytes()]);
    let path = dir.join(format!("{key}.{extension}"));
    let seconds_file = dir.join(format!("{key}.seconds"));
    if !recompile && path.exists() {
        if let Some(secs) = std::fs::read_to_string(&seconds_file).ok().and_then(|s| s.trim().parse::<f64>().ok()) {
            return Ok(Artifact { path, compile_time: Duration::from_secs_f64(secs), fresh: false });
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Cache { dir: dir.to_owned(), source })?;
    let tmp = dir.join(format!("{key}.{}.tmp.{extension}", std::process::id()));
    let started = Instant::now();
    make(&tmp).map_err(Error::Compile)?;
    let compile_time = started.elapsed();
    let io = |source| Error::Cache { dir: dir.to_owned(), source };
    std::fs::rename(&tmp, &path).map_err(io)?;
    std::fs::write(&seconds_file, format!("{}\n", compile_time.as_secs_f64())).map_err(io)?;
    Ok(Artifact { path, compile_time, fresh: true })
}

/// Compiles `wasm` into a shared object with lucetc (validation, code generation in
/// parallel, linking: the whole path to a `.so`).
pub fn lucetc(
    wasm: &[u8],
    cache_dir: &Path,
    target_cpu: lucetc::TargetCpu,
    recompile: bool,
) -> Result<Artifact, Error> {
    let key = format!("lucetc:{target_cpu:?}:{}", cache_key(&[wasm]));
    cached(cache_dir, &key, "so", recompile, |out| {
        lucetc::Lucetc::try_from_bytes(wasm)
            .map(|c| c.with_target_cpu(target_cpu))
            .and_then(|c| c.shared_object_file(out))
            .map_err(|e| format!("lucetc: {e}"))
    })
}
