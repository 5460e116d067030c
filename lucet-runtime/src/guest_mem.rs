//! Reading and writing guest memory by guest pointer, with bounds checks.
//!
//! Guests hand the host 32-bit offsets into their linear memory (memory 0). These
//! helpers turn `(ptr, len)` pairs and NUL-terminated strings into host values, and
//! return a [`GuestMemoryError`] — never panic — when the range leaves the memory. They
//! exist both on [`Instance`] (between runs) and on [`Vmctx`] (inside hostcalls).

use crate::error::Error;
use crate::instance::Instance;
use crate::vmctx::Vmctx;
use std::ffi::CString;

/// A guest pointer or range that does not fit the guest's memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestMemoryError {
    /// `[ptr, ptr + len)` is not inside the memory.
    #[error("guest range {ptr:#x}..{ptr:#x}+{len} is outside the guest's {memory_size}-byte memory")]
    OutOfBounds { ptr: u64, len: u64, memory_size: u64 },
    /// No NUL byte between `ptr` and the end of the memory (or within the given limit).
    #[error("no NUL terminator in the guest string at {ptr:#x} within {searched} bytes")]
    Unterminated { ptr: u64, searched: u64 },
    /// The bytes are not valid UTF-8.
    #[error("the guest string at {ptr:#x} is not valid UTF-8 (invalid byte at offset {valid_up_to})")]
    NotUtf8 { ptr: u64, valid_up_to: usize },
}

impl From<GuestMemoryError> for Error {
    fn from(e: GuestMemoryError) -> Error {
        Error::InvalidArgument(e.to_string())
    }
}

/// `memory[ptr..ptr + len]`, bounds-checked.
pub(crate) fn range(memory: &[u8], ptr: u32, len: u32) -> Result<std::ops::Range<usize>, GuestMemoryError> {
    let start = ptr as usize;
    let end = start.checked_add(len as usize).filter(|&e| e <= memory.len()).ok_or(GuestMemoryError::OutOfBounds {
        ptr: ptr as u64,
        len: len as u64,
        memory_size: memory.len() as u64,
    })?;
    Ok(start..end)
}

/// The bytes of the NUL-terminated string at `ptr`, without the NUL, looking at most
/// `max_len` bytes (the NUL included) ahead.
pub(crate) fn cstr_bytes(memory: &[u8], ptr: u32, max_len: usize) -> Result<&[u8], GuestMemoryError> {
    let start = ptr as usize;
    if start >= memory.len() {
        return Err(GuestMemoryError::OutOfBounds { ptr: ptr as u64, len: 1, memory_size: memory.len() as u64 });
    }
    let window = &memory[start..memory.len().min(start.saturating_add(max_len))];
    match window.iter().position(|&b| b == 0) {
        Some(n) => Ok(&window[..n]),
        None => Err(GuestMemoryError::Unterminated { ptr: ptr as u64, searched: window.len() as u64 }),
    }
}

fn utf8(bytes: &[u8], ptr: u32) -> Result<String, GuestMemoryError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|e| GuestMemoryError::NotUtf8 { ptr: ptr as u64, valid_up_to: e.valid_up_to() })
}

impl Instance {
    /// A view of `len` bytes of guest memory at `ptr`.
    pub fn guest_slice(&self, ptr: u32, len: u32) -> Result<&[u8], GuestMemoryError> {
        let heap = self.heap();
        Ok(&heap[range(heap, ptr, len)?])
    }

    /// A writable view of `len` bytes of guest memory at `ptr`.
    pub fn guest_slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], GuestMemoryError> {
        let heap = self.heap_mut();
        let r = range(heap, ptr, len)?;
        Ok(&mut heap[r])
    }

    /// Copies `len` bytes of guest memory at `ptr`.
    pub fn read_guest_bytes(&self, ptr: u32, len: u32) -> Result<Vec<u8>, GuestMemoryError> {
        self.guest_slice(ptr, len).map(<[u8]>::to_vec)
    }

    /// Copies `bytes` into guest memory at `ptr`. A range that does not fit writes nothing.
    pub fn write_guest_bytes(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), GuestMemoryError> {
        let len = u32::try_from(bytes.len()).map_err(|_| GuestMemoryError::OutOfBounds {
            ptr: ptr as u64,
            len: bytes.len() as u64,
            memory_size: self.heap().len() as u64,
        })?;
        self.guest_slice_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    /// Reads the NUL-terminated string at `ptr` (the NUL is not included).
    pub fn read_guest_cstring(&self, ptr: u32) -> Result<CString, GuestMemoryError> {
        let bytes = cstr_bytes(self.heap(), ptr, usize::MAX)?;
        Ok(CString::new(bytes).expect("the bytes stop before the first NUL"))
    }

    /// Reads the NUL-terminated UTF-8 string at `ptr`.
    pub fn read_guest_str(&self, ptr: u32) -> Result<String, GuestMemoryError> {
        utf8(cstr_bytes(self.heap(), ptr, usize::MAX)?, ptr)
    }
}

impl Vmctx {
    /// Copies `len` bytes of guest memory at `ptr`. Panics like [`Vmctx::heap`] if the
    /// heap is mutably borrowed.
    pub fn read_guest_bytes(&self, ptr: u32, len: u32) -> Result<Vec<u8>, GuestMemoryError> {
        let heap = self.heap();
        Ok(heap[range(&heap, ptr, len)?].to_vec())
    }

    /// Copies `bytes` into guest memory at `ptr`; a range that does not fit writes nothing.
    /// Panics like [`Vmctx::heap_mut`] if the heap is borrowed.
    pub fn write_guest_bytes(&self, ptr: u32, bytes: &[u8]) -> Result<(), GuestMemoryError> {
        let mut heap = self.heap_mut();
        let size = heap.len() as u64;
        let len = u32::try_from(bytes.len()).map_err(|_| GuestMemoryError::OutOfBounds {
            ptr: ptr as u64,
            len: bytes.len() as u64,
            memory_size: size,
        })?;
        let r = range(&heap, ptr, len)?;
        heap[r].copy_from_slice(bytes);
        Ok(())
    }

    /// Reads the NUL-terminated string at `ptr` (the NUL is not included).
    pub fn read_guest_cstring(&self, ptr: u32) -> Result<CString, GuestMemoryError> {
        let heap = self.heap();
        let bytes = cstr_bytes(&heap, ptr, usize::MAX)?;
        Ok(CString::new(bytes).expect("the bytes stop before the first NUL"))
    }

    /// Reads the NUL-terminated UTF-8 string at `ptr`.
    pub fn read_guest_str(&self, ptr: u32) -> Result<String, GuestMemoryError> {
        let heap = self.heap();
        utf8(cstr_bytes(&heap, ptr, usize::MAX)?, ptr)
    }

    /// Reads `len` bytes of UTF-8 at `ptr` (a string passed as pointer and length).
    pub fn read_guest_str_len(&self, ptr: u32, len: u32) -> Result<String, GuestMemoryError> {
        let heap = self.heap();
        utf8(&heap[range(&heap, ptr, len)?], ptr)
    }

    /// Whether the current run has been asked to stop (by a kill switch or a timeout).
    /// A long-running hostcall may poll it and return early; the run then ends as soon
    /// as the hostcall returns.
    pub fn is_kill_pending(&self) -> bool {
        crate::exec::current_kill().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_without_overflow() {
        let mem = [1u8, 2, 3, 0, 5];
        assert_eq!(range(&mem, 1, 2), Ok(1..3));
        assert_eq!(range(&mem, 5, 0), Ok(5..5));
        assert!(range(&mem, 4, 2).is_err());
        assert!(range(&mem, u32::MAX, u32::MAX).is_err());
        assert!(range(&mem, 6, 0).is_err());
        assert_eq!(cstr_bytes(&mem, 0, usize::MAX), Ok(&[1u8, 2, 3][..]));
        assert_eq!(cstr_bytes(&mem, 3, usize::MAX), Ok(&[][..]));
        assert!(matches!(cstr_bytes(&mem, 4, usize::MAX), Err(GuestMemoryError::Unterminated { .. })));
        assert!(matches!(cstr_bytes(&mem, 0, 2), Err(GuestMemoryError::Unterminated { searched: 2, .. })));
        assert!(matches!(cstr_bytes(&mem, 9, usize::MAX), Err(GuestMemoryError::OutOfBounds { .. })));
    }
}
