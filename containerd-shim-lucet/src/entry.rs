//! What a container's entrypoint is: a WebAssembly module (binary or text), a module
//! lucetc already compiled, or something this shim refuses. Deciding it from the file's
//! first bytes rather than its name means a renamed file is still run for what it is.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The kinds of entrypoint the shim runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// A binary WebAssembly module (`\0asm`).
    Wasm,
    /// A WebAssembly text module.
    Wat,
    /// A shared object compiled by lucetc, recognised by its ELF header and its lucet
    /// descriptor.
    SharedObject,
}

/// Why an entrypoint is refused. Each message names the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the container has no entrypoint; give the module's path as the first argument of the container's \
         command, e.g. `/app.wasm` (optionally `/app.wasm#function` to call another export than _start)"
    )]
    Missing,
    #[error("the entrypoint {} does not exist in the container's root filesystem; check the image's layers and the path in the container's command", .0.display())]
    NotFound(PathBuf),
    #[error("cannot read the entrypoint {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the entrypoint {} is an ELF file but not a module compiled by lucetc ({why}); this runtime runs .wasm and \
         .wat modules and lucetc's .so files; recompile the module with `lucetc-wasi -o app.so app.wasm`",
        path.display()
    )]
    NotLucet { path: PathBuf, why: String },
    #[error(
        "the entrypoint {} is neither a WebAssembly module (.wasm, .wat) nor a module compiled by lucetc (.so): {why}; \
         point the container's command at the module",
        path.display()
    )]
    NotWasm { path: PathBuf, why: String },
}

/// Whether these first bytes (at least four) begin a binary WebAssembly module.
pub fn is_wasm(head: &[u8]) -> bool {
    head.starts_with(b"\0asm")
}

/// Whether these first bytes begin an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Finds the entrypoint the way a shell would: a path with a `/` is taken as it is
/// (relative to `cwd`), a bare name is looked up in `cwd` and then in `search_path`
/// (the container's `PATH`).
pub fn resolve(entry: &Path, cwd: &Path, search_path: Option<&str>) -> Result<PathBuf, Refusal> {
    if entry.as_os_str().is_empty() {
        return Err(Refusal::Missing);
    }
    let direct = cwd.join(entry);
    if direct.is_file() {
        return Ok(direct);
    }
    let bare = entry.components().count() == 1 && !entry.is_absolute();
    if bare {
        for dir in search_path
            .unwrap_or("")
            .split(':')
            .filter(|d| !d.is_empty())
        {
            let candidate = Path::new(dir).join(entry);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Refusal::NotFound(entry.to_owned()))
}

/// Reads enough of `path` to tell what it is, and checks a shared object's lucet
/// descriptor without loading it.
pub fn classify(path: &Path) -> Result<ModuleKind, Refusal> {
    let unreadable = |source| Refusal::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut head = Vec::with_capacity(4);
    std::fs::File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .map_err(unreadable)?;
    if is_wasm(&head) {
        return Ok(ModuleKind::Wasm);
    }
    if is_elf(&head) {
        return match lucet_runtime::ModuleInfo::read(path) {
            Ok(_) => Ok(ModuleKind::SharedObject),
            Err(e) => Err(Refusal::NotLucet {
                path: path.to_owned(),
                why: e.to_string(),
            }),
        };
    }
    let text = std::fs::read(path).map_err(unreadable)?;
    classify_text(path, &text)
}

/// A file that is neither binary WebAssembly nor ELF may still be a text module.
fn classify_text(path: &Path, bytes: &[u8]) -> Result<ModuleKind, Refusal> {
    let not_wasm = |why: String| Refusal::NotWasm {
        path: path.to_owned(),
        why,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| not_wasm("it is a binary file of another kind".to_string()))?;
    // A text module opens with `(module` after blank space and comments; anything else
    // would only give a parser error about the first token, which explains nothing.
    let looks_like_wat = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(";;"))
        .is_some_and(|l| l.starts_with('('));
    if !looks_like_wat {
        return Err(not_wasm(
            "it is a text file that is not a WebAssembly text module".to_string(),
        ));
    }
    Ok(ModuleKind::Wat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn kinds_come_from_the_bytes() {
        let d = tempfile::tempdir().unwrap();
        let wasm = wat::parse_str("(module)").unwrap();
        assert_eq!(
            classify(&file(d.path(), "a.bin", &wasm)).unwrap(),
            ModuleKind::Wasm
        );
        assert_eq!(
            classify(&file(d.path(), "a.wat", b";; hi\n(module)")).unwrap(),
            ModuleKind::Wat
        );
        let sh = classify(&file(d.path(), "run.sh", b"#!/bin/sh\necho hi\n")).unwrap_err();
        assert!(
            sh.to_string().contains("neither a WebAssembly module"),
            "{sh}"
        );
        let bin = classify(&file(d.path(), "x", &[0xff, 0xfe, 0, 1, 2])).unwrap_err();
        assert!(
            bin.to_string().contains("binary file of another kind"),
            "{bin}"
        );
    }

    #[test]
    fn an_elf_file_that_is_not_lucets_is_refused() {
        let ls = Path::new("/bin/ls");
        if !ls.exists() {
            return;
        }
        let e = classify(ls).unwrap_err();
        assert!(matches!(e, Refusal::NotLucet { .. }), "{e}");
        assert!(e.to_string().contains("lucetc-wasi -o app.so"), "{e}");
    }

    #[test]
    fn resolution_follows_the_shell() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        file(&bin, "tool.wasm", b"\0asm\x01\0\0\0");
        file(d.path(), "here.wasm", b"\0asm\x01\0\0\0");
        let path = bin.to_str().unwrap();
        assert_eq!(
            resolve(Path::new("tool.wasm"), d.path(), Some(path)).unwrap(),
            bin.join("tool.wasm")
        );
        assert_eq!(
            resolve(Path::new("here.wasm"), d.path(), Some(path)).unwrap(),
            d.path().join("here.wasm")
        );
        assert!(matches!(
            resolve(Path::new("./tool.wasm"), d.path(), Some(path)),
            Err(Refusal::NotFound(_))
        ));
        assert!(matches!(
            resolve(Path::new(""), d.path(), None),
            Err(Refusal::Missing)
        ));
    }
}
