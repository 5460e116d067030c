fn main() -> std::process::ExitCode {
    lucetc::cli::main(
        "lucetc-wasi",
        "Compile a WASI program (.wasm or .wat) into a shared object for lucet-wasi. Its \
         `wasi_snapshot_preview1` imports are ordinary imports, bound when lucet-wasi instantiates it.",
    )
}
