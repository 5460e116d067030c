//! Turns the relocatable object into a shared object with the system linker, and
//! writes output files so that a failure never leaves a partial file behind.

use crate::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `fill` on a temporary path next to `out`, then renames it over `out`.
pub fn write_atomically(out: &Path, fill: impl FnOnce(&Path) -> Result<(), Error>) -> Result<(), Error> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let write_err = |error| Error::Write { path: out.to_path_buf(), error };
    let tmp = tempfile::Builder::new()
        .prefix(".lucetc-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(write_err)?
        .into_temp_path();
    fill(&tmp)?;
    // Dropping `tmp` on an early return above removes the partial file.
    tmp.persist(out).map_err(|e| write_err(e.error))?;
    Ok(())
}

pub fn write_bytes(out: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_atomically(out, |tmp| {
        let mut f = std::fs::File::create(tmp).map_err(|error| Error::Write { path: out.to_path_buf(), error })?;
        f.write_all(bytes).map_err(|error| Error::Write { path: out.to_path_buf(), error })
    })
}

/// Links `object` (the bytes of a relocatable object) into the shared object `out`.
pub fn link_shared_object(object: &[u8], out: &Path) -> Result<(), Error> {
    let dir = tempfile::tempdir().map_err(|error| Error::Write { path: std::env::temp_dir(), error })?;
    let obj_path = dir.path().join("module.o");
    std::fs::write(&obj_path, object).map_err(|error| Error::Write { path: obj_path.clone(), error })?;
    write_atomically(out, |tmp| {
        // `cc` knows where libm lives; libcalls cranelift emits (e.g. `fma`) resolve there.
        // The object defines no entry point and needs no C runtime start files.
        let cc = Command::new("cc")
            .args(["-shared", "-nostartfiles", "-Wl,-z,noexecstack", "-o"])
            .arg(tmp)
            .arg(&obj_path)
            .arg("-lm")
            .output();
        let output = match cc {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match Command::new("ld").args(["-shared", "-z", "noexecstack", "-o"]).arg(tmp).arg(&obj_path).output() {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NoLinker),
                    other => other,
                }
            }
            other => other,
        }
        .map_err(|error| Error::Write { path: out.to_path_buf(), error })?;
        if !output.status.success() {
            return Err(Error::Link {
                output: out.to_path_buf(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(())
    })
}
