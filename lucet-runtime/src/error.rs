//! Everything that can go wrong when loading or running a module.

use lucet_module::TrapCode;
use std::any::Any;
use std::fmt;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not a module compiled by lucetc, or it cannot be read or loaded.
    #[error("cannot load module {path}: {reason}")]
    InvalidModule { path: String, reason: String },

    /// The module was compiled by a lucetc whose `.so` format differs from this runtime's.
    #[error("module {path} has format version {found} (built by lucetc {compiler}), but this lucet-runtime expects format version {expected}; recompile it with lucetc {runtime_version}")]
    VersionMismatch { path: String, found: u32, expected: u32, compiler: String, runtime_version: &'static str },

    /// The module uses CPU features this machine lacks.
    #[error("module {path} was compiled for CPU features this host lacks ({missing}); recompile it with `lucetc --target-cpu baseline`")]
    CpuFeatures { path: String, missing: String },

    /// An import the module needs is not provided by the host.
    #[error("{0}")]
    UnresolvedImport(String),

    /// A named export does not exist (or is not a function).
    #[error("{0}")]
    SymbolNotFound(String),

    /// The arguments do not match the function's signature.
    #[error("{0}")]
    InvalidArgument(String),

    /// A region could not be created or has no free slot.
    #[error("region error: {0}")]
    Region(String),

    /// The instance does not fit the region's limits.
    #[error("{0}")]
    LimitsExceeded(String),

    /// The guest faulted; see the details.
    #[error("{0}")]
    RuntimeFault(FaultDetails),

    /// The guest was stopped: by a hostcall, by a kill switch, or by a timeout.
    #[error("guest terminated: {0}")]
    RuntimeTerminated(TerminationDetails),

    /// A WebAssembly exception that no handler caught ended the run. The instance
    /// can run again, as after a trap.
    #[error("uncaught exception of {tag}")]
    UncaughtException { tag: String },

    /// Instantiation failed in a way the spec calls a trap (e.g. a segment out of bounds).
    #[error("instantiation failed: {0}")]
    InstantiationTrap(FaultDetails),

    /// The instance is in a state where the operation is not allowed (e.g. `run` while
    /// yielded, `resume` when not yielded).
    #[error("the instance has not returned: it yielded and must be resumed or reset")]
    InstanceNotReturned,

    #[error("the instance is not yielded, so it cannot be resumed")]
    InstanceNotYielded,

    /// The instance faulted or was terminated earlier and must be `reset()` before it runs again.
    #[error("the instance must be reset() before it can run again: {0}")]
    InstanceNeedsReset(String),

    /// `DlModule::load_verified` refused the module: its signature is missing, malformed,
    /// made with another key, or does not match the file's bytes.
    #[error("refusing to load module {path}: {reason}")]
    SignatureRejected { path: String, reason: String },

    /// A public key for verifying modules could not be read or is not a minisign key.
    #[error("cannot use the public key {origin}: {reason}")]
    InvalidPublicKey { origin: String, reason: String },

    #[error("internal error: {0}")]
    Internal(String),

    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where and why the guest faulted.
#[derive(Debug, Clone)]
pub struct FaultDetails {
    pub trap_code: TrapCode,
    /// Name of the guest function that faulted, when known.
    pub function: Option<String>,
    /// Offset of the faulting instruction in the wasm binary, when known.
    pub wasm_offset: Option<u32>,
    /// Program counter of the fault.
    pub rip: usize,
    /// The faulting address, for memory faults.
    pub fault_addr: Option<usize>,
}

impl fmt::Display for FaultDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guest trapped: {} ({})", self.trap_code, self.trap_code.description())?;
        if let Some(func) = &self.function {
            write!(f, " in function `{func}`")?;
        }
        if let Some(off) = self.wasm_offset {
            write!(f, " at wasm offset {off:#x}")?;
        }
        Ok(())
    }
}

/// Why a run was terminated.
pub enum TerminationDetails {
    /// A hostcall ended the run with a value of its own (e.g. a WASI exit code).
    /// `Sync` so that [`Error`] can cross threads (`anyhow`, thread results).
    Provided(Box<dyn Any + Send + Sync>),
    /// A `KillSwitch` stopped the guest.
    Remote,
    /// The run exceeded its timeout.
    Timeout,
    /// A hostcall panicked; the message is included.
    HostcallPanic(String),
    /// Something else went wrong inside a hostcall.
    Other(String),
}

impl TerminationDetails {
    /// The value a hostcall terminated with, if any.
    pub fn provided_details(&self) -> Option<&dyn Any> {
        match self {
            TerminationDetails::Provided(b) => Some(b.as_ref()),
            _ => None,
        }
    }
}

impl fmt::Debug for TerminationDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for TerminationDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminationDetails::Provided(_) => f.write_str("terminated by a hostcall"),
            TerminationDetails::Remote => f.write_str("terminated by a kill switch"),
            TerminationDetails::Timeout => f.write_str("timed out"),
            TerminationDetails::HostcallPanic(m) => write!(f, "a hostcall panicked: {m}"),
            TerminationDetails::Other(m) => f.write_str(m),
        }
    }
}

/// The message of a panic payload: the `&str` or `String` that `panic!` was given, or
/// a placeholder for any other payload. The one place that turns a caught panic (in a
/// hostcall, a host closure or a host program) into text.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the panic payload is not a string".to_string()
    }
}
