//! Regions: pre-reserved address space for a fixed number of instance slots.

pub(crate) mod image;
pub(crate) mod mmap;
mod pagemap;

use crate::instance::{InstanceBuilder, InstanceHandle};
use crate::module::Module;
use crate::error::Error;
use std::sync::Arc;

pub use mmap::MmapRegion;

/// A source of instance slots.
pub trait Region: Send + Sync {
    /// Creates an instance of `module` in a free slot with default options.
    fn new_instance(&self, module: Arc<dyn Module>) -> Result<InstanceHandle, Error> {
        self.new_instance_builder(module).build()
    }

    /// Starts configuring an instance of `module` (embed contexts, a linker, ...).
    fn new_instance_builder(&self, module: Arc<dyn Module>) -> InstanceBuilder;

    /// Slots not currently used by an instance.
    fn free_slots(&self) -> usize;

    /// Slots currently used by an instance.
    fn used_slots(&self) -> usize {
        self.capacity() - self.free_slots()
    }

    /// Total number of slots.
    fn capacity(&self) -> usize;
}
