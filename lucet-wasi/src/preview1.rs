//! What each `wasi_snapshot_preview1` call does, on a [`WasiCtx`] and the guest's memory.
//!
//! These functions know nothing of vmctx or instances: `hostcalls.rs` finds the
//! context and memory and calls them. Paths are resolved by cap-std relative to a
//! directory handle, which refuses `..` past that directory, absolute paths and
//! symlinks leading outside; that is the whole sandbox for the filesystem.
//!
//! Past 700 lines on purpose: one short method of `WasiCtx` per call of the snapshot,
//! in one `impl` block, so the file reads like the specification it implements; the
//! helpers they share are around it.

use crate::filetype::{filetype_of, ReaddirEntry};
use crate::ctx::{Descriptor, DirState, HostStream, Input, Kind, Output, WasiCtx};
use crate::mem::GuestMemory;
use crate::types::*;
use cap_fs_ext::{
    DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt, OpenOptionsSyncExt,
};
use cap_std::fs::{Dir, File, Metadata, MetadataExt, OpenOptions};
use fs_set_times::{SetTimes, SystemTimeSpec};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

/// A decoded `subscription`, independent of the snapshot's layout.
pub(crate) struct Sub {
    pub userdata: u64,
    pub kind: SubKind,
}

pub(crate) enum SubKind {
    Clock {
        id: u32,
        timeout: u64,
        abstime: bool,
    },
    Read(u32),
    Write(u32),
    /// An unknown tag: reported back as an EINVAL event.
    Bad,
}

fn nanos(secs: i64, nsec: i64) -> u64 {
    (secs as i128 * 1_000_000_000 + nsec as i128).clamp(0, u64::MAX as i128) as u64
}

fn filestat_of(m: &Metadata) -> Filestat {
    Filestat {
        dev: m.dev(),
        ino: m.ino(),
        filetype: filetype_of(m.file_type()),
        _pad: [0; 7],
        nlink: m.nlink(),
        size: m.len(),
        atim: nanos(m.atime(), m.atime_nsec()),
        mtim: nanos(m.mtime(), m.mtime_nsec()),
        ctim: nanos(m.ctime(), m.ctime_nsec()),
    }
}

fn clock_id(id: u32) -> WasiResult<rustix::time::ClockId> {
    use rustix::time::ClockId;
    Ok(match id {
        clockid::REALTIME => ClockId::Realtime,
        clockid::MONOTONIC => ClockId::Monotonic,
        clockid::PROCESS_CPUTIME_ID => ClockId::ProcessCPUTime,
        clockid::THREAD_CPUTIME_ID => ClockId::ThreadCPUTime,
        _ => return Err(Errno::INVAL),
    })
}

fn now(id: u32) -> WasiResult<u64> {
    let ts = rustix::time::clock_gettime(clock_id(id)?);
    Ok(nanos(ts.tv_sec, ts.tv_nsec as i64))
}

/// The times `*_set_times` should apply, after validating the flags.
#[derive(Clone, Copy)]
enum TimeSpec {
    Now,
    At(u64),
}

impl TimeSpec {
    fn for_fd(self) -> SystemTimeSpec {
        match self {
            TimeSpec::Now => SystemTimeSpec::SymbolicNow,
            TimeSpec::At(ns) => {
                SystemTimeSpec::Absolute(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
            }
        }
    }
    fn for_path(self) -> cap_fs_ext::SystemTimeSpec {
        match self {
            TimeSpec::Now => cap_fs_ext::SystemTimeSpec::SymbolicNow,
            TimeSpec::At(ns) => {
                cap_fs_ext::SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(
                    SystemTime::UNIX_EPOCH + Duration::from_nanos(ns),
                ))
            }
        }
    }
}

fn time_specs(atim: u64, mtim: u64, fst: u16) -> WasiResult<(Option<TimeSpec>, Option<TimeSpec>)> {
    use fstflags::*;
    if fst & !(ATIM | ATIM_NOW | MTIM | MTIM_NOW) != 0
        || (fst & ATIM != 0 && fst & ATIM_NOW != 0)
        || (fst & MTIM != 0 && fst & MTIM_NOW != 0)
    {
        return Err(Errno::INVAL);
    }
    let spec = |t: u64, set: u16, now: u16| {
        if fst & now != 0 {
            Some(TimeSpec::Now)
        } else if fst & set != 0 {
            Some(TimeSpec::At(t))
        } else {
            None
        }
    };
    Ok((spec(atim, ATIM, ATIM_NOW), spec(mtim, MTIM, MTIM_NOW)))
}

fn check(d: &Descriptor, required: u64) -> WasiResult<()> {
    if d.rights_base & required == required {
        Ok(())
    } else {
        Err(Errno::NOTCAPABLE)
    }
}

/// Paths given by the guest; a NUL byte inside one is never what the guest meant.
fn guest_path<'m>(m: &'m GuestMemory, ptr: u32, len: u32) -> WasiResult<&'m str> {
    let p = m.read_str(ptr, len)?;
    if p.contains('\0') {
        return Err(Errno::ILSEQ);
    }
    Ok(p)
}

fn read_stream(r: &mut dyn Read, m: &mut GuestMemory, iovs: &[Iovec]) -> WasiResult<usize> {
    let mut buf = vec![0u8; m.transfer_len(iovs)];
    let n = loop {
        match r.read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    };
    m.scatter(iovs, &buf[..n])
}

impl WasiCtx {
    fn desc(&self, fd: u32) -> WasiResult<&Descriptor> {
        self.fds.get(&fd).ok_or(Errno::BADF)
    }

    fn desc_mut(&mut self, fd: u32) -> WasiResult<&mut Descriptor> {
        self.fds.get_mut(&fd).ok_or(Errno::BADF)
    }

    /// A regular (non-directory) file, with `required` rights.
    fn file(&self, fd: u32, required: u64) -> WasiResult<&File> {
        let d = self.desc(fd)?;
        match &d.kind {
            Kind::File(f) => {
                check(d, required)?;
                Ok(f)
            }
            Kind::Dir(_) => Err(Errno::BADF),
            _ => Err(Errno::SPIPE),
        }
    }

    fn dir(&self, fd: u32, required: u64) -> WasiResult<&DirState> {
        let d = self.desc(fd)?;
        match &d.kind {
            Kind::Dir(ds) => {
                check(d, required)?;
                Ok(ds)
            }
            _ => Err(Errno::NOTDIR),
        }
    }

    pub(crate) fn args_get(&self, m: &mut GuestMemory, argv: u32, buf: u32) -> WasiResult<()> {
        write_string_list(m, &self.args, argv, buf)
    }

    pub(crate) fn args_sizes_get(
        &self,
        m: &mut GuestMemory,
        argc: u32,
        size: u32,
    ) -> WasiResult<()> {
        write_list_sizes(m, &self.args, argc, size)
    }

    pub(crate) fn environ_get(
        &self,
        m: &mut GuestMemory,
        environ: u32,
        buf: u32,
    ) -> WasiResult<()> {
        write_string_list(m, &self.env, environ, buf)
    }

    pub(crate) fn environ_sizes_get(
        &self,
        m: &mut GuestMemory,
        count: u32,
        size: u32,
    ) -> WasiResult<()> {
        write_list_sizes(m, &self.env, count, size)
    }

    pub(crate) fn clock_res_get(&self, m: &mut GuestMemory, id: u32, out: u32) -> WasiResult<()> {
        let ts = rustix::time::clock_getres(clock_id(id)?);
        m.write(out, &nanos(ts.tv_sec, ts.tv_nsec as i64).max(1))
    }

    pub(crate) fn clock_time_get(
        &mut self,
        m: &mut GuestMemory,
        id: u32,
        _precision: u64,
        out: u32,
    ) -> WasiResult<()> {
        let t = self.clock_now(id)?;
        m.write(out, &t)
    }

    /// What clock `id` reads for the guest: the host's, except the realtime clock
    /// when the builder was given a `wall_clock`.
    fn clock_now(&mut self, id: u32) -> WasiResult<u64> {
        match &mut self.wall_clock {
            Some(clock) if id == clockid::REALTIME => Ok(clock()),
            _ => now(id),
        }
    }

    pub(crate) fn fd_advise(&self, fd: u32, offset: u64, len: u64, advice: u32) -> WasiResult<()> {
        use rustix::fs::Advice;
        let f = self.file(fd, rights::FD_ADVISE)?;
        let advice = match advice {
            0 => Advice::Normal,
            1 => Advice::Sequential,
            2 => Advice::Random,
            3 => Advice::WillNeed,
            4 => Advice::DontNeed,
            5 => Advice::NoReuse,
            _ => return Err(Errno::INVAL),
        };
        let len = std::num::NonZeroU64::new(len);
        rustix::fs::fadvise(f.as_fd(), offset, len, advice)?;
        Ok(())
    }

    pub(crate) fn fd_allocate(&self, fd: u32, offset: u64, len: u64) -> WasiResult<()> {
        let f = self.file(fd, rights::FD_ALLOCATE)?;
        offset
            .checked_add(len)
            .filter(|e| *e <= i64::MAX as u64)
            .ok_or(Errno::INVAL)?;
        rustix::fs::fallocate(f.as_fd(), rustix::fs::FallocateFlags::empty(), offset, len)?;
        Ok(())
    }

    pub(crate) fn fd_close(&mut self, fd: u32) -> WasiResult<()> {
        self.fds.remove(&fd).map(drop).ok_or(Errno::BADF)
    }

    pub(crate) fn fd_datasync(&self, fd: u32) -> WasiResult<()> {
        self.sync_fd(fd, rights::FD_DATASYNC, |f| rustix::fs::fdatasync(f))
    }

    /// `fd_sync` and `fd_datasync` differ only in how much the kernel writes out;
    /// both apply to files and directories alike.
    fn sync_fd(
        &self,
        fd: u32,
        required: u64,
        op: impl Fn(std::os::fd::BorrowedFd<'_>) -> rustix::io::Result<()>,
    ) -> WasiResult<()> {
        let d = self.desc(fd)?;
        check(d, required)?;
        match &d.kind {
            Kind::File(f) => Ok(op(f.as_fd())?),
            Kind::Dir(ds) => Ok(op(ds.dir.as_fd())?),
            _ => Err(Errno::INVAL),
        }
    }

    pub(crate) fn fd_sync(&self, fd: u32) -> WasiResult<()> {
        self.sync_fd(fd, rights::FD_SYNC, |f| rustix::fs::fsync(f))
    }

    pub(crate) fn fd_fdstat_get(&self, m: &mut GuestMemory, fd: u32, out: u32) -> WasiResult<()> {
        let d = self.desc(fd)?;
        let flags = match &d.kind {
            Kind::File(f) => {
                use rustix::fs::OFlags;
                let fl = rustix::fs::fcntl_getfl(f.as_fd())?;
                let mut r = 0;
                if fl.contains(OFlags::APPEND) {
                    r |= fdflags::APPEND;
                }
                if fl.contains(OFlags::NONBLOCK) {
                    r |= fdflags::NONBLOCK;
                }
                if fl.contains(OFlags::SYNC) {
                    r |= fdflags::SYNC;
                } else if fl.contains(OFlags::DSYNC) {
                    r |= fdflags::DSYNC;
                }
                r
            }
            _ => d.stream_flags,
        };
        let st = Fdstat {
            fs_filetype: d.filetype(),
            fs_flags: flags,
            fs_rights_base: d.rights_base,
            fs_rights_inheriting: d.rights_inheriting,
            ..Default::default()
        };
        m.write(out, &st)
    }

    pub(crate) fn fd_fdstat_set_flags(&mut self, fd: u32, flags: u16) -> WasiResult<()> {
        use rustix::fs::OFlags;
        let d = self.desc_mut(fd)?;
        check(d, rights::FD_FDSTAT_SET_FLAGS)?;
        if flags & !fdflags::ALL != 0 {
            return Err(Errno::INVAL);
        }
        // Linux cannot change the sync flags of an open file, so neither can we.
        if flags & (fdflags::DSYNC | fdflags::SYNC | fdflags::RSYNC) != 0 {
            return Err(Errno::NOTSUP);
        }
        match &d.kind {
            Kind::File(f) => {
                let mut fl = rustix::fs::fcntl_getfl(f.as_fd())?;
                fl.set(OFlags::APPEND, flags & fdflags::APPEND != 0);
                fl.set(OFlags::NONBLOCK, flags & fdflags::NONBLOCK != 0);
                rustix::fs::fcntl_setfl(f.as_fd(), fl)?;
            }
            _ => d.stream_flags = flags,
        }
        Ok(())
    }

    pub(crate) fn fd_fdstat_set_rights(
        &mut self,
        fd: u32,
        base: u64,
        inheriting: u64,
    ) -> WasiResult<()> {
        let d = self.desc_mut(fd)?;
        if base & !d.rights_base != 0 || inheriting & !d.rights_inheriting != 0 {
            return Err(Errno::NOTCAPABLE);
        }
        d.rights_base = base;
        d.rights_inheriting = inheriting;
        Ok(())
    }

    pub(crate) fn fd_filestat_get(&self, fd: u32) -> WasiResult<Filestat> {
        let d = self.desc(fd)?;
        check(d, rights::FD_FILESTAT_GET)?;
        match &d.kind {
            Kind::File(f) => Ok(filestat_of(&f.metadata()?)),
            Kind::Dir(ds) => Ok(filestat_of(&ds.dir.dir_metadata()?)),
            _ => Ok(Filestat {
                filetype: d.filetype(),
                ..Default::default()
            }),
        }
    }

    pub(crate) fn fd_filestat_set_size(&self, fd: u32, size: u64) -> WasiResult<()> {
        let f = self.file(fd, rights::FD_FILESTAT_SET_SIZE)?;
        if size > i64::MAX as u64 {
            return Err(Errno::INVAL);
        }
        f.set_len(size)?;
        Ok(())
    }

    pub(crate) fn fd_filestat_set_times(
        &self,
        fd: u32,
        atim: u64,
        mtim: u64,
        fst: u16,
    ) -> WasiResult<()> {
        let d = self.desc(fd)?;
        check(d, rights::FD_FILESTAT_SET_TIMES)?;
        let (a, mt) = time_specs(atim, mtim, fst)?;
        match &d.kind {
            Kind::File(f) => {
                SetTimes::set_times(f, a.map(TimeSpec::for_fd), mt.map(TimeSpec::for_fd))?
            }
            Kind::Dir(ds) => {
                SetTimes::set_times(&ds.dir, a.map(TimeSpec::for_fd), mt.map(TimeSpec::for_fd))?
            }
            _ => return Err(Errno::BADF),
        }
        Ok(())
    }

    pub(crate) fn fd_pread(
        &self,
        m: &mut GuestMemory,
        fd: u32,
        iovs: u32,
        n: u32,
        offset: u64,
        out: u32,
    ) -> WasiResult<()> {
        let f = self.file(fd, rights::FD_READ | rights::FD_SEEK)?;
        let iovs = m.read_iovecs(iovs, n)?;
        let mut buf = vec![0u8; m.transfer_len(&iovs)];
        let got = rustix::io::pread(f.as_fd(), &mut buf, offset)?;
        let placed = m.scatter(&iovs, &buf[..got])?;
        m.write(out, &(placed as u32))
    }

    pub(crate) fn fd_pwrite(
        &self,
        m: &mut GuestMemory,
        fd: u32,
        iovs: u32,
        n: u32,
        offset: u64,
        out: u32,
    ) -> WasiResult<()> {
        let f = self.file(fd, rights::FD_WRITE | rights::FD_SEEK)?;
        let iovs = m.read_iovecs(iovs, n)?;
        let data = m.gather(&iovs)?;
        let wrote = rustix::io::pwrite(f.as_fd(), &data, offset)?;
        m.write(out, &(wrote as u32))
    }

    pub(crate) fn fd_prestat_get(&self, m: &mut GuestMemory, fd: u32, out: u32) -> WasiResult<()> {
        match &self.desc(fd)?.kind {
            Kind::Dir(DirState {
                preopen: Some(name),
                ..
            }) => {
                let p = Prestat {
                    tag: preopentype::DIR,
                    _pad: [0; 3],
                    pr_name_len: name.len() as u32,
                };
                m.write(out, &p)
            }
            _ => Err(Errno::BADF),
        }
    }

    pub(crate) fn fd_prestat_dir_name(
        &self,
        m: &mut GuestMemory,
        fd: u32,
        path: u32,
        len: u32,
    ) -> WasiResult<()> {
        match &self.desc(fd)?.kind {
            Kind::Dir(DirState {
                preopen: Some(name),
                ..
            }) => {
                if (len as usize) < name.len() {
                    return Err(Errno::NAMETOOLONG);
                }
                m.write_bytes(path, name.as_bytes())
            }
            _ => Err(Errno::BADF),
        }
    }

    pub(crate) fn fd_read(
        &mut self,
        m: &mut GuestMemory,
        fd: u32,
        iovs: u32,
        n: u32,
        out: u32,
    ) -> WasiResult<()> {
        let iovs = m.read_iovecs(iovs, n)?;
        let d = self.desc_mut(fd)?;
        check(d, rights::FD_READ)?;
        let got = match &mut d.kind {
            Kind::Stdin(Input::Null) => 0,
            Kind::Stdin(Input::Inherit) => read_stream(&mut std::io::stdin().lock(), m, &iovs)?,
            Kind::Stdin(Input::Reader(r)) => read_stream(r.as_mut(), m, &iovs)?,
            Kind::File(f) => read_stream(f, m, &iovs)?,
            Kind::Dir(_) => return Err(Errno::ISDIR),
            Kind::Stdout(_) => return Err(Errno::BADF),
        };
        m.write(out, &(got as u32))
    }

    pub(crate) fn fd_write(
        &mut self,
        m: &mut GuestMemory,
        fd: u32,
        iovs: u32,
        n: u32,
        out: u32,
    ) -> WasiResult<()> {
        let iovs = m.read_iovecs(iovs, n)?;
        let d = self.desc_mut(fd)?;
        check(d, rights::FD_WRITE)?;
        let data = m.gather(&iovs)?;
        let wrote = match &mut d.kind {
            Kind::Stdout(Output::Null) => data.len(),
            Kind::Stdout(Output::Inherit(n)) => {
                let r = if *n == 1 {
                    let mut o = std::io::stdout().lock();
                    o.write_all(&data).and_then(|_| o.flush())
                } else {
                    let mut o = std::io::stderr().lock();
                    o.write_all(&data).and_then(|_| o.flush())
                };
                r?;
                data.len()
            }
            Kind::Stdout(Output::Writer(w)) => {
                w.write_all(&data)?;
                w.flush()?;
                data.len()
            }
            Kind::File(f) => f.write(&data)?,
            Kind::Dir(_) => return Err(Errno::ISDIR),
            Kind::Stdin(_) => return Err(Errno::BADF),
        };
        m.write(out, &(wrote as u32))
    }

    pub(crate) fn fd_readdir(
        &mut self,
        m: &mut GuestMemory,
        fd: u32,
        buf: u32,
        len: u32,
        cookie: u64,
        out: u32,
    ) -> WasiResult<()> {
        let d = self.desc_mut(fd)?;
        let Kind::Dir(_) = &d.kind else {
            return Err(Errno::NOTDIR);
        };
        check(d, rights::FD_READDIR)?;
        let Kind::Dir(ds) = &mut d.kind else {
            unreachable!()
        };
        // Nothing is built past what the guest's memory can hold at `buf` (plus the
        // one entry that shows it would overflow), whatever `len` claims. Like
        // Wasmtime, a buffer that only partly fits is EFAULT only if the entries
        // reach the end of memory.
        let room = m.room(buf)?;
        let limit = (len as usize).min(room.saturating_add(1));
        if cookie == 0 || ds.readdir_cache.is_none() {
            ds.readdir_cache = Some(read_entries(&ds.dir)?);
        }
        let entries = ds.readdir_cache.as_deref().unwrap_or_default();
        let mut bytes = Vec::new();
        for (i, e) in entries
            .iter()
            .enumerate()
            .skip(usize::try_from(cookie).unwrap_or(usize::MAX))
        {
            if bytes.len() >= limit {
                break;
            }
            let dirent = Dirent {
                d_next: i as u64 + 1,
                d_ino: e.ino,
                d_namlen: e.name.len() as u32,
                d_type: e.ty,
                _pad: [0; 3],
            };
            bytes.extend_from_slice(zerocopy::IntoBytes::as_bytes(&dirent));
            bytes.extend_from_slice(&e.name);
        }
        bytes.truncate(len as usize);
        m.write_bytes(buf, &bytes)?;
        m.write(out, &(bytes.len() as u32))
    }

    pub(crate) fn fd_renumber(&mut self, from: u32, to: u32) -> WasiResult<()> {
        if !self.fds.contains_key(&from) || !self.fds.contains_key(&to) {
            return Err(Errno::BADF);
        }
        if from != to {
            let d = self.fds.remove(&from).ok_or(Errno::BADF)?;
            self.fds.insert(to, d);
        }
        Ok(())
    }

    pub(crate) fn fd_seek(&mut self, fd: u32, offset: i64, whence: u8) -> WasiResult<u64> {
        let d = self.desc_mut(fd)?;
        let needed = if offset == 0 && whence == whence::CUR {
            rights::FD_TELL
        } else {
            rights::FD_SEEK
        };
        let pos = match whence {
            whence::SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::INVAL)?),
            whence::CUR => SeekFrom::Current(offset),
            whence::END => SeekFrom::End(offset),
            _ => return Err(Errno::INVAL),
        };
        match &mut d.kind {
            Kind::File(f) => {
                if d.rights_base & needed != needed {
                    return Err(Errno::NOTCAPABLE);
                }
                Ok(f.seek(pos)?)
            }
            Kind::Dir(_) => Err(Errno::BADF),
            _ => Err(Errno::SPIPE),
        }
    }

    pub(crate) fn fd_tell(&mut self, fd: u32) -> WasiResult<u64> {
        self.fd_seek(fd, 0, whence::CUR)
    }

    pub(crate) fn path_create_directory(
        &self,
        m: &GuestMemory,
        fd: u32,
        path: u32,
        len: u32,
    ) -> WasiResult<()> {
        let dir = self.dir(fd, rights::PATH_CREATE_DIRECTORY)?;
        let path = guest_path(m, path, len)?;
        dir.dir.create_dir(path)?;
        Ok(())
    }

    pub(crate) fn path_filestat_get(
        &self,
        m: &GuestMemory,
        fd: u32,
        flags: u32,
        path: u32,
        len: u32,
    ) -> WasiResult<Filestat> {
        let dir = self.dir(fd, rights::PATH_FILESTAT_GET)?;
        let path = guest_path(m, path, len)?;
        let meta = if flags & lookupflags::SYMLINK_FOLLOW != 0 {
            dir.dir.metadata(path)?
        } else {
            dir.dir.symlink_metadata(path)?
        };
        Ok(filestat_of(&meta))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_filestat_set_times(
        &self,
        m: &GuestMemory,
        fd: u32,
        flags: u32,
        path: u32,
        len: u32,
        atim: u64,
        mtim: u64,
        fst: u16,
    ) -> WasiResult<()> {
        let dir = self.dir(fd, rights::PATH_FILESTAT_SET_TIMES)?;
        let path = guest_path(m, path, len)?;
        let (a, mt) = time_specs(atim, mtim, fst)?;
        let (a, mt) = (a.map(TimeSpec::for_path), mt.map(TimeSpec::for_path));
        if flags & lookupflags::SYMLINK_FOLLOW != 0 {
            DirExt::set_times(&dir.dir, path, a, mt)?;
        } else {
            dir.dir.set_symlink_times(path, a, mt)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_link(
        &self,
        m: &GuestMemory,
        old_fd: u32,
        old_flags: u32,
        old_path: u32,
        old_len: u32,
        new_fd: u32,
        new_path: u32,
        new_len: u32,
    ) -> WasiResult<()> {
        let old_dir = self.dir(old_fd, rights::PATH_LINK_SOURCE)?;
        let new_dir = self.dir(new_fd, rights::PATH_LINK_TARGET)?;
        let old_path = guest_path(m, old_path, old_len)?;
        let new_path = guest_path(m, new_path, new_len)?;
        if old_flags & lookupflags::SYMLINK_FOLLOW != 0 {
            // Following the source symlink would need a resolution step that could
            // leave the sandbox; Wasmtime refuses it the same way.
            return Err(Errno::INVAL);
        }
        old_dir.dir.hard_link(old_path, &new_dir.dir, new_path)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_open(
        &mut self,
        m: &GuestMemory,
        fd: u32,
        dirflags: u32,
        path: u32,
        len: u32,
        oflags: u16,
        base: u64,
        inheriting: u64,
        fdflags: u16,
    ) -> WasiResult<u32> {
        let parent = self.desc(fd)?;
        let Kind::Dir(ds) = &parent.kind else {
            return Err(Errno::NOTDIR);
        };
        let mut needed = rights::PATH_OPEN;
        if oflags & oflags::CREAT != 0 {
            needed |= rights::PATH_CREATE_FILE;
        }
        if oflags & oflags::TRUNC != 0 {
            needed |= rights::PATH_FILESTAT_SET_SIZE;
        }
        check(parent, needed)?;
        let path = guest_path(m, path, len)?;
        let follow = dirflags & lookupflags::SYMLINK_FOLLOW != 0;
        let base = base & parent.rights_inheriting;
        let inheriting = inheriting & parent.rights_inheriting;

        if oflags & oflags::DIRECTORY != 0 {
            if oflags & (oflags::CREAT | oflags::TRUNC) != 0 {
                return Err(Errno::INVAL);
            }
            if base & rights::FD_WRITE != 0 {
                // A directory cannot be opened for writing.
                let meta = if follow {
                    ds.dir.metadata(path)
                } else {
                    ds.dir.symlink_metadata(path)
                };
                if let Ok(meta) = meta {
                    if meta.is_dir() {
                        return Err(Errno::ISDIR);
                    }
                }
            }
            let dir = if follow {
                ds.dir.open_dir(path)?
            } else {
                ds.dir.open_dir_nofollow(path)?
            };
            return self.insert(opened_dir(dir, base, inheriting));
        }

        let read = base & (rights::FD_READ | rights::FD_READDIR) != 0;
        let write =
            base & (rights::FD_WRITE | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE) != 0;
        let mut opts = OpenOptions::new();
        opts.maybe_dir(true);
        if oflags & oflags::CREAT != 0 {
            if oflags & oflags::EXCL != 0 {
                opts.create_new(true);
            } else {
                opts.create(true);
            }
            opts.write(true);
        }
        if oflags & oflags::TRUNC != 0 {
            opts.truncate(true).write(true);
        }
        if write {
            opts.write(true);
        }
        if read || !write {
            opts.read(true);
        }
        // std-style options refuse append together with truncate, which POSIX
        // allows; such files get O_APPEND right after opening instead.
        let append_later = fdflags & fdflags::APPEND != 0 && oflags & oflags::TRUNC != 0;
        if fdflags & fdflags::APPEND != 0 && !append_later {
            opts.append(true);
        }
        if fdflags & fdflags::NONBLOCK != 0 {
            opts.nonblock(true);
        }
        if fdflags & fdflags::DSYNC != 0 {
            opts.dsync(true);
        }
        if fdflags & fdflags::SYNC != 0 {
            opts.sync(true);
        }
        if fdflags & fdflags::RSYNC != 0 {
            opts.rsync(true);
        }
        opts.follow(if follow {
            FollowSymlinks::Yes
        } else {
            FollowSymlinks::No
        });
        let file = match ds.dir.open_with(path, &opts) {
            Ok(f) => f,
            Err(e) => {
                // O_NOFOLLOW on a symlink reports ELOOP; a symlink opened without
                // following is not a loop, and Wasmtime says so with ELOOP as well,
                // so keep it.
                return Err(e.into());
            }
        };
        if append_later {
            let fl = rustix::fs::fcntl_getfl(file.as_fd())?;
            rustix::fs::fcntl_setfl(file.as_fd(), fl | rustix::fs::OFlags::APPEND)?;
        }
        let is_dir = file.metadata().map(|m| m.is_dir()).unwrap_or(false);
        let d = if is_dir {
            let dir = Dir::from_std_file(file.into_std());
            opened_dir(dir, base, inheriting)
        } else {
            Descriptor {
                kind: Kind::File(file),
                rights_base: base & rights::FILE_BASE,
                rights_inheriting: inheriting,
                stream_flags: 0,
            }
        };
        self.insert(d)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_readlink(
        &self,
        m: &mut GuestMemory,
        fd: u32,
        path: u32,
        len: u32,
        buf: u32,
        buf_len: u32,
        out: u32,
    ) -> WasiResult<()> {
        let dir = self.dir(fd, rights::PATH_READLINK)?;
        let path = guest_path(m, path, len)?;
        let target = dir.dir.read_link_contents(path)?;
        let target = target.to_str().ok_or(Errno::ILSEQ)?.as_bytes().to_vec();
        let n = target.len().min(buf_len as usize);
        m.write_bytes(buf, &target[..n])?;
        m.write(out, &(n as u32))
    }

    pub(crate) fn path_remove_directory(
        &self,
        m: &GuestMemory,
        fd: u32,
        path: u32,
        len: u32,
    ) -> WasiResult<()> {
        let dir = self.dir(fd, rights::PATH_REMOVE_DIRECTORY)?;
        let path = guest_path(m, path, len)?;
        dir.dir.remove_dir(path)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_rename(
        &self,
        m: &GuestMemory,
        fd: u32,
        old_path: u32,
        old_len: u32,
        new_fd: u32,
        new_path: u32,
        new_len: u32,
    ) -> WasiResult<()> {
        let old_dir = self.dir(fd, rights::PATH_RENAME_SOURCE)?;
        let new_dir = self.dir(new_fd, rights::PATH_RENAME_TARGET)?;
        let old_path = guest_path(m, old_path, old_len)?;
        let new_path = guest_path(m, new_path, new_len)?;
        if old_path.ends_with('/') || new_path.ends_with('/') {
            // A trailing slash is only allowed when the source is a directory.
            let meta = old_dir
                .dir
                .symlink_metadata(old_path.trim_end_matches('/'))?;
            if !meta.is_dir() {
                return Err(Errno::NOTDIR);
            }
        }
        old_dir.dir.rename(old_path, &new_dir.dir, new_path)?;
        Ok(())
    }

    pub(crate) fn path_symlink(
        &self,
        m: &GuestMemory,
        old_path: u32,
        old_len: u32,
        fd: u32,
        new_path: u32,
        new_len: u32,
    ) -> WasiResult<()> {
        let dir = self.dir(fd, rights::PATH_SYMLINK)?;
        let old_path = guest_path(m, old_path, old_len)?;
        let new_path = guest_path(m, new_path, new_len)?;
        if new_path.ends_with('/') {
            // A link name cannot name a directory, so a trailing slash only ever
            // fails: EEXIST if something is there, ENOTDIR if it is not a
            // directory, ENOENT if nothing is (as Linux reports).
            return match dir.dir.symlink_metadata(new_path.trim_end_matches('/')) {
                Ok(m) if m.is_dir() => Err(Errno::EXIST),
                Ok(_) => Err(Errno::NOTDIR),
                Err(e) => Err(e.into()),
            };
        }
        // Where a symlink points is only checked when it is followed, so an
        // absolute or escaping target is harmless to create; cap-std refuses them
        // anyway, matching Wasmtime.
        dir.dir.symlink(old_path, new_path)?;
        Ok(())
    }

    pub(crate) fn path_unlink_file(
        &self,
        m: &GuestMemory,
        fd: u32,
        path: u32,
        len: u32,
    ) -> WasiResult<()> {
        let dir = self.dir(fd, rights::PATH_UNLINK_FILE)?;
        let path = guest_path(m, path, len)?;
        if path.ends_with('/') {
            return trailing_slash_error(&dir.dir, path);
        }
        dir.dir.remove_file(path)?;
        Ok(())
    }

    pub(crate) fn poll_oneoff(&mut self, subs: &[Sub]) -> WasiResult<Vec<Event>> {
        if subs.is_empty() {
            return Err(Errno::INVAL);
        }
        let mut events = Vec::new();
        // Deadlines in monotonic nanoseconds, with the subscription index.
        let mut clocks: Vec<(u64, usize)> = Vec::new();
        let mut host_fds: Vec<(i32, bool, usize)> = Vec::new();
        let mono_now = now(clockid::MONOTONIC)?;
        for (i, s) in subs.iter().enumerate() {
            let ev = |error: Errno, type_: u8, nbytes: u64| Event {
                userdata: s.userdata,
                error: error.0,
                type_,
                nbytes,
                ..Default::default()
            };
            match s.kind {
                SubKind::Clock {
                    id,
                    timeout,
                    abstime,
                } => {
                    let delay = if abstime {
                        match self.clock_now(id) {
                            Ok(t) => timeout.saturating_sub(t),
                            Err(e) => {
                                events.push(ev(e, eventtype::CLOCK, 0));
                                continue;
                            }
                        }
                    } else {
                        if clock_id(id).is_err() {
                            events.push(ev(Errno::INVAL, eventtype::CLOCK, 0));
                            continue;
                        }
                        timeout
                    };
                    clocks.push((mono_now.saturating_add(delay), i));
                }
                SubKind::Read(fd) | SubKind::Write(fd) => {
                    let is_read = matches!(s.kind, SubKind::Read(_));
                    let ty = if is_read {
                        eventtype::FD_READ
                    } else {
                        eventtype::FD_WRITE
                    };
                    let d = match self.desc(fd) {
                        Ok(d) => d,
                        Err(e) => {
                            events.push(ev(e, ty, 0));
                            continue;
                        }
                    };
                    if check(d, rights::POLL_FD_READWRITE).is_err() {
                        events.push(ev(Errno::NOTCAPABLE, ty, 0));
                        continue;
                    }
                    match (&d.kind, is_read) {
                        (Kind::Stdin(Input::Inherit), true) => host_fds.push((0, true, i)),
                        (Kind::Stdout(Output::Inherit(n)), false) => {
                            host_fds.push((*n as i32, false, i))
                        }
                        (Kind::Stdin(_), true) | (Kind::Stdout(_), false) => {
                            events.push(ev(Errno::SUCCESS, ty, 0))
                        }
                        (Kind::File(f), true) => {
                            let avail = match (
                                f.metadata(),
                                rustix::fs::seek(f.as_fd(), rustix::fs::SeekFrom::Current(0)),
                            ) {
                                (Ok(m), Ok(pos)) => m.len().saturating_sub(pos),
                                _ => 0,
                            };
                            events.push(ev(Errno::SUCCESS, ty, avail));
                        }
                        (Kind::File(_), false) => events.push(ev(Errno::SUCCESS, ty, 0)),
                        _ => events.push(ev(Errno::BADF, ty, 0)),
                    }
                }
                SubKind::Bad => events.push(ev(Errno::INVAL, 0, 0)),
            }
        }
        let earliest = clocks.iter().map(|c| c.0).min();
        if events.is_empty() || !host_fds.is_empty() {
            let timeout_ns = if !events.is_empty() {
                Some(0)
            } else {
                earliest.map(|e| e.saturating_sub(mono_now))
            };
            if !host_fds.is_empty() {
                use rustix::event::{PollFd, PollFlags};
                let borrowed: Vec<HostStream> = host_fds
                    .iter()
                    .map(|(fd, _, _)| HostStream::new(*fd))
                    .collect();
                let mut pfds: Vec<PollFd> = borrowed
                    .iter()
                    .zip(&host_fds)
                    .map(|(b, (_, r, _))| {
                        PollFd::new(b, if *r { PollFlags::IN } else { PollFlags::OUT })
                    })
                    .collect();
                let ts = timeout_ns.map(|ns| rustix::time::Timespec {
                    tv_sec: (ns / 1_000_000_000) as i64,
                    tv_nsec: (ns % 1_000_000_000) as _,
                });
                loop {
                    match rustix::event::poll(&mut pfds, ts.as_ref()) {
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(e) => return Err(e.into()),
                        Ok(_) => break,
                    }
                }
                for (p, (_, r, i)) in pfds.iter().zip(&host_fds) {
                    let rev = p.revents();
                    if rev.is_empty() {
                        continue;
                    }
                    let mut e = Event {
                        userdata: subs[*i].userdata,
                        type_: if *r {
                            eventtype::FD_READ
                        } else {
                            eventtype::FD_WRITE
                        },
                        ..Default::default()
                    };
                    if rev.contains(PollFlags::HUP) {
                        e.flags = eventrwflags::HANGUP;
                    }
                    if rev.intersects(PollFlags::ERR | PollFlags::NVAL) {
                        e.error = Errno::IO.0;
                    }
                    events.push(e);
                }
            } else if let Some(ns) = timeout_ns {
                std::thread::sleep(Duration::from_nanos(ns));
            }
        }
        if events.is_empty() || earliest.is_some() {
            let t = now(clockid::MONOTONIC)?;
            for (deadline, i) in &clocks {
                if *deadline <= t {
                    events.push(Event {
                        userdata: subs[*i].userdata,
                        type_: eventtype::CLOCK,
                        ..Default::default()
                    });
                }
            }
        }
        Ok(events)
    }

    pub(crate) fn random_get(&mut self, m: &mut GuestMemory, buf: u32, len: u32) -> WasiResult<()> {
        let mut out = m.slice_mut(buf, len)?;
        if let Some(source) = &mut self.random {
            // An empty request is not passed on, so a source's stream depends only
            // on the bytes asked for, not on how many calls asked for none.
            if !out.is_empty() {
                source(&mut *out);
            }
            return Ok(());
        }
        while !out.is_empty() {
            match rustix::rand::getrandom(&mut *out, rustix::rand::GetRandomFlags::empty()) {
                Ok(n) => out = &mut out[n..],
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Sockets are never handed to guests, so every descriptor is either missing or
    /// not a socket.
    pub(crate) fn not_a_socket(&self, fd: u32) -> WasiResult<()> {
        self.desc(fd)?;
        Err(Errno::NOTSOCK)
    }
}

/// A directory that `path_open` opened: its rights are capped to what directories
/// support, whichever way it was opened.
fn opened_dir(dir: Dir, base: u64, inheriting: u64) -> Descriptor {
    Descriptor {
        kind: Kind::Dir(DirState {
            dir,
            preopen: None,
            readdir_cache: None,
        }),
        rights_base: base & rights::DIR_BASE,
        rights_inheriting: inheriting,
        stream_flags: 0,
    }
}

/// The error a path operation that does not accept a trailing slash gives: the
/// kernel's for directories, ENOTDIR for anything else.
fn trailing_slash_error(dir: &Dir, path: &str) -> WasiResult<()> {
    match dir.symlink_metadata(path.trim_end_matches('/')) {
        Ok(m) if m.is_dir() => Err(Errno::ISDIR),
        Ok(_) => Err(Errno::NOTDIR),
        Err(e) => Err(e.into()),
    }
}

fn read_entries(dir: &Dir) -> WasiResult<Vec<ReaddirEntry>> {
    use std::os::unix::fs::DirEntryExt;
    let self_ino = dir.dir_metadata().map(|m| m.ino()).unwrap_or(0);
    let parent_ino = dir.metadata("..").map(|m| m.ino()).unwrap_or(self_ino);
    let mut out = vec![
        ReaddirEntry {
            name: b".".to_vec(),
            ino: self_ino,
            ty: filetype::DIRECTORY,
        },
        ReaddirEntry {
            name: b"..".to_vec(),
            ino: parent_ino,
            ty: filetype::DIRECTORY,
        },
    ];
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| Errno::ILSEQ)?
            .into_bytes();
        let ty = entry
            .file_type()
            .map(filetype_of)
            .unwrap_or(filetype::UNKNOWN);
        out.push(ReaddirEntry {
            name,
            ino: entry.ino(),
            ty,
        });
    }
    Ok(out)
}

fn write_list_sizes(
    m: &mut GuestMemory,
    list: &[Vec<u8>],
    count: u32,
    size: u32,
) -> WasiResult<()> {
    let total: usize = list.iter().map(|s| s.len()).sum();
    m.write(count, &(list.len() as u32))?;
    m.write(size, &(u32::try_from(total).map_err(|_| Errno::OVERFLOW)?))
}

fn write_string_list(m: &mut GuestMemory, list: &[Vec<u8>], ptrs: u32, buf: u32) -> WasiResult<()> {
    let mut at = buf;
    for (i, s) in list.iter().enumerate() {
        m.write(ptrs.checked_add(4 * i as u32).ok_or(Errno::FAULT)?, &at)?;
        m.write_bytes(at, s)?;
        at = at.checked_add(s.len() as u32).ok_or(Errno::FAULT)?;
    }
    Ok(())
}
