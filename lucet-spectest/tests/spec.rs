//! The whole Wasm 2.0 spec suite, one test per script. Run one script with
//! `cargo test -p lucet-spectest --test spec -- i32 --exact`.

fn main() -> std::process::ExitCode {
    lucet_spectest::harness::test_main(&lucet_spectest::harness::corpus_dir("wasm-2.0"), None)
}
