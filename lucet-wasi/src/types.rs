//! The WASI preview1 ABI: constants and the structs guests read and write.
//!
//! Values are those of the `wasi_snapshot_preview1` witx definitions. Structs are
//! `#[repr(C)]` with their padding spelled out, so their in-memory form is exactly the
//! guest's little-endian layout and can be copied to and from linear memory as bytes.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A WASI error number. `Errno(0)` is success and never used as an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

macro_rules! errnos {
    ($($name:ident = $val:expr),* $(,)?) => {
        impl Errno {
            $(pub const $name: Errno = Errno($val);)*
        }
    };
}
errnos! {
    SUCCESS = 0, TOOBIG = 1, ACCES = 2, ADDRINUSE = 3, ADDRNOTAVAIL = 4, AFNOSUPPORT = 5, AGAIN = 6,
    ALREADY = 7, BADF = 8, BADMSG = 9, BUSY = 10, CANCELED = 11, CHILD = 12, CONNABORTED = 13,
    CONNREFUSED = 14, CONNRESET = 15, DEADLK = 16, DESTADDRREQ = 17, DOM = 18, DQUOT = 19, EXIST = 20,
    FAULT = 21, FBIG = 22, HOSTUNREACH = 23, IDRM = 24, ILSEQ = 25, INPROGRESS = 26, INTR = 27,
    INVAL = 28, IO = 29, ISCONN = 30, ISDIR = 31, LOOP = 32, MFILE = 33, MLINK = 34, MSGSIZE = 35,
    MULTIHOP = 36, NAMETOOLONG = 37, NETDOWN = 38, NETRESET = 39, NETUNREACH = 40, NFILE = 41,
    NOBUFS = 42, NODEV = 43, NOENT = 44, NOEXEC = 45, NOLCK = 46, NOLINK = 47, NOMEM = 48, NOMSG = 49,
    NOPROTOOPT = 50, NOSPC = 51, NOSYS = 52, NOTCONN = 53, NOTDIR = 54, NOTEMPTY = 55,
    NOTRECOVERABLE = 56, NOTSOCK = 57, NOTSUP = 58, NOTTY = 59, NXIO = 60, OVERFLOW = 61,
    OWNERDEAD = 62, PERM = 63, PIPE = 64, PROTO = 65, PROTONOSUPPORT = 66, PROTOTYPE = 67, RANGE = 68,
    ROFS = 69, SPIPE = 70, SRCH = 71, STALE = 72, TIMEDOUT = 73, TXTBSY = 74, XDEV = 75, NOTCAPABLE = 76,
}

impl Errno {
    /// The WASI errno for a Linux errno value.
    pub fn from_raw_os_error(e: i32) -> Errno {
        match e {
            libc::EPERM => Errno::PERM,
            libc::ENOENT => Errno::NOENT,
            libc::ESRCH => Errno::SRCH,
            libc::EINTR => Errno::INTR,
            libc::EIO => Errno::IO,
            libc::ENXIO => Errno::NXIO,
            libc::E2BIG => Errno::TOOBIG,
            libc::ENOEXEC => Errno::NOEXEC,
            libc::EBADF => Errno::BADF,
            libc::ECHILD => Errno::CHILD,
            libc::EAGAIN => Errno::AGAIN,
            libc::ENOMEM => Errno::NOMEM,
            libc::EACCES => Errno::ACCES,
            libc::EFAULT => Errno::FAULT,
            libc::EBUSY => Errno::BUSY,
            libc::EEXIST => Errno::EXIST,
            libc::EXDEV => Errno::XDEV,
            libc::ENODEV => Errno::NODEV,
            libc::ENOTDIR => Errno::NOTDIR,
            libc::EISDIR => Errno::ISDIR,
            libc::EINVAL => Errno::INVAL,
            libc::ENFILE => Errno::NFILE,
            libc::EMFILE => Errno::MFILE,
            libc::ENOTTY => Errno::NOTTY,
            libc::ETXTBSY => Errno::TXTBSY,
            libc::EFBIG => Errno::FBIG,
            libc::ENOSPC => Errno::NOSPC,
            libc::ESPIPE => Errno::SPIPE,
            libc::EROFS => Errno::ROFS,
            libc::EMLINK => Errno::MLINK,
            libc::EPIPE => Errno::PIPE,
            libc::EDOM => Errno::DOM,
            libc::ERANGE => Errno::RANGE,
            libc::EDEADLK => Errno::DEADLK,
            libc::ENAMETOOLONG => Errno::NAMETOOLONG,
            libc::ENOLCK => Errno::NOLCK,
            libc::ENOSYS => Errno::NOSYS,
            libc::ENOTEMPTY => Errno::NOTEMPTY,
            libc::ELOOP => Errno::LOOP,
            libc::ENOMSG => Errno::NOMSG,
            libc::EIDRM => Errno::IDRM,
            libc::ENOLINK => Errno::NOLINK,
            libc::EPROTO => Errno::PROTO,
            libc::EMULTIHOP => Errno::MULTIHOP,
            libc::EBADMSG => Errno::BADMSG,
            libc::EOVERFLOW => Errno::OVERFLOW,
            libc::EILSEQ => Errno::ILSEQ,
            libc::ENOTSOCK => Errno::NOTSOCK,
            libc::EDESTADDRREQ => Errno::DESTADDRREQ,
            libc::EMSGSIZE => Errno::MSGSIZE,
            libc::EPROTOTYPE => Errno::PROTOTYPE,
            libc::ENOPROTOOPT => Errno::NOPROTOOPT,
            libc::EPROTONOSUPPORT => Errno::PROTONOSUPPORT,
            libc::EOPNOTSUPP => Errno::NOTSUP,
            libc::EAFNOSUPPORT => Errno::AFNOSUPPORT,
            libc::EADDRINUSE => Errno::ADDRINUSE,
            libc::EADDRNOTAVAIL => Errno::ADDRNOTAVAIL,
            libc::ENETDOWN => Errno::NETDOWN,
            libc::ENETUNREACH => Errno::NETUNREACH,
            libc::ENETRESET => Errno::NETRESET,
            libc::ECONNABORTED => Errno::CONNABORTED,
            libc::ECONNRESET => Errno::CONNRESET,
            libc::ENOBUFS => Errno::NOBUFS,
            libc::EISCONN => Errno::ISCONN,
            libc::ENOTCONN => Errno::NOTCONN,
            libc::ETIMEDOUT => Errno::TIMEDOUT,
            libc::ECONNREFUSED => Errno::CONNREFUSED,
            libc::EHOSTUNREACH => Errno::HOSTUNREACH,
            libc::EALREADY => Errno::ALREADY,
            libc::EINPROGRESS => Errno::INPROGRESS,
            libc::ESTALE => Errno::STALE,
            libc::EDQUOT => Errno::DQUOT,
            libc::ECANCELED => Errno::CANCELED,
            libc::EOWNERDEAD => Errno::OWNERDEAD,
            libc::ENOTRECOVERABLE => Errno::NOTRECOVERABLE,
            _ => Errno::IO,
        }
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        use std::io::ErrorKind;
        if let Some(raw) = e.raw_os_error() {
            return Errno::from_raw_os_error(raw);
        }
        // cap-std reports an attempt to leave the sandbox (`..` past the root, an
        // absolute path, a symlink pointing out) as PermissionDenied without an OS
        // error; Wasmtime reports those as EPERM too.
        match e.kind() {
            ErrorKind::NotFound => Errno::NOENT,
            ErrorKind::PermissionDenied => Errno::PERM,
            ErrorKind::AlreadyExists => Errno::EXIST,
            ErrorKind::InvalidInput => Errno::INVAL,
            ErrorKind::InvalidData => Errno::ILSEQ,
            ErrorKind::WouldBlock => Errno::AGAIN,
            ErrorKind::Interrupted => Errno::INTR,
            ErrorKind::BrokenPipe => Errno::PIPE,
            ErrorKind::Unsupported => Errno::NOTSUP,
            ErrorKind::OutOfMemory => Errno::NOMEM,
            _ => Errno::IO,
        }
    }
}

impl From<rustix::io::Errno> for Errno {
    fn from(e: rustix::io::Errno) -> Errno {
        Errno::from_raw_os_error(e.raw_os_error())
    }
}

pub type WasiResult<T> = Result<T, Errno>;

pub mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const BLOCK_DEVICE: u8 = 1;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_DGRAM: u8 = 5;
    pub const SOCKET_STREAM: u8 = 6;
    pub const SYMBOLIC_LINK: u8 = 7;
}

pub mod fdflags {
    pub const APPEND: u16 = 1 << 0;
    pub const DSYNC: u16 = 1 << 1;
    pub const NONBLOCK: u16 = 1 << 2;
    pub const RSYNC: u16 = 1 << 3;
    pub const SYNC: u16 = 1 << 4;
    pub const ALL: u16 = 0x1f;
}

pub mod oflags {
    pub const CREAT: u16 = 1 << 0;
    pub const DIRECTORY: u16 = 1 << 1;
    pub const EXCL: u16 = 1 << 2;
    pub const TRUNC: u16 = 1 << 3;
}

pub mod lookupflags {
    pub const SYMLINK_FOLLOW: u32 = 1 << 0;
}

pub mod fstflags {
    pub const ATIM: u16 = 1 << 0;
    pub const ATIM_NOW: u16 = 1 << 1;
    pub const MTIM: u16 = 1 << 2;
    pub const MTIM_NOW: u16 = 1 << 3;
}

pub mod clockid {
    pub const REALTIME: u32 = 0;
    pub const MONOTONIC: u32 = 1;
    pub const PROCESS_CPUTIME_ID: u32 = 2;
    pub const THREAD_CPUTIME_ID: u32 = 3;
}

pub mod whence {
    pub const SET: u8 = 0;
    pub const CUR: u8 = 1;
    pub const END: u8 = 2;
}

pub mod eventtype {
    pub const CLOCK: u8 = 0;
    pub const FD_READ: u8 = 1;
    pub const FD_WRITE: u8 = 2;
}

pub mod subclockflags {
    pub const ABSTIME: u16 = 1;
}

pub mod eventrwflags {
    pub const HANGUP: u16 = 1;
}

pub mod sdflags {
    pub const RD: u8 = 1;
    pub const WR: u8 = 2;
}

pub mod preopentype {
    pub const DIR: u8 = 0;
}

/// Capabilities attached to a file descriptor.
pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const PATH_SYMLINK: u64 = 1 << 24;
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    pub const SOCK_ACCEPT: u64 = 1 << 29;

    /// Everything a regular file can do.
    pub const FILE_BASE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;
    /// Everything a directory can do itself.
    pub const DIR_BASE: u64 = FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_ADVISE
        | PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_SIZE
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | FD_DATASYNC;
    /// What a directory may hand down to what is opened beneath it.
    pub const DIR_INHERITING: u64 = DIR_BASE | FILE_BASE;
    /// Standard streams.
    pub const STREAM_BASE: u64 =
        FD_READ | FD_WRITE | FD_FDSTAT_SET_FLAGS | FD_FILESTAT_GET | POLL_FD_READWRITE;
    /// A terminal cannot seek or tell.
    pub const TTY_BASE: u64 = STREAM_BASE;
}

#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Iovec {
    pub buf: u32,
    pub buf_len: u32,
}

#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Fdstat {
    pub fs_filetype: u8,
    pub _pad0: u8,
    pub fs_flags: u16,
    pub _pad1: u32,
    pub fs_rights_base: u64,
    pub fs_rights_inheriting: u64,
}

#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub _pad: [u8; 7],
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

/// `filestat` as snapshot 0 (`wasi_unstable`) lays it out: a 32-bit link count.
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct FilestatV0 {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub _pad: [u8; 3],
    pub nlink: u32,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

impl From<Filestat> for FilestatV0 {
    fn from(f: Filestat) -> FilestatV0 {
        FilestatV0 {
            dev: f.dev,
            ino: f.ino,
            filetype: f.filetype,
            _pad: [0; 3],
            nlink: f.nlink.min(u32::MAX as u64) as u32,
            size: f.size,
            atim: f.atim,
            mtim: f.mtim,
            ctim: f.ctim,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Dirent {
    pub d_next: u64,
    pub d_ino: u64,
    pub d_namlen: u32,
    pub d_type: u8,
    pub _pad: [u8; 3],
}

#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Prestat {
    pub tag: u8,
    pub _pad: [u8; 3],
    pub pr_name_len: u32,
}

/// A `subscription`: which event to wait for. The union's variant is read from `u`
/// according to `tag`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Subscription {
    pub userdata: u64,
    pub tag: u8,
    pub _pad: [u8; 7],
    pub u: [u8; 32],
}

#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SubscriptionClock {
    pub id: u32,
    pub _pad0: u32,
    pub timeout: u64,
    pub precision: u64,
    pub flags: u16,
    pub _pad1: [u8; 6],
}

/// Snapshot 0's clock subscription carries an extra `identifier` first.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SubscriptionV0 {
    pub userdata: u64,
    pub tag: u8,
    pub _pad: [u8; 7],
    pub u: [u8; 40],
}

#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SubscriptionClockV0 {
    pub identifier: u64,
    pub id: u32,
    pub _pad0: u32,
    pub timeout: u64,
    pub precision: u64,
    pub flags: u16,
    pub _pad1: [u8; 6],
}

#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Event {
    pub userdata: u64,
    pub error: u16,
    pub type_: u8,
    pub _pad0: [u8; 5],
    pub nbytes: u64,
    pub flags: u16,
    pub _pad1: [u8; 6],
}

const _: () = {
    assert!(std::mem::size_of::<Iovec>() == 8);
    assert!(std::mem::size_of::<Fdstat>() == 24);
    assert!(std::mem::size_of::<Filestat>() == 64);
    assert!(std::mem::size_of::<FilestatV0>() == 56);
    assert!(std::mem::size_of::<Dirent>() == 24);
    assert!(std::mem::size_of::<Prestat>() == 8);
    assert!(std::mem::size_of::<Subscription>() == 48);
    assert!(std::mem::size_of::<SubscriptionV0>() == 56);
    assert!(std::mem::size_of::<Event>() == 32);
};
