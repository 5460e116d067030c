//! Bounds-checked access to the guest's linear memory.
//!
//! Every pointer a guest passes to a hostcall is an offset into its memory that may
//! be anything at all. All reads and writes go through [`GuestMemory`], which checks
//! the whole range first and answers `EFAULT` when it does not fit, so no hostcall
//! does pointer arithmetic of its own.
//!
//! The same goes for counts: a guest may pass any count of iovecs, subscriptions or
//! bytes, and nothing on the host is sized by a count until [`GuestMemory::array`]
//! (or a range check) has shown that the guest's own memory holds that many. Host
//! buffers are therefore never larger than the guest's memory.

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

    /// The byte range of `count` elements of `size` bytes at `ptr`, or `EFAULT` if the
    /// memory does not hold them all. Call it before sizing anything by `count`.
    pub fn array(&self, ptr: u32, count: u32, size: usize) -> WasiResult<std::ops::Range<usize>> {
        let bytes = (count as usize).checked_mul(size).ok_or(Errno::FAULT)?;
        let start = ptr as usize;
        let end = start.checked_add(bytes).ok_or(Errno::FAULT)?;
        if end > self.mem.len() {
            return Err(Errno::FAULT);
        }
        Ok(start..end)
    }

    /// How many bytes of memory lie from `ptr` to the end (`EFAULT` past the end).
    pub fn room(&self, ptr: u32) -> WasiResult<usize> {
        self.mem.len().checked_sub(ptr as usize).ok_or(Errno::FAULT)
    }

    /// Most bytes one read or write moves: [`MAX_TRANSFER`], and never more than the
    /// guest's memory, since iovecs may name the same bytes many times over.
    pub fn transfer_cap(&self) -> usize {
        MAX_TRANSFER.min(self.mem.len())
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

    /// An array of `count` iovecs at `ptr`, each checked to lie inside memory. The
    /// whole array must lie in memory (`EFAULT` otherwise, as Wasmtime reports), and
    /// only the first [`MAX_IOVECS`] are used (a short transfer, as the caller sees
    /// from the count returned).
    pub fn read_iovecs(&self, ptr: u32, count: u32) -> WasiResult<Vec<Iovec>> {
        let size = std::mem::size_of::<Iovec>() as u32;
        self.array(ptr, count, size as usize)?;
        let count = count.min(MAX_IOVECS);
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let iov: Iovec = self.read(ptr + i * size)?;
            self.range(iov.buf, iov.buf_len)?;
            out.push(iov);
        }
        Ok(out)
    }

    /// Gathers the bytes of a list of iovecs (for writes), at most
    /// [`GuestMemory::transfer_cap`] of them: iovecs may repeat the same memory, so
    /// their total is not bounded by the guest's memory, and a short write is always
    /// allowed.
    pub fn gather(&self, iovs: &[Iovec]) -> WasiResult<Vec<u8>> {
        let cap = self.transfer_cap();
        let mut out = Vec::with_capacity(self.transfer_len(iovs));
        for iov in iovs {
            let room = cap - out.len();
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

    /// Total length of a list of iovecs, capped at [`GuestMemory::transfer_cap`]: the
    /// size of the host buffer one read or write of them uses.
    pub fn transfer_len(&self, iovs: &[Iovec]) -> usize {
        iovs.iter()
            .map(|i| i.buf_len as usize)
            .fold(0usize, |a, b| a.saturating_add(b))
            .min(self.transfer_cap())
    }
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
        let mut buf = vec![0u8; MAX_TRANSFER + 64];
        let m = GuestMemory::new(&mut buf);
        let iovs = vec![
            Iovec {
                buf: 0,
                buf_len: 64
            };
            (MAX_TRANSFER / 64) * 3
        ];
        assert_eq!(m.gather(&iovs).unwrap().len(), MAX_TRANSFER);
        assert_eq!(m.transfer_len(&iovs), MAX_TRANSFER);
    }

    #[test]
    fn transfers_never_exceed_the_memory() {
        let mut buf = vec![0u8; 64];
        let m = GuestMemory::new(&mut buf);
        let iovs = vec![
            Iovec {
                buf: 0,
                buf_len: 64
            };
            MAX_IOVECS as usize
        ];
        assert_eq!(m.gather(&iovs).unwrap().len(), 64);
        assert_eq!(m.transfer_len(&iovs), 64);
    }

    #[test]
    fn arrays_are_checked_before_use() {
        let mut buf = vec![0u8; 64];
        let m = GuestMemory::new(&mut buf);
        assert_eq!(m.array(0, 8, 8), Ok(0..64));
        assert_eq!(m.array(8, 8, 8), Err(Errno::FAULT));
        assert_eq!(m.array(0, u32::MAX, 48), Err(Errno::FAULT));
        assert_eq!(m.array(u32::MAX, 1, 1), Err(Errno::FAULT));
        assert_eq!(m.array(64, 0, 48), Ok(64..64));
    }
}
