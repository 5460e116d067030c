//! The native functions guests import, and their registration with the runtime.
//!
//! Each `hostcall_wasi_snapshot_preview1_<name>` has the shape the runtime calls
//! (`unsafe extern "C" fn(&Vmctx, params...) -> u32`): it finds the instance's
//! [`WasiCtx`] and memory, runs the operation from `preview1.rs` inside
//! `catch_unwind`, and returns the errno. A panic, or a missing `WasiCtx`, ends the
//! run instead of unwinding into guest code.
//!
//! The tables are registered by a constructor that runs when the program starts, so
//! a host only has to depend on this crate; `WasiCtxBuilder::new()` registers them
//! too, which also keeps the linker from dropping the constructor.

use crate::ctx::WasiCtx;
use crate::mem::GuestMemory;
use crate::preview1::{Sub, SubKind};
use crate::types::*;
use lucet_runtime::{register_hostcalls, HostcallDef, TerminationDetails, ValType, Vmctx};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

/// What [`crate::ExitCode`]-terminated runs carry: the guest called `proc_exit(code)`.
///
/// `InstanceHandle::run` returns `Err(Error::RuntimeTerminated(TerminationDetails::Provided(b)))`
/// where `b.downcast_ref::<ExitCode>()` is `Some(&ExitCode(code))`; see [`crate::exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCode(pub u32);

const NO_CTX: &str = "the guest called a WASI function, but the instance has no WasiCtx; \
build one with lucet_wasi::WasiCtxBuilder and add it with insert_embed_ctx before running";

/// Runs one WASI operation for the calling instance and turns its outcome into an errno.
fn dispatch(
    vmctx: &Vmctx,
    f: impl FnOnce(&mut WasiCtx, &mut GuestMemory) -> WasiResult<()>,
) -> u32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if !vmctx.contains_embed_ctx::<WasiCtx>() {
            return None;
        }
        let mut ctx = vmctx.get_embed_ctx_mut::<WasiCtx>();
        let mut heap = vmctx.heap_mut();
        let mut mem = GuestMemory::new(&mut heap);
        Some(match f(&mut ctx, &mut mem) {
            Ok(()) => 0,
            Err(e) => e.0 as u32,
        })
    }));
    // Every borrow of the instance was dropped inside the closure, so terminating
    // (which abandons this stack) leaves no borrow flag set.
    match outcome {
        Ok(Some(errno)) => errno,
        Ok(None) => vmctx.terminate_with(TerminationDetails::Other(NO_CTX.to_owned())),
        Err(payload) => {
            let msg = lucet_runtime::panic_message(payload.as_ref());
            drop(payload);
            vmctx.terminate_with(TerminationDetails::HostcallPanic(msg))
        }
    }
}

/// Maps a native parameter type to its wasm value type.
trait Abi {
    const TY: ValType;
}
impl Abi for u32 {
    const TY: ValType = ValType::I32;
}
impl Abi for u64 {
    const TY: ValType = ValType::I64;
}
impl Abi for i64 {
    const TY: ValType = ValType::I64;
}

/// Defines the extern functions and a static table describing them, so the
/// registered signatures cannot disagree with the functions.
macro_rules! hostcalls {
    ($table:ident, $module:literal, {
        $( $fname:ident $name:literal ( $($arg:ident : $ty:ty),* ) => |$ctx:ident, $mem:ident| $body:expr ; )*
    }) => {
        $(
            #[no_mangle]
            #[allow(unused_variables)]
            #[doc = concat!("`", $module, "::", $name, "`")]
            pub unsafe extern "C" fn $fname(vmctx: &Vmctx, $($arg: $ty),*) -> u32 {
                dispatch(vmctx, |$ctx, $mem| { let _ = &$mem; $body })
            }
        )*
        pub(crate) static $table: &[HostcallDef] = &[
            $(HostcallDef {
                module: $module,
                name: $name,
                params: &[$(<$ty as Abi>::TY),*],
                results: &[ValType::I32],
                func: $fname as *const u8,
            },)*
        ];
    };
}

fn write_filestat(m: &mut GuestMemory, out: u32, st: Filestat) -> WasiResult<()> {
    m.write(out, &st)
}

/// The two snapshots lay `subscription` out differently (snapshot 0's clock variant
/// starts with an extra `identifier`), but the fields a poll needs have the same
/// names and meaning, so one reader serves both.
trait SubscriptionLayout: zerocopy::FromBytes {
    /// The clock variant stored in the union bytes.
    type Clock: zerocopy::FromBytes;
    fn userdata(&self) -> u64;
    fn tag(&self) -> u8;
    fn union_bytes(&self) -> &[u8];
    /// The clock's `(id, timeout, flags)`.
    fn clock_fields(c: &Self::Clock) -> (u32, u64, u16);
}

macro_rules! subscription_layout {
    ($($sub:ty => $clock:ty),* $(,)?) => {$(
        impl SubscriptionLayout for $sub {
            type Clock = $clock;
            fn userdata(&self) -> u64 {
                self.userdata
            }
            fn tag(&self) -> u8 {
                self.tag
            }
            fn union_bytes(&self) -> &[u8] {
                &self.u
            }
            fn clock_fields(c: &$clock) -> (u32, u64, u16) {
                (c.id, c.timeout, c.flags)
            }
        }
    )*};
}

subscription_layout! {
    Subscription => SubscriptionClock,
    SubscriptionV0 => SubscriptionClockV0,
}

/// Reads `n` subscriptions at `ptr`. The whole array must lie in guest memory
/// (`EFAULT` otherwise) before anything is sized by `n`, so the host never holds more
/// subscriptions than the guest's memory can.
fn read_subs_as<S: SubscriptionLayout>(m: &GuestMemory, ptr: u32, n: u32) -> WasiResult<Vec<Sub>> {
    let size = std::mem::size_of::<S>();
    let range = m.array(ptr, n, size)?;
    let mut subs = Vec::with_capacity(n as usize);
    for at in range.step_by(size) {
        let s: S = m.read(u32::try_from(at).map_err(|_| Errno::FAULT)?)?;
        let u = s.union_bytes();
        let kind = match s.tag() {
            eventtype::CLOCK => {
                let c = <S::Clock as zerocopy::FromBytes>::read_from_prefix(u)
                    .map_err(|_| Errno::FAULT)?
                    .0;
                let (id, timeout, flags) = S::clock_fields(&c);
                SubKind::Clock {
                    id,
                    timeout,
                    abstime: flags & subclockflags::ABSTIME != 0,
                }
            }
            eventtype::FD_READ => SubKind::Read(u32::from_le_bytes([u[0], u[1], u[2], u[3]])),
            eventtype::FD_WRITE => SubKind::Write(u32::from_le_bytes([u[0], u[1], u[2], u[3]])),
            _ => SubKind::Bad,
        };
        subs.push(Sub {
            userdata: s.userdata(),
            kind,
        });
    }
    Ok(subs)
}

fn read_subs(m: &GuestMemory, ptr: u32, n: u32) -> WasiResult<Vec<Sub>> {
    read_subs_as::<Subscription>(m, ptr, n)
}

fn read_subs_v0(m: &GuestMemory, ptr: u32, n: u32) -> WasiResult<Vec<Sub>> {
    read_subs_as::<SubscriptionV0>(m, ptr, n)
}

fn write_events(m: &mut GuestMemory, out: u32, nevents: u32, events: &[Event]) -> WasiResult<()> {
    let size = std::mem::size_of::<Event>() as u32;
    for (i, e) in events.iter().enumerate() {
        let at = (i as u32)
            .checked_mul(size)
            .and_then(|o| o.checked_add(out))
            .ok_or(Errno::FAULT)?;
        m.write(at, e)?;
    }
    m.write(nevents, &(events.len() as u32))
}

/// Snapshot 0 numbers `whence` differently: CUR = 0, END = 1, SET = 2.
fn whence_from_v0(w: u32) -> u8 {
    match w {
        0 => whence::CUR,
        1 => whence::END,
        2 => whence::SET,
        _ => u8::MAX,
    }
}

hostcalls!(PREVIEW1, "wasi_snapshot_preview1", {
    hostcall_wasi_snapshot_preview1_args_get "args_get" (argv: u32, buf: u32) => |c, m| c.args_get(m, argv, buf);
    hostcall_wasi_snapshot_preview1_args_sizes_get "args_sizes_get" (argc: u32, size: u32) => |c, m| c.args_sizes_get(m, argc, size);
    hostcall_wasi_snapshot_preview1_environ_get "environ_get" (env: u32, buf: u32) => |c, m| c.environ_get(m, env, buf);
    hostcall_wasi_snapshot_preview1_environ_sizes_get "environ_sizes_get" (count: u32, size: u32) => |c, m| c.environ_sizes_get(m, count, size);
    hostcall_wasi_snapshot_preview1_clock_res_get "clock_res_get" (id: u32, out: u32) => |c, m| c.clock_res_get(m, id, out);
    hostcall_wasi_snapshot_preview1_clock_time_get "clock_time_get" (id: u32, precision: u64, out: u32) => |c, m| c.clock_time_get(m, id, precision, out);
    hostcall_wasi_snapshot_preview1_fd_advise "fd_advise" (fd: u32, offset: u64, len: u64, advice: u32) => |c, m| c.fd_advise(fd, offset, len, advice);
    hostcall_wasi_snapshot_preview1_fd_allocate "fd_allocate" (fd: u32, offset: u64, len: u64) => |c, m| c.fd_allocate(fd, offset, len);
    hostcall_wasi_snapshot_preview1_fd_close "fd_close" (fd: u32) => |c, m| c.fd_close(fd);
    hostcall_wasi_snapshot_preview1_fd_datasync "fd_datasync" (fd: u32) => |c, m| c.fd_datasync(fd);
    hostcall_wasi_snapshot_preview1_fd_fdstat_get "fd_fdstat_get" (fd: u32, out: u32) => |c, m| c.fd_fdstat_get(m, fd, out);
    hostcall_wasi_snapshot_preview1_fd_fdstat_set_flags "fd_fdstat_set_flags" (fd: u32, flags: u32) => |c, m| {
        if flags > u16::MAX as u32 { Err(Errno::INVAL) } else { c.fd_fdstat_set_flags(fd, flags as u16) }
    };
    hostcall_wasi_snapshot_preview1_fd_fdstat_set_rights "fd_fdstat_set_rights" (fd: u32, base: u64, inheriting: u64) => |c, m| c.fd_fdstat_set_rights(fd, base, inheriting);
    hostcall_wasi_snapshot_preview1_fd_filestat_get "fd_filestat_get" (fd: u32, out: u32) => |c, m| {
        let st = c.fd_filestat_get(fd)?;
        write_filestat(m, out, st)
    };
    hostcall_wasi_snapshot_preview1_fd_filestat_set_size "fd_filestat_set_size" (fd: u32, size: u64) => |c, m| c.fd_filestat_set_size(fd, size);
    hostcall_wasi_snapshot_preview1_fd_filestat_set_times "fd_filestat_set_times" (fd: u32, atim: u64, mtim: u64, fst: u32) => |c, m| {
        if fst > u16::MAX as u32 { Err(Errno::INVAL) } else { c.fd_filestat_set_times(fd, atim, mtim, fst as u16) }
    };
    hostcall_wasi_snapshot_preview1_fd_pread "fd_pread" (fd: u32, iovs: u32, n: u32, offset: u64, out: u32) => |c, m| c.fd_pread(m, fd, iovs, n, offset, out);
    hostcall_wasi_snapshot_preview1_fd_prestat_get "fd_prestat_get" (fd: u32, out: u32) => |c, m| c.fd_prestat_get(m, fd, out);
    hostcall_wasi_snapshot_preview1_fd_prestat_dir_name "fd_prestat_dir_name" (fd: u32, path: u32, len: u32) => |c, m| c.fd_prestat_dir_name(m, fd, path, len);
    hostcall_wasi_snapshot_preview1_fd_pwrite "fd_pwrite" (fd: u32, iovs: u32, n: u32, offset: u64, out: u32) => |c, m| c.fd_pwrite(m, fd, iovs, n, offset, out);
    hostcall_wasi_snapshot_preview1_fd_read "fd_read" (fd: u32, iovs: u32, n: u32, out: u32) => |c, m| c.fd_read(m, fd, iovs, n, out);
    hostcall_wasi_snapshot_preview1_fd_readdir "fd_readdir" (fd: u32, buf: u32, len: u32, cookie: u64, out: u32) => |c, m| c.fd_readdir(m, fd, buf, len, cookie, out);
    hostcall_wasi_snapshot_preview1_fd_renumber "fd_renumber" (from: u32, to: u32) => |c, m| c.fd_renumber(from, to);
    hostcall_wasi_snapshot_preview1_fd_seek "fd_seek" (fd: u32, offset: i64, whence: u32, out: u32) => |c, m| {
        let w = u8::try_from(whence).map_err(|_| Errno::INVAL)?;
        let pos = c.fd_seek(fd, offset, w)?;
        m.write(out, &pos)
    };
    hostcall_wasi_snapshot_preview1_fd_sync "fd_sync" (fd: u32) => |c, m| c.fd_sync(fd);
    hostcall_wasi_snapshot_preview1_fd_tell "fd_tell" (fd: u32, out: u32) => |c, m| {
        let pos = c.fd_tell(fd)?;
        m.write(out, &pos)
    };
    hostcall_wasi_snapshot_preview1_fd_write "fd_write" (fd: u32, iovs: u32, n: u32, out: u32) => |c, m| c.fd_write(m, fd, iovs, n, out);
    hostcall_wasi_snapshot_preview1_path_create_directory "path_create_directory" (fd: u32, path: u32, len: u32) => |c, m| c.path_create_directory(m, fd, path, len);
    hostcall_wasi_snapshot_preview1_path_filestat_get "path_filestat_get" (fd: u32, flags: u32, path: u32, len: u32, out: u32) => |c, m| {
        let st = c.path_filestat_get(m, fd, flags, path, len)?;
        write_filestat(m, out, st)
    };
    hostcall_wasi_snapshot_preview1_path_filestat_set_times "path_filestat_set_times" (fd: u32, flags: u32, path: u32, len: u32, atim: u64, mtim: u64, fst: u32) => |c, m| {
        if fst > u16::MAX as u32 { Err(Errno::INVAL) } else { c.path_filestat_set_times(m, fd, flags, path, len, atim, mtim, fst as u16) }
    };
    hostcall_wasi_snapshot_preview1_path_link "path_link" (old_fd: u32, old_flags: u32, old_path: u32, old_len: u32, new_fd: u32, new_path: u32, new_len: u32) => |c, m| c.path_link(m, old_fd, old_flags, old_path, old_len, new_fd, new_path, new_len);
    hostcall_wasi_snapshot_preview1_path_open "path_open" (fd: u32, dirflags: u32, path: u32, len: u32, oflags: u32, base: u64, inheriting: u64, fdflags: u32, out: u32) => |c, m| {
        if oflags > u16::MAX as u32 || fdflags > u16::MAX as u32 {
            return Err(Errno::INVAL);
        }
        let new = c.path_open(m, fd, dirflags, path, len, oflags as u16, base, inheriting, fdflags as u16)?;
        if let Err(e) = m.write(out, &new) {
            let _ = c.fd_close(new);
            return Err(e);
        }
        Ok(())
    };
    hostcall_wasi_snapshot_preview1_path_readlink "path_readlink" (fd: u32, path: u32, len: u32, buf: u32, buf_len: u32, out: u32) => |c, m| c.path_readlink(m, fd, path, len, buf, buf_len, out);
    hostcall_wasi_snapshot_preview1_path_remove_directory "path_remove_directory" (fd: u32, path: u32, len: u32) => |c, m| c.path_remove_directory(m, fd, path, len);
    hostcall_wasi_snapshot_preview1_path_rename "path_rename" (fd: u32, old_path: u32, old_len: u32, new_fd: u32, new_path: u32, new_len: u32) => |c, m| c.path_rename(m, fd, old_path, old_len, new_fd, new_path, new_len);
    hostcall_wasi_snapshot_preview1_path_symlink "path_symlink" (old_path: u32, old_len: u32, fd: u32, new_path: u32, new_len: u32) => |c, m| c.path_symlink(m, old_path, old_len, fd, new_path, new_len);
    hostcall_wasi_snapshot_preview1_path_unlink_file "path_unlink_file" (fd: u32, path: u32, len: u32) => |c, m| c.path_unlink_file(m, fd, path, len);
    hostcall_wasi_snapshot_preview1_poll_oneoff "poll_oneoff" (subs: u32, events: u32, n: u32, nevents: u32) => |c, m| {
        let s = read_subs(m, subs, n)?;
        let ev = c.poll_oneoff(&s)?;
        write_events(m, events, nevents, &ev)
    };
    hostcall_wasi_snapshot_preview1_proc_raise "proc_raise" (sig: u32) => |c, m| { let _ = sig; Err(Errno::NOSYS) };
    hostcall_wasi_snapshot_preview1_sched_yield "sched_yield" () => |c, m| { std::thread::yield_now(); Ok(()) };
    hostcall_wasi_snapshot_preview1_random_get "random_get" (buf: u32, len: u32) => |c, m| c.random_get(m, buf, len);
    hostcall_wasi_snapshot_preview1_sock_accept "sock_accept" (fd: u32, flags: u32, out: u32) => |c, m| c.not_a_socket(fd);
    hostcall_wasi_snapshot_preview1_sock_recv "sock_recv" (fd: u32, iovs: u32, n: u32, flags: u32, out_len: u32, out_flags: u32) => |c, m| c.not_a_socket(fd);
    hostcall_wasi_snapshot_preview1_sock_send "sock_send" (fd: u32, iovs: u32, n: u32, flags: u32, out: u32) => |c, m| c.not_a_socket(fd);
    hostcall_wasi_snapshot_preview1_sock_shutdown "sock_shutdown" (fd: u32, how: u32) => |c, m| c.not_a_socket(fd);
});

// The calls whose layout or numbering differs in snapshot 0 (`wasi_unstable`).
hostcalls!(UNSTABLE_ONLY, "wasi_unstable", {
    hostcall_wasi_unstable_fd_seek "fd_seek" (fd: u32, offset: i64, whence: u32, out: u32) => |c, m| {
        let pos = c.fd_seek(fd, offset, whence_from_v0(whence))?;
        m.write(out, &pos)
    };
    hostcall_wasi_unstable_fd_filestat_get "fd_filestat_get" (fd: u32, out: u32) => |c, m| {
        let st = c.fd_filestat_get(fd)?;
        m.write(out, &FilestatV0::from(st))
    };
    hostcall_wasi_unstable_path_filestat_get "path_filestat_get" (fd: u32, flags: u32, path: u32, len: u32, out: u32) => |c, m| {
        let st = c.path_filestat_get(m, fd, flags, path, len)?;
        m.write(out, &FilestatV0::from(st))
    };
    hostcall_wasi_unstable_poll_oneoff "poll_oneoff" (subs: u32, events: u32, n: u32, nevents: u32) => |c, m| {
        let s = read_subs_v0(m, subs, n)?;
        let ev = c.poll_oneoff(&s)?;
        write_events(m, events, nevents, &ev)
    };
});

/// `proc_exit(code)`: ends the run with [`ExitCode`]`(code)`.
#[no_mangle]
pub unsafe extern "C" fn hostcall_wasi_snapshot_preview1_proc_exit(vmctx: &Vmctx, code: u32) {
    vmctx.terminate(ExitCode(code))
}

static PROC_EXIT: &[HostcallDef] = &[
    HostcallDef {
        module: "wasi_snapshot_preview1",
        name: "proc_exit",
        params: &[ValType::I32],
        results: &[],
        func: hostcall_wasi_snapshot_preview1_proc_exit as *const u8,
    },
    HostcallDef {
        module: "wasi_unstable",
        name: "proc_exit",
        params: &[ValType::I32],
        results: &[],
        func: hostcall_wasi_snapshot_preview1_proc_exit as *const u8,
    },
];

/// The `wasi_unstable` table: every preview1 call whose ABI did not change, plus
/// the snapshot-0 versions of those that did. Built once and kept for the process.
fn unstable_table() -> &'static [HostcallDef] {
    static TABLE: OnceLock<Vec<HostcallDef>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<HostcallDef> = PREVIEW1
            .iter()
            .filter(|d| d.name != "sock_accept" && !UNSTABLE_ONLY.iter().any(|u| u.name == d.name))
            .map(|d| HostcallDef {
                module: "wasi_unstable",
                ..*d
            })
            .collect();
        t.extend_from_slice(UNSTABLE_ONLY);
        t
    })
}

/// Every hostcall definition this crate provides (both snapshots).
pub fn wasi_hostcalls() -> Vec<HostcallDef> {
    let mut v = PREVIEW1.to_vec();
    v.extend_from_slice(PROC_EXIT);
    v.extend_from_slice(unstable_table());
    v
}

pub(crate) fn ensure_registered() {
    static ONCE: Once = Once::new();
    // Referencing the constructor keeps the object that holds it in the link.
    std::hint::black_box(&REGISTER_AT_LOAD);
    ONCE.call_once(|| {
        register_hostcalls(PREVIEW1);
        register_hostcalls(PROC_EXIT);
        register_hostcalls(unstable_table());
    });
}

extern "C" fn register_at_load() {
    // A panic must not unwind out of a constructor; registration only allocates,
    // so this is belt and braces.
    let _ = catch_unwind(ensure_registered);
}

#[used]
#[link_section = ".init_array"]
static REGISTER_AT_LOAD: extern "C" fn() = register_at_load;
