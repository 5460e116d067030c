//! Every WASI hostcall with arbitrary arguments against a small memory.
//!
//! A guest of one fixed 64 KiB page imports every hostcall lucet-wasi registers (both
//! snapshots) and exports one function per import that passes its parameters
//! straight through. A case fills the memory with what hostcalls read (iovec arrays,
//! paths, subscriptions, random bytes), picks a hostcall and arguments (descriptors,
//! pointers at the planted data, at the edges of memory and past it, lengths from 0
//! to 2^32 - 1), and calls it through the runtime, as a guest would. It passes when
//! the call returns an errno or ends the run the documented way (`proc_exit`), with
//! no panic and no single allocation above [`ALLOCATION_LIMIT`].
//!
//! Each case gets a fresh `WasiCtx` whose only preopened directory is a scratch
//! directory holding a file and a subdirectory, emptied after every case. The file
//! size limit of the process is lowered so that huge writes and `fd_allocate` fail
//! instead of filling the disk.

use crate::alloc_count;
use crate::seed::{self, Salt, SplitMix64};
use crate::Verdict;
use lucet_runtime::{DlModule, Error, InstanceHandle, Limits, MmapRegion, Region, Val, ValType};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

/// The most one hostcall may allocate at once.
pub const ALLOCATION_LIMIT: usize = 4 << 20;
const MEMORY: usize = 64 << 10;
const FILE_SIZE_LIMIT: u64 = 64 << 20;

/// Names and signatures of the imports, in the order the guest exports them.
fn hostcalls() -> Vec<lucet_runtime::HostcallDef> {
    lucet_wasi::wasi_hostcalls()
}

fn wat_type(t: ValType) -> &'static str {
    match t {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        _ => "v128",
    }
}

/// The guest: one pass-through export `c<i>` per hostcall.
fn guest_wat() -> String {
    let mut imports = String::new();
    let mut funcs = String::new();
    for (i, h) in hostcalls().iter().enumerate() {
        let params: Vec<&str> = h.params.iter().map(|&t| wat_type(t)).collect();
        let results: Vec<&str> = h.results.iter().map(|&t| wat_type(t)).collect();
        let mut sig = String::new();
        if !params.is_empty() {
            let _ = write!(sig, "(param {})", params.join(" "));
        }
        if !results.is_empty() {
            let _ = write!(sig, " (result {})", results.join(" "));
        }
        let _ = writeln!(
            imports,
            r#"  (import "{}" "{}" (func $h{i} {sig}))"#,
            h.module, h.name
        );
        let gets: String = (0..params.len())
            .map(|p| format!(" local.get {p}"))
            .collect();
        let _ = writeln!(funcs, r#"  (func (export "c{i}") {sig}{gets} call $h{i})"#);
    }
    format!("(module\n{imports}  (memory (export \"memory\") 1 1)\n{funcs})")
}

pub struct Worker {
    /// `(export, module, name, params)` of every hostcall not skipped.
    calls: Vec<(String, &'static str, &'static str, Vec<ValType>)>,
    instance: InstanceHandle,
    _module: Arc<DlModule>,
    _region: Arc<MmapRegion>,
    scratch: tempfile::TempDir,
}

impl Worker {
    /// `skip`: hostcall names to leave out.
    pub fn new(skip: &[String]) -> Worker {
        crate::crash_report::limit_file_size(FILE_SIZE_LIMIT);
        let build = tempfile::tempdir().expect("creating a build directory");
        let so = build.path().join("wasi-guest.so");
        lucetc::Lucetc::try_from_bytes(guest_wat().as_bytes())
            .and_then(|c| c.shared_object_file(&so))
            .expect("compiling the WASI guest");
        // Registers the hostcalls (the builder does) before the module resolves them.
        let _ = lucet_wasi::WasiCtxBuilder::new();
        let module = DlModule::load(&so).expect("loading the WASI guest");
        let limits = Limits::default()
            .with_heap_memory_size(MEMORY)
            .with_heap_address_space_size(8 << 30);
        let region = MmapRegion::create(1, &limits).expect("creating a region");
        let instance = region
            .new_instance(module.clone())
            .expect("instantiating the WASI guest");
        let calls = hostcalls()
            .iter()
            .enumerate()
            .filter(|(_, h)| !skip.iter().any(|s| s == h.name))
            .map(|(i, h)| (format!("c{i}"), h.module, h.name, h.params.to_vec()))
            .collect();
        let scratch = tempfile::Builder::new()
            .prefix("lucet-fuzz-wasi-")
            .tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("creating a scratch directory");
        Worker {
            calls,
            instance,
            _module: module,
            _region: region,
            scratch,
        }
    }

    /// Every hostcall this worker calls, as `module.name`.
    pub fn names(&self) -> Vec<String> {
        self.calls
            .iter()
            .map(|(_, m, n, _)| format!("{m}.{n}"))
            .collect()
    }

    fn populate(&self) -> std::io::Result<PathBuf> {
        let root = self.scratch.path().join("root");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("d"))?;
        std::fs::write(root.join("a"), [7u8; 100])?;
        std::fs::write(root.join("d").join("b"), b"hello")?;
        Ok(root)
    }
}

const PATHS: &[&[u8]] = &[
    b"a",
    b"d",
    b"d/b",
    b".",
    b"..",
    b"/",
    b"../a",
    b"a/",
    b"new",
    b"d/new",
    b"x\0y",
    b"",
    b"d/../a",
    b"/etc/passwd",
    b"d/b/c",
    b"\xff\xfe",
];

/// Fills the guest memory; returns the offsets of what was planted, with the length
/// that goes with each (a string's length, an iovec array's count).
fn fill_memory(rng: &mut SplitMix64, mem: &mut [u8]) -> Vec<(u32, u32)> {
    mem.fill(0);
    if rng.below(2) == 0 {
        let at = rng.below(mem.len() as u64) as usize;
        let n = (rng.below(4096) as usize).min(mem.len() - at);
        rng.fill(&mut mem[at..at + n]);
    }
    let mut planted = Vec::new();
    for _ in 0..1 + rng.below(6) {
        let at = (rng.below(mem.len() as u64 - 512) as usize) & !7;
        match rng.below(4) {
            0 => {
                // An iovec array: {ptr, len} pairs, mostly in bounds.
                let n = 1 + rng.below(8) as usize;
                for k in 0..n {
                    let ptr = if rng.below(4) == 0 {
                        rng.next_u64() as u32
                    } else {
                        rng.below(MEMORY as u64) as u32
                    };
                    let len = match rng.below(4) {
                        0 => rng.below(64) as u32,
                        1 => u32::MAX,
                        2 => (MEMORY as u32).wrapping_sub(ptr),
                        _ => rng.below(MEMORY as u64) as u32,
                    };
                    mem[at + 8 * k..at + 8 * k + 4].copy_from_slice(&ptr.to_le_bytes());
                    mem[at + 8 * k + 4..at + 8 * k + 8].copy_from_slice(&len.to_le_bytes());
                }
                planted.push((at as u32, n as u32));
            }
            1 | 2 => {
                let p = PATHS[rng.below(PATHS.len() as u64) as usize];
                let p: Vec<u8> = if rng.below(8) == 0 {
                    p.repeat(200).into_iter().take(480).collect()
                } else {
                    p.to_vec()
                };
                mem[at..at + p.len()].copy_from_slice(&p);
                planted.push((at as u32, p.len() as u32));
            }
            _ => {
                // Subscriptions / events / arbitrary structs: random bytes with small
                // numbers in the places tags and descriptors go.
                for k in 0..8 {
                    let word = match rng.below(3) {
                        0 => rng.below(8),
                        1 => rng.next_u64(),
                        _ => 0,
                    };
                    mem[at + 8 * k..at + 8 * k + 8].copy_from_slice(&word.to_le_bytes());
                }
                planted.push((at as u32, 1 + rng.below(4) as u32));
            }
        }
    }
    planted
}

fn arg_u32(rng: &mut SplitMix64, planted: &[(u32, u32)]) -> u32 {
    match rng.below(10) {
        0 | 1 => rng.below(7) as u32,
        2 | 3 if !planted.is_empty() => planted[rng.below(planted.len() as u64) as usize].0,
        4 if !planted.is_empty() => planted[rng.below(planted.len() as u64) as usize].1,
        5 => [
            0,
            MEMORY as u32 - 1,
            MEMORY as u32 - 4,
            MEMORY as u32 - 8,
            MEMORY as u32,
            0xffff_fffc,
            u32::MAX,
        ][rng.below(7) as usize],
        6 => rng.below(64) as u32,
        7 => 1 << rng.below(32),
        8 => rng.below(MEMORY as u64) as u32,
        _ => rng.next_u64() as u32,
    }
}

/// Timeouts in clock subscriptions become tiny, so no case sleeps: waiting is what
/// `poll_oneoff` is for, but not what is fuzzed here.
fn shorten_poll_waits(mem: &mut [u8], module: &str, subs: u32, n: u32, rng: &mut SplitMix64) {
    let (size, timeout, flags) = if module == "wasi_unstable" {
        (56, 32, 48)
    } else {
        (48, 24, 40)
    };
    for i in 0..n.min(2048) as usize {
        let at = subs as usize + i * size;
        if at + size > mem.len() {
            break;
        }
        if mem[at + 8] == 0 {
            let t = rng.below(1000);
            mem[at + timeout..at + timeout + 8].copy_from_slice(&t.to_le_bytes());
            mem[at + flags] = 0;
        }
    }
}

pub fn run_case(w: &mut Worker, seed: u64) -> Verdict {
    if w.calls.is_empty() {
        return Verdict::Skip("every hostcall skipped");
    }
    let mut rng = seed::rng(Salt::Wasi, seed);
    let (export, module, name, params) = w.calls[rng.below(w.calls.len() as u64) as usize].clone();
    let root = match w.populate() {
        Ok(r) => r,
        Err(e) => return Verdict::Fail(format!("preparing the scratch directory: {e}")),
    };
    let ctx = match lucet_wasi::WasiCtxBuilder::new()
        .arg("fuzz")
        .env("K", "v")
        .preopened_dir(&root, "/")
        .random_source(|b| b.fill(0x5a))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Verdict::Fail(format!("building the WasiCtx: {e}")),
    };
    if !w.instance.is_ready() {
        if let Err(e) = w.instance.reset() {
            return Verdict::Fail(format!("reset: {e}"));
        }
    }
    let _ = w.instance.remove_embed_ctx::<lucet_wasi::WasiCtx>();
    w.instance.insert_embed_ctx(ctx);
    let planted = fill_memory(&mut rng, w.instance.heap_mut());
    let args: Vec<Val> = params
        .iter()
        .map(|t| match t {
            ValType::I64 => Val::I64(match rng.below(4) {
                0 => rng.below(100) as i64,
                1 => [i64::MAX, i64::MIN, -1, 1 << 32, 1 << 40][rng.below(5) as usize],
                _ => arg_u32(&mut rng, &planted) as i64,
            }),
            _ => Val::I32(arg_u32(&mut rng, &planted) as i32),
        })
        .collect();
    if name == "poll_oneoff" {
        if let (Some(Val::I32(subs)), Some(Val::I32(n))) = (args.first(), args.get(2)) {
            shorten_poll_waits(
                w.instance.heap_mut(),
                module,
                *subs as u32,
                *n as u32,
                &mut rng,
            );
        }
    }
    alloc_count::arm();
    let result = w.instance.run(&export, &args);
    let usage = alloc_count::disarm();
    let call = format!("{module}.{name}{args:?}");
    if usage.largest > ALLOCATION_LIMIT {
        return Verdict::Fail(format!(
            "{call} allocated {} bytes at once (limit {ALLOCATION_LIMIT})",
            usage.largest
        ));
    }
    match result {
        Ok(lucet_runtime::RunResult::Returned(v)) if v.values().first() == Some(&Val::I32(0)) => {
            Verdict::Pass("succeeded")
        }
        Ok(_) => Verdict::Pass("returned an errno"),
        Err(e) if lucet_wasi::exit_code(&e).is_some() => Verdict::Pass("proc_exit"),
        Err(Error::RuntimeTerminated(d)) => {
            Verdict::Fail(format!("{call} terminated the guest: {d}"))
        }
        Err(e) => Verdict::Fail(format!("{call}: {e}")),
    }
}
