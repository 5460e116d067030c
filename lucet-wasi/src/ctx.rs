//! The per-instance WASI state and the builder that makes it.

use crate::types::{filetype, rights};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, File};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
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
    pub readdir_cache: Option<Vec<crate::preview1::ReaddirEntry>>,
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
            Kind::File(f) => crate::preview1::file_filetype(f),
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

/// Builds a [`WasiCtx`]. Nothing of the host is visible to the guest unless asked
/// for: no arguments, no environment, no preopened directories, and standard
/// streams that read nothing and discard output.
pub struct WasiCtxBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Input,
    stdout: Output,
    stderr: Output,
    preopens: Vec<(PathBuf, String)>,
    random: Option<RandomSource>,
    wall_clock: Option<WallClock>,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder::new()
    }
}

impl WasiCtxBuilder {
    pub fn new() -> WasiCtxBuilder {
        crate::hostcalls::ensure_registered();
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            stdin: Input::Null,
            stdout: Output::Null,
            stderr: Output::Null,
            preopens: Vec::new(),
            random: None,
            wall_clock: None,
        }
    }

    /// Appends one argument (the first is conventionally the program name).
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Passes the host process's arguments.
    pub fn inherit_args(mut self) -> Self {
        self.args = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        self
    }

    /// Sets one environment variable; setting the same key again replaces it.
    pub fn env(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.as_ref().to_owned()));
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Passes the host process's environment (skipping variables that are not UTF-8).
    pub fn inherit_env(mut self) -> Self {
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                self = self.env(k, v);
            }
        }
        self
    }

    /// Connects the guest's stdin, stdout and stderr to the host's.
    pub fn inherit_stdio(self) -> Self {
        self.inherit_stdin().inherit_stdout().inherit_stderr()
    }

    pub fn inherit_stdin(mut self) -> Self {
        self.stdin = Input::Inherit;
        self
    }

    pub fn inherit_stdout(mut self) -> Self {
        self.stdout = Output::Inherit(1);
        self
    }

    pub fn inherit_stderr(mut self) -> Self {
        self.stderr = Output::Inherit(2);
        self
    }

    /// The guest's stdin reads from `r`.
    pub fn stdin(mut self, r: impl Read + Send + 'static) -> Self {
        self.stdin = Input::Reader(Box::new(r));
        self
    }

    /// The guest's stdout writes to `w` (e.g. an [`OutputCapture`] or a `std::fs::File`).
    pub fn stdout(mut self, w: impl Write + Send + 'static) -> Self {
        self.stdout = Output::Writer(Box::new(w));
        self
    }

    /// The guest's stderr writes to `w`.
    pub fn stderr(mut self, w: impl Write + Send + 'static) -> Self {
        self.stderr = Output::Writer(Box::new(w));
        self
    }

    /// Gives the guest the host directory `host_path`, visible as `guest_path`. The
    /// guest can reach only what lies beneath it.
    pub fn preopened_dir(
        mut self,
        host_path: impl AsRef<Path>,
        guest_path: impl AsRef<str>,
    ) -> Self {
        self.preopens.push((
            host_path.as_ref().to_owned(),
            guest_path.as_ref().to_owned(),
        ));
        self
    }

    /// Makes `random_get` take its bytes from `source` instead of the operating
    /// system: each call of the guest's is one call of `source` with the guest's
    /// whole buffer (never an empty one), which `source` must fill completely.
    ///
    /// This is for reproducible runs and tests, where a guest must see the same
    /// "random" bytes every time (e.g. comparing two runtimes doing the same work).
    /// Never use it to run programs that need real secrets: whatever `source`
    /// produces is what the guest's keys and nonces are made of. Without this call
    /// the bytes come from the operating system's `getrandom`.
    pub fn random_source(mut self, source: impl FnMut(&mut [u8]) + Send + 'static) -> Self {
        self.random = Some(Box::new(source));
        self
    }

    /// Makes the guest's realtime clock read `clock`, which returns nanoseconds since
    /// the Unix epoch: `clock_time_get` on the realtime clock calls it once, and so
    /// does `poll_oneoff` for each subscription to an absolute realtime deadline.
    /// Waiting still happens in host time: a deadline `d` ns after the time `clock`
    /// returned for that subscription is reached `d` ns later. The monotonic and
    /// CPU-time clocks stay the host's.
    ///
    /// Like [`random_source`](Self::random_source), this is for reproducible runs and
    /// tests: programs that mix the time into their state (libsodium seeds its
    /// generator's nonce with it) behave the same every run when `clock` is
    /// deterministic. Without this call the clock is the host's `CLOCK_REALTIME`.
    pub fn wall_clock(mut self, clock: impl FnMut() -> u64 + Send + 'static) -> Self {
        self.wall_clock = Some(Box::new(clock));
        self
    }

    pub fn build(self) -> Result<WasiCtx, Error> {
        let mut args = Vec::with_capacity(self.args.len());
        for (index, arg) in self.args.into_iter().enumerate() {
            if arg.contains('\0') {
                return Err(Error::ArgContainsNul { index, arg });
            }
            let mut b = arg.into_bytes();
            b.push(0);
            args.push(b);
        }
        let mut env = Vec::with_capacity(self.env.len());
        for (k, v) in self.env {
            let reason = if k.is_empty() {
                Some("the name is empty")
            } else if k.contains('=') {
                Some("the name contains '='")
            } else if k.contains('\0') || v.contains('\0') {
                Some("it contains a NUL byte")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::InvalidEnv { key: k, reason });
            }
            env.push(format!("{k}={v}\0").into_bytes());
        }
        let mut ctx = WasiCtx {
            args,
            env,
            fds: BTreeMap::new(),
            random: self.random,
            wall_clock: self.wall_clock,
        };
        let stream = |kind| Descriptor {
            kind,
            rights_base: rights::STREAM_BASE,
            rights_inheriting: 0,
            stream_flags: 0,
        };
        ctx.fds.insert(0, stream(Kind::Stdin(self.stdin)));
        ctx.fds.insert(1, stream(Kind::Stdout(self.stdout)));
        ctx.fds.insert(2, stream(Kind::Stdout(self.stderr)));
        for (n, (host, guest)) in self.preopens.into_iter().enumerate() {
            if guest.is_empty() || guest.contains('\0') {
                let reason = if guest.is_empty() {
                    "it is empty"
                } else {
                    "it contains a NUL byte"
                };
                return Err(Error::InvalidGuestPath {
                    host,
                    guest,
                    reason,
                });
            }
            let dir = Dir::open_ambient_dir(&host, ambient_authority()).map_err(|source| {
                Error::Preopen {
                    host: host.clone(),
                    guest: guest.clone(),
                    source,
                }
            })?;
            ctx.fds.insert(
                3 + n as u32,
                Descriptor {
                    kind: Kind::Dir(DirState {
                        dir,
                        preopen: Some(guest),
                        readdir_cache: None,
                    }),
                    rights_base: rights::DIR_BASE,
                    rights_inheriting: rights::DIR_INHERITING,
                    stream_flags: 0,
                },
            );
        }
        Ok(ctx)
    }
}
