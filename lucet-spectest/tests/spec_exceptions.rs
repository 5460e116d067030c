//! The exception-handling scripts of the Wasm 3.0 suite: `tag`, `throw`, `throw_ref`,
//! `try_table` and the legacy instructions (`legacy/`).

const EXCEPTIONS: &[&str] = &[
    "tag",
    "throw",
    "throw_ref",
    "try_table",
    "legacy/throw",
    "legacy/rethrow",
    "legacy/try_catch",
    "legacy/try_delegate",
];

fn main() -> std::process::ExitCode {
    lucet_spectest::harness::test_main(
        &lucet_spectest::harness::corpus_dir("wasm-3.0"),
        Some(EXCEPTIONS),
    )
}
