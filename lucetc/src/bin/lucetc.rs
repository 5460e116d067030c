fn main() -> std::process::ExitCode {
    lucetc::cli::main(
        "lucetc",
        "Compile a WebAssembly module (.wasm or .wat) into a shared object for lucet-runtime.",
    )
}
