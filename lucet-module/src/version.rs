/// The first eight bytes of every module descriptor. A shared object without them
/// was not produced by lucetc.
pub const MAGIC: [u8; 8] = *b"LUCETMOD";

/// Version of the `.so` ABI: the descriptor, the serialized metadata, the vmctx layout,
/// the builtin table and the calling convention. Bump it on any change to any of them;
/// the runtime refuses modules whose version differs from its own.
pub const FORMAT_VERSION: u32 = 6;

/// Version of the compiler that produced a module, recorded in its metadata so that
/// error messages can say which lucetc built it.
pub const COMPILER_VERSION: &str = env!("CARGO_PKG_VERSION");
