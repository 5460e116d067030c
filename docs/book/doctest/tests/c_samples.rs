//! The C samples of the chapter "Embedding from C" use the names and types that
//! `lucet-runtime-c/include/lucet.h` declares: each sample that includes the header is
//! compiled against it, with every warning an error.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// The bodies of the ```` ```c ```` blocks of a Markdown file.
fn c_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_end() == "```c" => current = Some(String::new()),
            Some(body) if line.trim_end() == "```" => {
                blocks.push(std::mem::take(body));
                current = None;
            }
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn the_c_samples_compile_against_lucet_h() {
    let chapter = std::fs::read_to_string(repo().join("docs/book/src/embedding-c.md")).unwrap();
    let samples: Vec<String> = c_blocks(&chapter).into_iter().filter(|b| b.contains("#include <lucet.h>")).collect();
    assert!(samples.len() >= 3, "the chapter's samples were not found");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let dir = tempfile::tempdir().unwrap();
    for (i, sample) in samples.iter().enumerate() {
        let file = dir.path().join(format!("sample{i}.c"));
        std::fs::write(&file, sample).unwrap();
        let out = match Command::new(&cc)
            .args(["-fsyntax-only", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(repo().join("lucet-runtime-c/include"))
            .arg(&file)
            .output()
        {
            Ok(out) => out,
            Err(e) => panic!("cannot run the C compiler `{cc}` ({e}); Rust needs one too: install cc or set CC"),
        };
        assert!(
            out.status.success(),
            "C sample {i} of embedding-c.md does not compile against lucet.h:\n{}\n{sample}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
