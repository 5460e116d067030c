//! The per-instance WASI state and the builder that makes it.

use crate::types::filetype;
use cap_std::fs::{Dir, File};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Why a [`WasiCtx`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command-line argument contains a NUL byte, which the guest could not see.
    #[error("argument {index} ({arg:?}) contains a NUL byte; WASI arguments are NUL-terminated strings, remove it")]
    ArgContainsNul { index: usize, arg: String },

    /// An environment variable is malformed.
    #[error("environment variable {key:?}: {reason}")]
    InvalidEnv { key: String, reason: &'static str },

    /// A preopened directory could not be opened on the host.
    #[error("cannot preopen host directory {host} as {guest:?}: {source}; check that it exists and is a readable directory")]
    Preopen {
        host: PathBuf,
        guest: String,
        #[source]
        source: std::io::Error,
    },

    /// A guest path for a preopen is empty or contains a NUL byte.
    #[error("guest path {guest:?} for host directory {host} is not usable: {reason}")]
    InvalidGuestPath {
        host: PathBuf,
        guest: String,
        reason: &'static str,
    },
}

/// Where a guest's standard input comes from.
pub(crate) enum Input {
    Inherit,
    Null,
    Reader(Box<dyn Read + Send>),
}

/// Where a guest's standard output or error goes.
pub(crate) enum Output {
    /// The host's stdout (1) or stderr (2).
    Inherit(u8),
    Null,
    Writer(Box<dyn Write + Send>),
}

/// A clonable in-memory sink for guest output, for tests and embedders that want
/// to inspect what a guest printed.
#[derive(Clone, Default)]
pub struct OutputCapture {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl OutputCapture {
    pub fn new() -> OutputCapture {
        OutputCapture::default()
    }

    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Write for OutputCapture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) struct DirState {
    pub dir: Dir,
    /// The guest name of a preopened directory (what `fd_prestat_dir_name` returns).
    pub preopen: Option<String>,
    /// The entries read at the last `fd_readdir` with cookie 0, so later cookies
    /// index a stable list even if the host's iteration order would differ.
    pub readdir_cache: Option<Vec<crate::filetype::ReaddirEntry>>,
}

pub(crate) enum Kind {
    Stdin(Input),
    Stdout(Output),
    File(File),
    Dir(DirState),
}

pub(crate) struct Descriptor {
    pub kind: Kind,
    pub rights_base: u64,
    pub rights_inheriting: u64,
    /// fdflags the guest set on a stream (files keep theirs in the kernel).
    pub stream_flags: u16,
}

impl Descriptor {
    pub fn filetype(&self) -> u8 {
        match &self.kind {
            Kind::Stdin(Input::Inherit) => host_fd_filetype(0),
            Kind::Stdout(Output::Inherit(n)) => host_fd_filetype(*n as i32),
            Kind::Stdin(_) | Kind::Stdout(_) => filetype::UNKNOWN,
            Kind::File(f) => crate::filetype::file_filetype(f),
            Kind::Dir(_) => filetype::DIRECTORY,
        }
    }
}

/// One of the host process's standard streams, as a descriptor to stat or poll.
pub(crate) enum HostStream {
    In(std::io::Stdin),
    Out(std::io::Stdout),
    Err(std::io::Stderr),
}

impl HostStream {
    /// The stream numbered `fd` (0, 1, anything else is stderr).
    pub(crate) fn new(fd: i32) -> HostStream {
        match fd {
            0 => HostStream::In(std::io::stdin()),
            1 => HostStream::Out(std::io::stdout()),
            _ => HostStream::Err(std::io::stderr()),
        }
    }
}

impl std::os::fd::AsFd for HostStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            HostStream::In(s) => s.as_fd(),
            HostStream::Out(s) => s.as_fd(),
            HostStream::Err(s) => s.as_fd(),
        }
    }
}

fn host_fd_filetype(fd: i32) -> u8 {
    match rustix::fs::fstat(HostStream::new(fd)) {
        Ok(st) => match rustix::fs::FileType::from_raw_mode(st.st_mode) {
            rustix::fs::FileType::CharacterDevice => filetype::CHARACTER_DEVICE,
            rustix::fs::FileType::BlockDevice => filetype::BLOCK_DEVICE,
            rustix::fs::FileType::RegularFile => filetype::REGULAR_FILE,
            rustix::fs::FileType::Directory => filetype::DIRECTORY,
            rustix::fs::FileType::Socket => filetype::SOCKET_STREAM,
            _ => filetype::UNKNOWN,
        },
        Err(_) => filetype::UNKNOWN,
    }
}

/// The WASI state of one instance: arguments, environment, and open descriptors.
///
/// Insert it into an instance with `insert_embed_ctx` before running a WASI
/// program; the hostcalls find it there.
pub struct WasiCtx {
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) fds: BTreeMap<u32, Descriptor>,
    /// Where `random_get` takes its bytes; `None` is the operating system.
    pub(crate) random: Option<RandomSource>,
    /// What the guest's realtime clock reads; `None` is the host's.
    pub(crate) wall_clock: Option<WallClock>,
}

/// A caller-supplied generator that fills each `random_get` buffer.
pub(crate) type RandomSource = Box<dyn FnMut(&mut [u8]) + Send>;

/// A caller-supplied realtime clock, in nanoseconds since the Unix epoch.
pub(crate) type WallClock = Box<dyn FnMut() -> u64 + Send>;

impl WasiCtx {
    /// The lowest free descriptor number.
    pub(crate) fn insert(&mut self, d: Descriptor) -> Result<u32, crate::types::Errno> {
        let mut fd = 0u32;
        for k in self.fds.keys() {
            if *k != fd {
                break;
            }
            fd = fd.checked_add(1).ok_or(crate::types::Errno::MFILE)?;
        }
        self.fds.insert(fd, d);
        Ok(fd)
    }
}
