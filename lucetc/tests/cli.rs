//! The `lucetc` and `lucetc-wasi` commands: `--help` says every default, and the
//! progress bar appears only on a terminal, for a large module, without `--quiet`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A module of `n` small functions.
fn many_functions(dir: &Path, n: usize) -> PathBuf {
    let mut wat = String::from("(module\n");
    for i in 0..n {
        wat.push_str(&format!(
            "  (func (export \"f{i}\") (param i32) (result i32) (i32.add (i32.mul (local.get 0) (i32.const {i})) (i32.const 7)))\n"
        ));
    }
    wat.push(')');
    let path = dir.join(format!("many{n}.wat"));
    std::fs::write(&path, wat).unwrap();
    path
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The options listed by `--help`, each with the text that describes it.
fn options_of(help: &str) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with("--") || (t.starts_with('-') && t.get(2..4) == Some(", ")) {
            let name = t
                .split(|c: char| c.is_whitespace() || c == '<')
                .find(|w| w.starts_with("--"))
                .unwrap_or(t)
                .trim_end_matches(',')
                .to_owned();
            options.push((name, t.to_owned()));
        } else if let Some(last) = options.last_mut() {
            last.1.push(' ');
            last.1.push_str(t);
        }
    }
    options
}

#[test]
fn help_gives_every_option_its_default() {
    for bin in [env!("CARGO_BIN_EXE_lucetc"), env!("CARGO_BIN_EXE_lucetc-wasi")] {
        for flag in ["--help", "-h"] {
            let o = Command::new(bin).arg(flag).output().unwrap();
            assert_eq!(o.status.code(), Some(0));
            let help = stdout(&o);
            let options = options_of(&help);
            assert!(options.len() >= 8, "{help}");
            for (name, text) in &options {
                if name == "--help" || name == "--version" {
                    continue;
                }
                assert!(text.contains("[default: "), "{bin} {flag}: {name} gives no default: {text}");
            }
            assert!(help.contains("--quiet"), "{help}");
        }
    }
}

#[test]
fn nothing_but_the_output_when_stderr_is_not_a_terminal_or_with_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let wat = many_functions(tmp.path(), 600);
    for quiet in [&[][..], &["--quiet"], &["-q"]] {
        let out = tmp.path().join("many.so");
        let o = Command::new(env!("CARGO_BIN_EXE_lucetc"))
            .args(quiet)
            .arg(&wat)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stderr(&o), "", "{quiet:?}");
        assert_eq!(stdout(&o), "", "{quiet:?}");
        assert!(out.exists());
    }
}

/// Runs `lucetc ARGS` with a terminal as stdin, stdout and stderr, through `script(1)`,
/// and returns what the terminal showed; `None` where `script` is not installed.
fn on_a_terminal(args: &[&Path]) -> Option<String> {
    let mut command = String::from(env!("CARGO_BIN_EXE_lucetc"));
    for a in args {
        command.push_str(&format!(" '{}'", a.display()));
    }
    let o = Command::new("script").args(["-qec", &command, "/dev/null"]).output().ok()?;
    assert!(o.status.success(), "{command}: {}", stderr(&o));
    Some(stdout(&o))
}

#[test]
fn a_progress_bar_on_a_terminal_for_a_large_module() {
    let tmp = tempfile::tempdir().unwrap();
    let large = many_functions(tmp.path(), 600);
    let out = tmp.path().join("out.so");
    let Some(shown) = on_a_terminal(&[&large, Path::new("-o"), &out]) else {
        eprintln!("note: `script` is not installed; the progress bar on a terminal is not tested");
        return;
    };
    assert!(shown.contains("600/600 functions"), "{shown:?}");
    assert!(shown.contains("compiling [="), "{shown:?}");
    // The bar is erased: what follows its last redraw is a blank line.
    let after = shown.rsplit("functions").next().unwrap();
    assert!(after.trim().is_empty() && after.contains('\r'), "{shown:?}");

    let quiet = on_a_terminal(&[Path::new("--quiet"), &large, Path::new("-o"), &out]).unwrap();
    assert!(!quiet.contains("functions"), "{quiet:?}");
    let small = many_functions(tmp.path(), 10);
    let shown = on_a_terminal(&[&small, Path::new("-o"), &out]).unwrap();
    assert!(!shown.contains("functions"), "a small module compiles without a bar: {shown:?}");
}

#[test]
fn with_progress_counts_every_defined_function() {
    use std::sync::{Arc, Mutex};
    let tmp = tempfile::tempdir().unwrap();
    let wat = many_functions(tmp.path(), 50);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    lucetc::Lucetc::new(&wat)
        .unwrap()
        .with_progress(move |done, total| record.lock().unwrap().push((done, total)))
        .shared_object_file(tmp.path().join("out.so"))
        .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first(), Some(&(0, 50)), "first call before any function");
    assert_eq!(seen.len(), 51);
    seen.sort();
    assert_eq!(seen, (0..=50).map(|d| (d, 50)).collect::<Vec<_>>());
}
