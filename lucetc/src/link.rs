//! Turns the relocatable object into a shared object, with the builtin linker
//! (`shared_object`) or the system one, and writes output files so that a failure
//! never leaves a partial file behind.

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

/// What `cc -shared -nostartfiles -Wl,-z,noexecstack` hands to GNU ld on x86-64
/// Linux, minus the library directories (ld's built-in search path finds libm and
/// libc), plus `-z defs` so that anything left unresolved sends us back to `cc`.
const LD_ARGS: &[&str] = &[
    "-shared",
    "-m",
    "elf_x86_64",
    "--build-id",
    "--eh-frame-hdr",
    "--hash-style=gnu",
    "--as-needed",
    "-z",
    "noexecstack",
    "-z",
    "defs",
];

/// Which program turns the relocatable object into the shared object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Linker {
    /// lucetc writes the shared object itself: no external program, and no process
    /// start-up cost, which dominates compiling a small module.
    #[default]
    Builtin,
    /// GNU `ld` (falling back to `cc`), as found on `PATH`.
    System,
}

/// Links `object` (the bytes of a relocatable object) into the bytes of a shared
/// object; `out` is where it will be written, for messages. The bytes come back rather
/// than going straight to `out` so that a signature covers exactly what is written.
pub fn shared_object_bytes(object: &[u8], out: &Path, linker: Linker) -> Result<Vec<u8>, Error> {
    match linker {
        Linker::Builtin => crate::shared_object::link(object),
        Linker::System => link_with_system(object, out),
    }
}

fn link_with_system(object: &[u8], out: &Path) -> Result<Vec<u8>, Error> {
    let dir = tempfile::tempdir().map_err(|error| Error::Write { path: std::env::temp_dir(), error })?;
    let obj_path = dir.path().join("module.o");
    std::fs::write(&obj_path, object).map_err(|error| Error::Write { path: obj_path.clone(), error })?;
    // The linker writes into the private temporary directory, which no one else can
    // write to, so the bytes read back are the linker's.
    let so_path = dir.path().join("module.so");
    run_system_linker(&obj_path, &so_path, out)?;
    std::fs::read(&so_path).map_err(|error| Error::Read { path: so_path.clone(), error })
}

/// Links the object file `obj_path` into `tmp`; `out` names the final output in errors.
fn run_system_linker(obj_path: &Path, tmp: &Path, out: &Path) -> Result<(), Error> {
    // Calling `ld` directly saves the compiler driver and its `collect2` step,
    // a sizeable share of compiling a small module. `-z defs` makes `ld` fail
    // rather than leave a symbol unresolved (a libcall that lives somewhere other
    // than libm or libc); `cc` then gets the job, as it also knows the
    // toolchain's private library directories (libgcc).
    let ld = Command::new("ld").args(LD_ARGS).arg("-o").arg(tmp).arg(obj_path).args(["-lm", "-lc"]).output();
    let ld = match ld {
        Ok(output) if output.status.success() => return Ok(()),
        Ok(output) => Some(output),
        // Missing or not runnable: `cc` may still work.
        Err(_) => None,
    };
    // The object defines no entry point and needs no C runtime start files.
    let cc = Command::new("cc")
        .args(["-shared", "-nostartfiles", "-Wl,-z,noexecstack", "-o"])
        .arg(tmp)
        .arg(obj_path)
        .arg("-lm")
        .output();
    let output = match (cc, ld) {
        (Err(e), Some(ld_output)) if e.kind() == std::io::ErrorKind::NotFound => ld_output,
        (Err(e), None) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NoLinker),
        (cc, _) => cc.map_err(|error| Error::Write { path: out.to_path_buf(), error })?,
    };
    if !output.status.success() {
        return Err(Error::Link {
            output: out.to_path_buf(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}
