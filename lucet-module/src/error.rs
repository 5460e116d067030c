/// Errors from decoding module metadata.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("module metadata is corrupt ({0}); recompile the module with lucetc {v}", v = crate::COMPILER_VERSION)]
    Corrupt(String),
}
