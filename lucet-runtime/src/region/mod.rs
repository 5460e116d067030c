//! Regions: pre-reserved address space for a fixed number of instance slots.

pub(crate) mod image;
pub(crate) mod mmap;
mod pagemap;

pub use mmap::MmapRegion;
