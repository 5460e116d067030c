//! Hostile counts, lengths and pointers passed to WASI calls: each gets a WASI errno,
//! never a host abort, and the host never allocates more than the guest's own memory
//! could hold.
//!
//! The guest (`hostile.wat`) has one 64 KiB page, so every host buffer a call makes
//! must stay far below [`LIMIT`]. Before the counts were checked, `poll_oneoff` with
//! `nsubscriptions = 0xffffffff` asked for about 100 GB and aborted the process, and
//! repeated iovecs made 16 MiB transfer buffers.

mod common;

#[path = "../../lucet-runtime/tests/common/alloc_watch.rs"]
mod alloc_watch;

use alloc_watch::{measure, Watch};
use lucet_runtime::{InstanceHandle, Val};
use lucet_wasi::types::Errno;
use lucet_wasi::{OutputCapture, WasiCtxBuilder};

#[global_allocator]
static ALLOC: Watch = Watch;

/// Most bytes any one call may allocate, alive at once, for a 64 KiB guest.
const LIMIT: usize = 1 << 20;
const MEM: u32 = 65536;
const PREOPEN: i32 = 3;

const FAULT: i32 = Errno::FAULT.0 as i32;
const INVAL: i32 = Errno::INVAL.0 as i32;

struct Guest {
    inst: InstanceHandle,
    out: OutputCapture,
    dir: tempfile::TempDir,
}

fn guest() -> Guest {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), b"0123456789").unwrap();
    std::os::unix::fs::symlink("a-link-target-of-some-length", dir.path().join("link")).unwrap();
    let out = OutputCapture::new();
    let ctx = WasiCtxBuilder::new()
        .args(["prog", "first argument", "second argument"])
        .env("KEY", "value")
        .stdin(std::io::repeat(b'x'))
        .stdout(out.clone())
        .preopened_dir(dir.path(), "/sandbox")
        .build()
        .unwrap();
    let inst = common::instance("hostile.wat", ctx);
    Guest { inst, out, dir }
}

fn i(v: u32) -> Val {
    Val::I32(v as i32)
}

impl Guest {
    /// Calls an export with the allocation watch on, and checks the bound.
    fn call(&mut self, name: &str, args: &[Val]) -> i32 {
        let (r, usage) = measure(|| common::call(&mut self.inst, name, args));
        assert!(
            usage.largest < LIMIT && usage.peak_live < LIMIT as isize,
            "{name}{args:?} allocated {usage:?} on the host for a 64 KiB guest"
        );
        r
    }

    fn store_u32(&mut self, at: u32, v: u32) {
        let at = at as usize;
        self.inst.heap_mut()[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn load_u32(&self, at: u32) -> u32 {
        let at = at as usize;
        u32::from_le_bytes(self.inst.heap()[at..at + 4].try_into().unwrap())
    }

    /// Writes `n` iovecs `(buf, len)` at `at`.
    fn iovecs(&mut self, at: u32, n: u32, buf: u32, len: u32) {
        for k in 0..n {
            self.store_u32(at + 8 * k, buf);
            self.store_u32(at + 8 * k + 4, len);
        }
    }

    /// Opens `file` in the preopened directory and returns its descriptor.
    fn open_file(&mut self) -> i32 {
        self.inst.heap_mut()[1024..1028].copy_from_slice(b"file");
        assert_eq!(
            self.call("path_open", &[PREOPEN.into(), i(1024), i(4), i(0)]),
            0
        );
        self.load_u32(0) as i32
    }
}

#[test]
fn poll_oneoff_with_a_huge_count_is_efault_without_allocating() {
    let mut g = guest();
    for f in ["poll_oneoff", "poll_oneoff_v0"] {
        let size = if f == "poll_oneoff" { 48 } else { 56 };
        for (subs, n) in [
            (0, u32::MAX),
            (0, 0x8000_0000),
            (0, 0x1000_0000),
            // One subscription more than the memory holds.
            (0, MEM / size + 1),
            // A subscription that starts inside memory and ends past it.
            (MEM - size + 1, 1),
            (u32::MAX, 1),
        ] {
            assert_eq!(
                g.call(f, &[i(subs), i(0), i(n), i(MEM - 4)]),
                FAULT,
                "{f}({subs:#x}, n = {n:#x})"
            );
        }
        assert_eq!(
            g.call(f, &[i(0), i(0), i(0), i(MEM - 4)]),
            INVAL,
            "{f} with no subscriptions"
        );
    }
    // A count the memory does hold still works: one relative clock of 0 ns at 4096
    // (tag 0 = clock, clock id 1 = monotonic), its event at 8192.
    g.inst.heap_mut()[4096..4096 + 48].fill(0);
    g.store_u32(4096 + 16, 1);
    assert_eq!(
        g.call("poll_oneoff", &[i(4096), i(8192), i(1), i(MEM - 4)]),
        0
    );
    assert_eq!(g.load_u32(MEM - 4), 1);
}

#[test]
fn iovec_arrays_must_lie_in_memory() {
    let mut g = guest();
    for f in ["fd_write", "fd_write_v0"] {
        assert_eq!(
            g.call(f, &[i(1), i(0), i(u32::MAX), i(MEM - 4)]),
            FAULT,
            "{f} with 2^32-1 iovecs"
        );
        assert_eq!(
            g.call(f, &[i(1), i(0), i(MEM / 8 + 1), i(MEM - 4)]),
            FAULT,
            "{f} one iovec past memory"
        );
        assert_eq!(
            g.call(f, &[i(1), i(MEM - 4), i(1), i(MEM - 4)]),
            FAULT,
            "{f} iovec at the end of memory"
        );
    }
    assert_eq!(
        g.call("fd_read", &[i(0), i(0), i(u32::MAX), i(MEM - 4)]),
        FAULT
    );
    let fd = g.open_file();
    assert_eq!(
        g.call(
            "fd_pread",
            &[fd.into(), i(0), i(u32::MAX), Val::I64(0), i(MEM - 4)]
        ),
        FAULT
    );
    assert_eq!(
        g.call(
            "fd_pwrite",
            &[fd.into(), i(0), i(u32::MAX), Val::I64(0), i(MEM - 4)]
        ),
        FAULT
    );
}

#[test]
fn iovecs_that_leave_memory_are_efault() {
    let mut g = guest();
    let fd = g.open_file();
    for (buf, len) in [
        (MEM - 10, 11),
        (65000, 1000),
        (u32::MAX, u32::MAX),
        (u32::MAX, 1),
        (MEM + 1, 0),
        (1, u32::MAX),
    ] {
        g.iovecs(256, 1, buf, len);
        let what = format!("iovec ({buf:#x}, {len:#x})");
        assert_eq!(
            g.call("fd_write", &[i(1), i(256), i(1), i(MEM - 4)]),
            FAULT,
            "fd_write {what}"
        );
        assert_eq!(
            g.call("fd_read", &[i(0), i(256), i(1), i(MEM - 4)]),
            FAULT,
            "fd_read {what}"
        );
        assert_eq!(
            g.call(
                "fd_pread",
                &[fd.into(), i(256), i(1), Val::I64(0), i(MEM - 4)]
            ),
            FAULT,
            "fd_pread {what}"
        );
        assert_eq!(
            g.call(
                "fd_pwrite",
                &[fd.into(), i(256), i(1), Val::I64(0), i(MEM - 4)]
            ),
            FAULT,
            "fd_pwrite {what}"
        );
    }
    assert!(g.out.contents().is_empty());
}

/// The same 64 KiB named 1024 times over sums to 64 MiB; the host moves at most what
/// the memory holds, as a short read or write.
#[test]
fn repeated_iovecs_are_bounded_by_memory() {
    let mut g = guest();
    g.iovecs(0, 1024, 0, MEM);
    assert_eq!(g.call("fd_write", &[i(1), i(0), i(1024), i(MEM - 4)]), 0);
    let wrote = g.load_u32(MEM - 4);
    assert!(wrote > 0 && wrote <= MEM, "fd_write moved {wrote} bytes");
    assert_eq!(g.out.contents().len(), wrote as usize);

    g.iovecs(0, 1024, 0, MEM);
    assert_eq!(g.call("fd_read", &[i(0), i(0), i(1024), i(MEM - 4)]), 0);
    let read = g.load_u32(MEM - 4);
    assert!(read > 0 && read <= MEM, "fd_read moved {read} bytes");

    let fd = g.open_file();
    g.iovecs(8, 1024, 0, MEM);
    assert_eq!(
        g.call(
            "fd_pwrite",
            &[fd.into(), i(8), i(1024), Val::I64(0), i(MEM - 4)]
        ),
        0
    );
    let wrote = g.load_u32(MEM - 4);
    assert!(wrote > 0 && wrote <= MEM, "fd_pwrite moved {wrote} bytes");
    g.iovecs(8, 1024, 0, MEM);
    assert_eq!(
        g.call(
            "fd_pread",
            &[fd.into(), i(8), i(1024), Val::I64(0), i(MEM - 4)]
        ),
        0
    );
    let read = g.load_u32(MEM - 4);
    assert!(read > 0 && read <= MEM, "fd_pread moved {read} bytes");
}

#[test]
fn argument_and_environment_buffers_must_fit() {
    let mut g = guest();
    for f in ["args_get", "environ_get"] {
        for (ptrs, buf) in [
            (MEM - 3, 0),
            (u32::MAX, 0),
            (0, MEM - 3),
            (0, u32::MAX),
            (MEM, MEM),
        ] {
            assert_eq!(
                g.call(f, &[i(ptrs), i(buf)]),
                FAULT,
                "{f}({ptrs:#x}, {buf:#x})"
            );
        }
        assert_eq!(g.call(f, &[i(0), i(1024)]), 0, "{f} with room");
    }
}

#[test]
fn path_lengths_must_fit() {
    let mut g = guest();
    g.inst.heap_mut()[1024..1028].copy_from_slice(b"file");
    for (p, l) in [
        (1024, u32::MAX),
        (MEM - 2, 4),
        (u32::MAX, 1),
        (MEM + 1, 0),
        (1024, MEM),
    ] {
        let what = format!("path ({p:#x}, {l:#x})");
        assert_eq!(
            g.call("path_open", &[PREOPEN.into(), i(p), i(l), i(0)]),
            FAULT,
            "path_open {what}"
        );
        assert_eq!(
            g.call(
                "path_filestat_get",
                &[PREOPEN.into(), i(0), i(p), i(l), i(0)]
            ),
            FAULT,
            "path_filestat_get {what}"
        );
        assert_eq!(
            g.call("path_create_directory", &[PREOPEN.into(), i(p), i(l)]),
            FAULT,
            "mkdir {what}"
        );
        assert_eq!(
            g.call(
                "path_readlink",
                &[PREOPEN.into(), i(p), i(l), i(0), i(64), i(MEM - 4)]
            ),
            FAULT,
            "path_readlink {what}"
        );
    }
    // The result buffers too.
    assert_eq!(
        g.call(
            "path_filestat_get",
            &[PREOPEN.into(), i(0), i(1024), i(4), i(MEM - 8)]
        ),
        FAULT
    );
    g.inst.heap_mut()[1024..1028].copy_from_slice(b"link");
    let target = b"a-link-target-of-some-length";
    assert_eq!(
        g.call(
            "path_readlink",
            &[
                PREOPEN.into(),
                i(1024),
                i(4),
                i(MEM - 10),
                i(u32::MAX),
                i(MEM - 4)
            ]
        ),
        FAULT
    );
    // A length larger than memory with a buffer that holds the answer is fine.
    assert_eq!(
        g.call(
            "path_readlink",
            &[
                PREOPEN.into(),
                i(1024),
                i(4),
                i(2048),
                i(u32::MAX),
                i(MEM - 4)
            ]
        ),
        0
    );
    assert_eq!(g.load_u32(MEM - 4) as usize, target.len());
    assert_eq!(&g.inst.heap()[2048..2048 + target.len()], target);
}

#[test]
fn readdir_builds_no_more_than_memory_holds() {
    let mut g = guest();
    // Enough entries that their dirents (24 bytes + name) overflow the 64 KiB page.
    for k in 0..1200 {
        std::fs::write(
            g.dir
                .path()
                .join(format!("entry-with-a-fairly-long-name-{k:05}")),
            b"",
        )
        .unwrap();
    }
    for (buf, len) in [
        (0, u32::MAX),
        (MEM - 10, u32::MAX),
        (MEM + 1, 1),
        (u32::MAX, 16),
    ] {
        assert_eq!(
            g.call(
                "fd_readdir",
                &[PREOPEN.into(), i(buf), i(len), Val::I64(0), i(MEM - 4)]
            ),
            FAULT,
            "fd_readdir({buf:#x}, {len:#x})"
        );
    }
    // A buffer that fits is filled, and the count says so.
    assert_eq!(
        g.call(
            "fd_readdir",
            &[PREOPEN.into(), i(0), i(4096), Val::I64(0), i(MEM - 4)]
        ),
        0
    );
    assert_eq!(g.load_u32(MEM - 4), 4096);
}

#[test]
fn random_get_length_must_fit() {
    let mut g = guest();
    for (buf, len) in [(0, u32::MAX), (MEM - 1, 2), (u32::MAX, 1), (1, MEM)] {
        assert_eq!(
            g.call("random_get", &[i(buf), i(len)]),
            FAULT,
            "random_get({buf:#x}, {len:#x})"
        );
    }
    assert_eq!(g.call("random_get", &[i(0), i(MEM)]), 0);
}

#[test]
fn prestat_name_buffer_must_fit() {
    let mut g = guest();
    assert_eq!(
        g.call(
            "fd_prestat_dir_name",
            &[PREOPEN.into(), i(MEM - 2), i(u32::MAX)]
        ),
        FAULT
    );
    assert_eq!(
        g.call(
            "fd_prestat_dir_name",
            &[PREOPEN.into(), i(u32::MAX), i(u32::MAX)]
        ),
        FAULT
    );
    assert_eq!(
        g.call("fd_prestat_dir_name", &[PREOPEN.into(), i(0), i(2)]),
        Errno::NAMETOOLONG.0 as i32
    );
    assert_eq!(
        g.call("fd_prestat_dir_name", &[PREOPEN.into(), i(0), i(u32::MAX)]),
        0
    );
    assert_eq!(&g.inst.heap()[..8], b"/sandbox");
}

#[test]
fn socket_calls_never_look_at_their_buffers() {
    let mut g = guest();
    let notsock = Errno::NOTSOCK.0 as i32;
    let badf = Errno::BADF.0 as i32;
    let huge = i(u32::MAX);
    assert_eq!(
        g.call("sock_recv", &[PREOPEN.into(), huge, huge, i(0), huge, huge]),
        notsock
    );
    assert_eq!(
        g.call("sock_send", &[PREOPEN.into(), huge, huge, i(0), huge]),
        notsock
    );
    assert_eq!(
        g.call("sock_recv", &[i(99), huge, huge, i(0), huge, huge]),
        badf
    );
    assert_eq!(g.call("sock_send", &[i(99), huge, huge, i(0), huge]), badf);
}
