//! Fingerprints the compiler's sources so that cached `.so` files are rebuilt
//! whenever lucetc or the module format changes, even while the version number
//! stays the same during development.

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "toml") {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let inputs = [
        root.join("lucetc/src"),
        root.join("lucetc/Cargo.toml"),
        root.join("lucet-module/src"),
        root.join("lucet-module/Cargo.toml"),
    ];
    let mut files = Vec::new();
    for input in &inputs {
        println!("cargo:rerun-if-changed={}", input.display());
        if input.is_dir() {
            collect(input, &mut files);
        } else if input.exists() {
            files.push(input.clone());
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        hasher.update(
            file.strip_prefix(&root)
                .unwrap_or(file)
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update([0]);
        hasher.update(fs::read(file).unwrap_or_default());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=LUCETC_SOURCE_FINGERPRINT={hex}");
}
