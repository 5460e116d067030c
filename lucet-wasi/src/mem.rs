//! Bounds-checked access to the guest's linear memory.
//!
//! Every pointer a guest passes to a hostcall is an offset into its memory that may
//! be anything at all. All reads and writes go through [`GuestMemory`], which checks
//! the whole range first and answers `EFAULT` when it does not fit, so no hostcall
//! does pointer arithmetic of its own.

use crate::types::{Errno, Iovec, WasiResult};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Most bytes one read or write call moves; the rest is a short read or write.
pub const MAX_TRANSFER: usize = 16 << 20;

/// Most iovecs one call looks at (Linux's `IOV_MAX`).
pub const MAX_IOVECS: u32 = 1024;

pub struct GuestMemory<'a> {
    mem: &'a mut [u8],
}

impl<'a> GuestMemory<'a> {
    pub fn new(mem: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory { mem }
    }

    fn range(&self, ptr: u32, len: u32) -> WasiResult<std::ops::Range<usize>> {
        let start = ptr as usize;
        let end = start.checked_add(len as usize).ok_or(Errno::FAULT)?;
        if end > self.mem.len() {
            return Err(Errno::FAULT);
        }
        Ok(start..end)
    }

    pub fn slice(&self, ptr: u32, len: u32) -> WasiResult<&[u8]> {
        let r = self.range(ptr, len)?;
        Ok(&self.mem[r])
    }

    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> WasiResult<&mut [u8]> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.mem[r])
    }

    /// Reads a plain-data value (a number or a `#[repr(C)]` ABI struct) at `ptr`.
    pub fn read<T: FromBytes>(&self, ptr: u32) -> WasiResult<T> {
        let bytes = self.slice(ptr, std::mem::size_of::<T>() as u32)?;
        T::read_from_bytes(bytes).map_err(|_| Errno::FAULT)
    }

    /// Writes a plain-data value (a number or a `#[repr(C)]` ABI struct) at `ptr`.
    pub fn write<T: IntoBytes + Immutable>(&mut self, ptr: u32, value: &T) -> WasiResult<()> {
        let bytes = value.as_bytes();
        self.slice_mut(ptr, bytes.len() as u32)?
            .copy_from_slice(bytes);
        Ok(())
    }

    pub fn write_bytes(&mut self, ptr: u32, bytes: &[u8]) -> WasiResult<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::FAULT)?;
        self.slice_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    /// A UTF-8 string (e.g. a path) at `ptr`; invalid UTF-8 is `EILSEQ`.
    pub fn read_str(&self, ptr: u32, len: u32) -> WasiResult<&str> {
        std::str::from_utf8(self.slice(ptr, len)?).map_err(|_| Errno::ILSEQ)
    }

    /// An array of `count` iovecs at `ptr`, each checked to lie inside memory. Only
    /// the first [`MAX_IOVECS`] are used (a short transfer, as the caller sees from
    /// the count returned), so a guest cannot make the host allocate without bound.
    pub fn read_iovecs(&self, ptr: u32, count: u32) -> WasiResult<Vec<Iovec>> {
        let count = count.min(MAX_IOVECS);
        let size = std::mem::size_of::<Iovec>() as u32;
        let total = count.checked_mul(size).ok_or(Errno::FAULT)?;
        self.range(ptr, total)?;
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let iov: Iovec = self.read(ptr + i * size)?;
            self.range(iov.buf, iov.buf_len)?;
            out.push(iov);
        }
        Ok(out)
    }

    /// Gathers the bytes of a list of iovecs (for writes), at most [`MAX_TRANSFER`]
    /// of them: iovecs may repeat the same memory, so their total is not bounded by
    /// the guest's memory, and a short write is always allowed.
    pub fn gather(&self, iovs: &[Iovec]) -> WasiResult<Vec<u8>> {
        let mut out = Vec::new();
        for iov in iovs {
            let room = MAX_TRANSFER - out.len();
            if room == 0 {
                break;
            }
            let take = (iov.buf_len as usize).min(room) as u32;
            out.extend_from_slice(self.slice(iov.buf, take)?);
        }
        Ok(out)
    }

    /// Scatters `data` across a list of iovecs (for reads); returns the bytes placed.
    pub fn scatter(&mut self, iovs: &[Iovec], mut data: &[u8]) -> WasiResult<usize> {
        let mut placed = 0;
        for iov in iovs {
            if data.is_empty() {
                break;
            }
            let n = (iov.buf_len as usize).min(data.len());
            self.slice_mut(iov.buf, n as u32)?
                .copy_from_slice(&data[..n]);
            data = &data[n..];
            placed += n;
        }
        Ok(placed)
    }
}

/// Total length of a list of iovecs, capped at [`MAX_TRANSFER`].
pub fn iovecs_len(iovs: &[Iovec]) -> usize {
    iovs.iter()
        .map(|i| i.buf_len as usize)
        .fold(0usize, |a, b| a.saturating_add(b))
        .min(MAX_TRANSFER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_is_efault() {
        let mut buf = vec![0u8; 16];
        let mut m = GuestMemory::new(&mut buf);
        assert_eq!(m.read::<u32>(13), Err(Errno::FAULT));
        assert_eq!(m.read::<u32>(u32::MAX), Err(Errno::FAULT));
        assert!(m.write(12, &7u32).is_ok());
        assert_eq!(m.read::<u32>(12), Ok(7));
        assert_eq!(m.slice(16, 0).map(|s| s.len()), Ok(0));
        assert_eq!(m.slice(17, 0).map(|s| s.len()), Err(Errno::FAULT));
    }

    #[test]
    fn iovecs_are_checked() {
        let mut buf = vec![0u8; 64];
        let mut m = GuestMemory::new(&mut buf);
        m.write(
            0,
            &Iovec {
                buf: 32,
                buf_len: 40,
            },
        )
        .unwrap();
        assert_eq!(m.read_iovecs(0, 1).map(|v| v.len()), Err(Errno::FAULT));
        m.write(
            0,
            &Iovec {
                buf: 32,
                buf_len: 4,
            },
        )
        .unwrap();
        let iovs = m.read_iovecs(0, 1).unwrap();
        assert_eq!(m.scatter(&iovs, b"abcdef").unwrap(), 4);
        assert_eq!(m.slice(32, 4).unwrap(), b"abcd");
    }

    #[test]
    fn repeated_iovecs_are_capped() {
        let mut buf = vec![0u8; 64];
        let m = GuestMemory::new(&mut buf);
        let iovs = vec![
            Iovec {
                buf: 0,
                buf_len: 64
            };
            (MAX_TRANSFER / 64) * 3
        ];
        assert_eq!(m.gather(&iovs).unwrap().len(), MAX_TRANSFER);
        assert_eq!(iovecs_len(&iovs), MAX_TRANSFER);
    }
}
