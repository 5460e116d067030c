use std::path::PathBuf;

/// Everything that can go wrong between reading a module and writing its shared object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The I/O error is part of the message rather than a `source`, so that error
    // chains printed in full do not repeat it.
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },

    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },

    /// The input is not a well-formed, valid WebAssembly module.
    #[error("invalid WebAssembly at byte offset {offset:#x}: {message}")]
    InvalidWasm { offset: usize, message: String },

    /// The input looked like WebAssembly text but did not parse.
    #[error("invalid WebAssembly text at line {line}, column {column}: {message}")]
    InvalidWat { line: usize, column: usize, message: String },

    /// The module is valid but uses something this compiler cannot translate.
    #[error("unsupported WebAssembly feature: {0}")]
    Unsupported(String),

    /// The module exceeds a limit of the compiler (e.g. too many functions).
    #[error("the module exceeds an implementation limit: {0}")]
    ImplLimit(String),

    /// The compiler settings are inconsistent.
    #[error("invalid compiler configuration: {0}")]
    Config(String),

    /// The code generator rejected a function.
    #[error("code generation failed for function {function}: {message}")]
    Codegen { function: String, message: String },

    /// Writing the relocatable object failed.
    #[error("cannot produce the object file: {0}")]
    Object(String),

    /// The builtin linker met something in the object file it cannot link.
    #[error("cannot build the shared object: {0}")]
    SharedObject(String),

    #[error(
        "no linker found: the system linker (`--linker system`) needs `ld` or `cc` on PATH; \
         install a C toolchain (e.g. `apt-get install gcc`), or use the builtin linker (the \
         default, `--linker builtin`)"
    )]
    NoLinker,

    #[error("linking {} failed ({status}): {stderr}", output.display())]
    Link { output: PathBuf, status: String, stderr: String },

    /// The secret key for `--sign-key` cannot be read, decrypted or used.
    #[error("cannot use the secret key {}: {reason}", path.display())]
    SigningKey { path: PathBuf, reason: String },

    /// Signing the shared object failed.
    #[error("cannot sign the module: {0}")]
    Sign(String),

    /// A bug in lucetc or one of its code generation libraries; the input was fine.
    #[error("internal compiler error: {0}; please report this together with the input module")]
    Internal(String),
}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Error {
        Error::InvalidWasm { offset: e.offset(), message: e.message().to_string() }
    }
}

impl From<cranelift_wasm::WasmError> for Error {
    fn from(e: cranelift_wasm::WasmError) -> Error {
        use cranelift_wasm::WasmError as W;
        match e {
            W::InvalidWebAssembly { message, offset } => Error::InvalidWasm { offset, message },
            W::Unsupported(s) => Error::Unsupported(s),
            W::ImplLimitExceeded => Error::ImplLimit("cranelift's implementation limits".into()),
            W::User(s) => Error::Internal(s),
        }
    }
}
