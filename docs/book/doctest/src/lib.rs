//! The Rust samples of the book in `docs/book/src`, compiled and run by `cargo test`.
//!
//! Each chapter is the documentation of a module below, so every ```` ```rust ```` block
//! in it is a doctest. A sample that runs a guest begins with a hidden line such as
//! `# let _guests = lucet_book::guests(&["add.so"]);`: it compiles the named guests
//! into a fresh temporary directory and makes that the current directory, so the
//! sample loads `"add.so"` just as a reader's program would. Samples marked `no_run`
//! are compiled only.

// The book shows whole programs, `fn main` included.
#![allow(clippy::needless_doctest_main)]

use std::path::{Path, PathBuf};

#[doc = include_str!("../../src/introduction.md")]
pub mod introduction {}

#[doc = include_str!("../../src/getting-started.md")]
pub mod getting_started {}

#[doc = include_str!("../../src/cli.md")]
pub mod cli {}

#[doc = include_str!("../../src/embedding-rust.md")]
pub mod embedding_rust {}

#[doc = include_str!("../../src/embedding-c.md")]
pub mod embedding_c {}

#[doc = include_str!("../../src/module-layout.md")]
pub mod module_layout {}

#[doc = include_str!("../../src/security.md")]
pub mod security {}

#[doc = include_str!("../../src/containerd.md")]
pub mod containerd {}

#[doc = include_str!("../../src/performance.md")]
pub mod performance {}

#[doc = include_str!("../../src/migrating-from-lucet.md")]
pub mod migrating_from_lucet {}

#[doc = include_str!("../../src/migrating-from-wasmtime.md")]
pub mod migrating_from_wasmtime {}

/// The guests samples may ask for: the file name a sample loads, and the module.
const GUESTS: &[(&str, Source)] = &[
    ("add.so", Source::Text(include_str!("../../guests/add.wat"))),
    ("double.so", Source::Text(include_str!("../../guests/double.wat"))),
    ("numbers.so", Source::Text(include_str!("../../guests/numbers.wat"))),
    ("hello.so", Source::Binary(include_bytes!("../../../../examples/hello-rust/hello-rust.wasm"))),
];

enum Source {
    Text(&'static str),
    Binary(&'static [u8]),
}

/// A temporary directory holding compiled guests, the current directory while it lives.
pub struct Guests {
    dir: tempfile::TempDir,
    previous: Option<PathBuf>,
}

impl Guests {
    /// Where the guests are.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Guests {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = std::env::set_current_dir(previous);
        }
    }
}

/// Compiles the named guests into a new temporary directory and changes into it.
///
/// Panics on an unknown name or a failure: the samples are tests.
pub fn guests(names: &[&str]) -> Guests {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for name in names {
        let (_, source) = GUESTS
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("the book has no guest {name}"));
        let compiler = match source {
            Source::Text(t) => lucetc::Lucetc::try_from_bytes(t.as_bytes()),
            Source::Binary(b) => lucetc::Lucetc::try_from_bytes(b),
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        compiler
            .shared_object_file(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let previous = std::env::current_dir().ok();
    std::env::set_current_dir(dir.path()).expect("enter the guests' directory");
    Guests { dir, previous }
}
