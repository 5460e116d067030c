//! `WasiCtxBuilder`: what of the host a guest may see. Building one also makes sure the
//! WASI hostcalls are registered, so it sits above them.

use crate::ctx::{
    Descriptor, DirState, Error, Input, Kind, Output, RandomSource, WallClock, WasiCtx,
};
use crate::types::rights;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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
