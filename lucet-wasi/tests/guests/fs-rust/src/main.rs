//! Reads the file named by its first argument, copies it into `out/`, lists the
//! current directory, shows its environment, and tries to read outside its
//! directory; exits with status 7.

use std::io::ErrorKind;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map(String::as_str).unwrap_or("input.txt");
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    println!("read {} bytes: {}", text.len(), text.trim_end());
    std::fs::write("out/copy.txt", &text).expect("write out/copy.txt");
    let mut names: Vec<String> = std::fs::read_dir(".")
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    println!("entries: {}", names.join(" "));
    let mut vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    vars.sort();
    println!("env: [{}]", vars.join(", "));
    match std::fs::read_to_string("../escape.txt") {
        Ok(_) => println!("escape: escaped!"),
        Err(e) if e.kind() == ErrorKind::NotFound => println!("escape: not found"),
        Err(_) => println!("escape: refused"),
    }
    std::process::exit(7);
}
