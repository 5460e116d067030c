//! lucet-wasi
