//! The runtime's own costs, each next to the same operation on Wasmtime in the same run.
//!
//! Wasmtime is configured as a per-request server would use it: one shared `Engine`,
//! the pooling instance allocator, copy-on-write memory images, `InstancePre` to skip
//! import resolution per instance. lucet uses one `MmapRegion` and modules compiled by
//! lucetc for the host CPU (Wasmtime compiles for the host CPU too). Guests are the
//! `.wat` files in `benches/guests/`.
//!
//! Every criterion group is `<operation>` with functions `lucet…` and `wasmtime…`;
//! `cargo run -p lucet-benchmarks --bin bench-report` pairs them into the ratio table.
//! The idle memory per instance is not a timing: it is measured once at start-up,
//! printed, and saved to `idle-memory.json` beside criterion's results for the report.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lucet_runtime::{DlModule, InstanceHandle, Limits, Linker, MmapRegion, Module, Region, Vmctx};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker as WtLinker, Module as WtModule,
    PoolingAllocationConfig, Store, TypedFunc,
};

const MICRO_WAT: &str = include_str!("guests/micro.wat");
const HOSTCALL_WAT: &str = include_str!("guests/hostcall.wat");
const EXCEPTIONS_WAT: &str = include_str!("guests/exceptions.wat");
/// Guest-to-host calls per run of `call_host`; the report divides by this.
const HOSTCALLS_PER_RUN: u32 = 1000;
/// Throws per call of `throw_local` and `throw_10_frames`; the report divides by this.
const THROWS_PER_RUN: u32 = 100;
/// Guest-to-guest calls per call of `call_plain` and `call_try_table`.
const CALLS_PER_RUN: u32 = 1000;
/// Instances kept alive for the idle memory measurement.
const IDLE_INSTANCES: usize = 200;
/// Slots in the pools of both runtimes.
const SLOTS: usize = IDLE_INSTANCES + 8;

/// The slots of both pools: `SLOTS`, or fewer with `LUCET_BENCH_SLOTS=n`, for tools that
/// cannot reserve that much address space (valgrind's instruction counts of the
/// interleaved calls). With fewer slots than `SLOTS` the idle memory is not measured.
fn slots() -> usize {
    std::env::var("LUCET_BENCH_SLOTS").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(SLOTS)
}

unsafe extern "C" fn host_nop(_vmctx: &Vmctx) {}

static HOSTCALLS: &[lucet_runtime::HostcallDef] = &[lucet_runtime::HostcallDef {
    module: "bench_host",
    name: "nop",
    params: &[],
    results: &[],
    func: host_nop as *const u8,
}];

fn lucetc_so(wat: &str, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(format!("{name}.so"));
    lucetc::Lucetc::try_from_bytes(wat)
        .expect("guest is valid")
        .with_target_cpu(lucetc::TargetCpu::Native)
        .shared_object_file(&out)
        .expect("lucetc compiles the guest");
    out
}

struct Lucet {
    _dir: tempfile::TempDir,
    region: Arc<MmapRegion>,
    micro: Arc<dyn Module>,
    hostcall: Arc<dyn Module>,
    exceptions: Arc<dyn Module>,
    /// The same guest with its import supplied by a `Linker` closure instead of a native hostcall.
    hostcall_closure: Arc<dyn Module>,
    linker: Linker,
}

impl Lucet {
    fn new() -> Lucet {
        lucet_runtime::register_hostcalls(HOSTCALLS);
        let dir = tempfile::tempdir().expect("temporary directory");
        let micro = DlModule::load(lucetc_so(MICRO_WAT, dir.path(), "micro")).expect("load micro");
        let hostcall = DlModule::load(lucetc_so(HOSTCALL_WAT, dir.path(), "hostcall")).expect("load hostcall");
        let exceptions =
            DlModule::load(lucetc_so(EXCEPTIONS_WAT, dir.path(), "exceptions")).expect("load exceptions");
        let closure_wat = HOSTCALL_WAT.replace("\"bench_host\"", "\"bench_closure\"");
        let hostcall_closure =
            DlModule::load_unresolved(lucetc_so(&closure_wat, dir.path(), "closure")).expect("load closure guest");
        let mut linker = Linker::new();
        linker.func_wrap("bench_closure", "nop", || {});
        let region = MmapRegion::create(slots(), &Limits::default()).expect("region");
        Lucet { _dir: dir, region, micro, hostcall, exceptions, hostcall_closure, linker }
    }

    fn instance(&self, module: &Arc<dyn Module>) -> InstanceHandle {
        self.region.new_instance(module.clone()).expect("instantiate")
    }

    fn instance_linked(&self, module: &Arc<dyn Module>) -> InstanceHandle {
        self.region.new_instance_builder(module.clone()).with_linker(&self.linker).build().expect("instantiate")
    }
}

struct Wasmtime {
    engine: Engine,
    micro: InstancePre<()>,
    hostcall: InstancePre<()>,
    exceptions: InstancePre<()>,
}

impl Wasmtime {
    fn new() -> Wasmtime {
        let mut pool = PoolingAllocationConfig::default();
        let slots = slots() as u32;
        pool.total_core_instances(slots).total_memories(slots).total_tables(slots).total_gc_heaps(slots);
        let mut config = Config::new();
        // Exceptions need the crate's `gc` feature and a collector (`gc-drc`); the
        // guests without exceptions never allocate a GC heap.
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_init_cow(true)
            .wasm_exceptions(true);
        let engine = Engine::new(&config).expect("wasmtime engine");
        let mut linker: WtLinker<()> = WtLinker::new(&engine);
        linker.func_wrap("bench_host", "nop", || {}).expect("define nop");
        let module = |wat: &str| {
            let wasm = wat::parse_str(wat).expect("guest is valid");
            WtModule::new(&engine, wasm).expect("wasmtime compiles the guest")
        };
        let micro = linker.instantiate_pre(&module(MICRO_WAT)).expect("link micro");
        let hostcall = linker.instantiate_pre(&module(HOSTCALL_WAT)).expect("link hostcall");
        let exceptions = linker.instantiate_pre(&module(EXCEPTIONS_WAT)).expect("link exceptions");
        Wasmtime { engine, micro, hostcall, exceptions }
    }

    fn instance(&self, pre: &InstancePre<()>) -> (Store<()>, wasmtime::Instance) {
        let mut store = Store::new(&self.engine, ());
        let instance = pre.instantiate(&mut store).expect("instantiate");
        (store, instance)
    }
}

fn typed<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    store: &mut Store<()>,
    instance: &wasmtime::Instance,
    name: &str,
) -> TypedFunc<P, R> {
    instance.get_typed_func::<P, R>(&mut *store, name).expect("export")
}

fn instantiate(c: &mut Criterion, lucet: &Lucet, wt: &Wasmtime) {
    let mut g = c.benchmark_group("instantiate_call_drop");
    g.bench_function("lucet", |b| {
        b.iter(|| {
            let mut inst = lucet.instance(&lucet.micro);
            inst.run("empty", &[]).expect("run");
        })
    });
    g.bench_function("wasmtime", |b| {
        b.iter(|| {
            let (mut store, instance) = wt.instance(&wt.micro);
            typed::<(), ()>(&mut store, &instance, "empty").call(&mut store, ()).expect("call");
        })
    });
    g.finish();
}

fn call(c: &mut Criterion, lucet: &Lucet, wt: &Wasmtime) {
    let mut g = c.benchmark_group("call_empty");
    let mut inst = lucet.instance(&lucet.micro);
    g.bench_function("lucet_run", |b| b.iter(|| inst.run("empty", &[]).expect("run")));
    let empty = inst.typed_func::<(), ()>("empty").expect("export");
    g.bench_function("lucet_typed", |b| b.iter(|| empty.call(&mut inst, ()).expect("call")));
    drop(inst);
    let (mut store, instance) = wt.instance(&wt.micro);
    let f = typed::<(), ()>(&mut store, &instance, "empty");
    g.bench_function("wasmtime_typed", |b| b.iter(|| f.call(&mut store, ()).expect("call")));
    let untyped = instance.get_func(&mut store, "empty").expect("export");
    g.bench_function("wasmtime_untyped", |b| b.iter(|| untyped.call(&mut store, &[], &mut []).expect("call")));
    g.finish();

    let mut g = c.benchmark_group("call_add");
    let mut inst = lucet.instance(&lucet.micro);
    g.bench_function("lucet_run", |b| {
        b.iter(|| inst.run("add", &[5i32.into(), 3i32.into()]).expect("run").unwrap_returned())
    });
    let add = inst.typed_func::<(i32, i32), i32>("add").expect("export");
    g.bench_function("lucet_typed", |b| b.iter(|| add.call(&mut inst, (5, 3)).expect("call")));
    drop(inst);
    let wt_add = typed::<(i32, i32), i32>(&mut store, &instance, "add");
    g.bench_function("wasmtime_typed", |b| b.iter(|| wt_add.call(&mut store, (5, 3)).expect("call")));
    g.finish();
}

fn hostcall(c: &mut Criterion, lucet: &Lucet, wt: &Wasmtime) {
    let mut g = c.benchmark_group(format!("hostcall_x{HOSTCALLS_PER_RUN}"));
    g.throughput(Throughput::Elements(HOSTCALLS_PER_RUN as u64));
    let n = HOSTCALLS_PER_RUN as i32;
    let mut inst = lucet.instance(&lucet.hostcall);
    g.bench_function("lucet_native", |b| b.iter(|| inst.run("call_host", &[n.into()]).expect("run")));
    drop(inst);
    let mut inst = lucet.instance_linked(&lucet.hostcall_closure);
    g.bench_function("lucet_closure", |b| b.iter(|| inst.run("call_host", &[n.into()]).expect("run")));
    drop(inst);
    let (mut store, instance) = wt.instance(&wt.hostcall);
    let f = typed::<i32, ()>(&mut store, &instance, "call_host");
    g.bench_function("wasmtime", |b| b.iter(|| f.call(&mut store, n).expect("call")));
    g.finish();
}

fn trap(c: &mut Criterion, lucet: &Lucet, wt: &Wasmtime) {
    let mut g = c.benchmark_group("trap_roundtrip");
    let mut inst = lucet.instance(&lucet.micro);
    g.bench_function("lucet", |b| b.iter(|| assert!(inst.run("trap", &[]).is_err())));
    // A trap leaves a lucet instance usable; with a reset it is also back to its
    // freshly-instantiated state, which is what Wasmtime's fresh instance below gives.
    g.bench_function("lucet_reset", |b| {
        b.iter(|| {
            assert!(inst.run("trap", &[]).is_err());
            inst.reset().expect("reset");
        })
    });
    drop(inst);
    let (mut store, instance) = wt.instance(&wt.micro);
    let f = typed::<(), ()>(&mut store, &instance, "trap");
    g.bench_function("wasmtime", |b| b.iter(|| assert!(f.call(&mut store, ()).is_err())));
    drop(store);
    g.bench_function("wasmtime_fresh", |b| {
        b.iter(|| {
            let (mut store, instance) = wt.instance(&wt.micro);
            let f = typed::<(), ()>(&mut store, &instance, "trap");
            assert!(f.call(&mut store, ()).is_err());
        })
    });
    g.finish();
}

/// lucet resets the instance in place; Wasmtime has no reset, so its equivalent is
/// returning the instance to the pool and taking a fresh one (which is where its pool
/// restores the dirtied pages). Only that part is timed, not the dirtying.
fn reset(c: &mut Criterion, lucet: &Lucet, wt: &Wasmtime) {
    for pages in [0u32, 1, 16, 256] {
        let mut g = c.benchmark_group(format!("reset_{pages}_dirty_pages"));
        let mut inst = lucet.instance(&lucet.micro);
        g.bench_function("lucet", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    inst.run("dirty", &[(pages as i32).into()]).expect("run");
                    let t = Instant::now();
                    inst.reset().expect("reset");
                    total += t.elapsed();
                }
                total
            })
        });
        drop(inst);
        g.bench_function("wasmtime", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let (mut store, mut instance) = wt.instance(&wt.micro);
                for _ in 0..iters {
                    typed::<i32, ()>(&mut store, &instance, "dirty").call(&mut store, pages as i32).expect("call");
                    let t = Instant::now();
                    drop(store);
                    (store, instance) = wt.instance(&wt.micro);
                    total += t.elapsed();
                }
                total
            })
        });
        g.finish();
    }
}

/// How long a kill takes to stop a guest spinning in `loop br 0`: from the moment
/// another thread asks until the run has returned to its caller. lucet signals the
/// running thread (no instrumentation in guest code); Wasmtime's counterpart is epoch
/// interruption, which needs checks compiled into the guest, so it gets its own engine.
fn kill(c: &mut Criterion, lucet: &Lucet, wt: &Wasmtime) {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Lets the guest get well into its loop before the kill.
    const SETTLE: Duration = Duration::from_micros(200);
    let mut g = c.benchmark_group("kill_latency");
    g.sample_size(20);
    g.bench_function("lucet", |b| {
        let mut inst = lucet.instance(&lucet.micro);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let switch = inst.kill_switch();
                let killer = std::thread::spawn(move || {
                    while !switch.is_running() {
                        std::hint::spin_loop();
                    }
                    std::thread::sleep(SETTLE);
                    let asked = Instant::now();
                    switch.terminate().expect("the guest is running");
                    asked
                });
                let result = inst.run("spin", &[]);
                let returned = Instant::now();
                assert!(result.is_err(), "a killed run fails");
                total += returned - killer.join().expect("killer thread");
                // A terminated instance runs again only after a reset (not timed).
                inst.reset().expect("reset");
            }
            total
        })
    });
    let engine = {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(8).total_memories(8).total_tables(8);
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool)).epoch_interruption(true);
        Engine::new(&config).expect("wasmtime engine")
    };
    let module = WtModule::new(&engine, wat::parse_str(MICRO_WAT).expect("guest is valid")).expect("compile");
    let pre = WtLinker::<()>::new(&engine).instantiate_pre(&module).expect("link");
    let _ = wt;
    g.bench_function("wasmtime_epoch", |b| {
        let mut store = Store::new(&engine, ());
        let instance = pre.instantiate(&mut store).expect("instantiate");
        let spin = typed::<(), ()>(&mut store, &instance, "spin");
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                store.set_epoch_deadline(1);
                store.epoch_deadline_trap();
                let started = Arc::new(AtomicBool::new(false));
                let (flag, engine) = (started.clone(), engine.clone());
                let killer = std::thread::spawn(move || {
                    while !flag.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    std::thread::sleep(SETTLE);
                    let asked = Instant::now();
                    engine.increment_epoch();
                    asked
                });
                started.store(true, Ordering::Release);
                let result = spin.call(&mut store, ());
                let returned = Instant::now();
                assert!(result.is_err(), "an interrupted call fails");
                total += returned - killer.join().expect("killer thread");
            }
            total
        })
    });
    g.finish();
}

/// The costs of exception handling (Wasm 3.0): a throw caught in the same function, a
/// throw caught 10 frames up, and a call that does not throw, with and without a
/// `try_table` around it. Each guest export repeats its operation `n` times; the
/// group name ends in `_x<n>` so the report gives the cost of one.
fn exceptions(c: &mut Criterion, lucet: &Lucet, wt: &Wasmtime) {
    let cases = [
        ("eh_throw_local", "throw_local", THROWS_PER_RUN),
        ("eh_throw_10_frames", "throw_10_frames", THROWS_PER_RUN),
        ("eh_call_plain", "call_plain", CALLS_PER_RUN),
        ("eh_call_try_table", "call_try_table", CALLS_PER_RUN),
    ];
    let mut inst = lucet.instance(&lucet.exceptions);
    let (mut store, instance) = wt.instance(&wt.exceptions);
    for (group, export, n) in cases {
        let mut g = c.benchmark_group(format!("{group}_x{n}"));
        g.throughput(Throughput::Elements(n as u64));
        let f = inst.typed_func::<i32, i32>(export).expect("export");
        let expected = f.call(&mut inst, n as i32).expect("call");
        g.bench_function("lucet", |b| b.iter(|| f.call(&mut inst, n as i32).expect("call")));
        let wf = typed::<i32, i32>(&mut store, &instance, export);
        assert_eq!(wf.call(&mut store, n as i32).expect("call"), expected, "both runtimes compute the same");
        g.bench_function("wasmtime", |b| b.iter(|| wf.call(&mut store, n as i32).expect("call")));
        g.finish();
    }
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Resident memory added per live, idle instance (instantiated, not running), measured
/// over many instances so allocator noise averages out.
fn idle_memory(lucet: &Lucet, wt: &Wasmtime) {
    // Warm both sides up so one-time allocations are not charged to the instances.
    drop(lucet.instance(&lucet.micro));
    drop(wt.instance(&wt.micro));
    let before = resident_bytes();
    let lucets: Vec<InstanceHandle> = (0..IDLE_INSTANCES).map(|_| lucet.instance(&lucet.micro)).collect();
    let lucet_bytes = resident_bytes().saturating_sub(before) as f64 / IDLE_INSTANCES as f64;
    drop(lucets);
    let before = resident_bytes();
    let wts: Vec<_> = (0..IDLE_INSTANCES).map(|_| wt.instance(&wt.micro)).collect();
    let wt_bytes = resident_bytes().saturating_sub(before) as f64 / IDLE_INSTANCES as f64;
    drop(wts);
    println!(
        "idle memory per instance ({IDLE_INSTANCES} instances of guests/micro.wat): lucet {:.1} KiB, wasmtime {:.1} KiB",
        lucet_bytes / 1024.0,
        wt_bytes / 1024.0
    );
    let dir = lucet_benchmarks::criterion_dir();
    let _ = std::fs::create_dir_all(&dir);
    let json = format!(
        "{{\"instances\": {IDLE_INSTANCES}, \"lucet_bytes\": {lucet_bytes:.0}, \"wasmtime_bytes\": {wt_bytes:.0}}}\n"
    );
    if let Err(e) = std::fs::write(dir.join("idle-memory.json"), json) {
        eprintln!("cannot save the idle memory figures: {e}");
    }
}

/// The typed calls once more, with lucet and Wasmtime interleaved: rounds of
/// `INTERLEAVED_CALLS` calls on each side in turn (which side goes first alternates), so
/// that both see the same load. Criterion measures one function after the other, seconds
/// apart; on a busy shared machine that alone moves a ratio of two ~40 ns calls by a
/// third from run to run. Each round gives a ratio; the median of the rounds' ratios is
/// reported, and saved next to criterion's results as `interleaved-calls.json`.
fn interleaved_calls(lucet: &Lucet, wt: &Wasmtime) {
    const ROUNDS: usize = 401;
    const INTERLEAVED_CALLS: u32 = 4000;
    let mut inst = lucet.instance(&lucet.micro);
    let empty = inst.typed_func::<(), ()>("empty").expect("export");
    let add = inst.typed_func::<(i32, i32), i32>("add").expect("export");
    let (mut store, instance) = wt.instance(&wt.micro);
    let wt_empty = typed::<(), ()>(&mut store, &instance, "empty");
    let wt_add = typed::<(i32, i32), i32>(&mut store, &instance, "add");
    let per_call = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..INTERLEAVED_CALLS {
            f();
        }
        start.elapsed().as_secs_f64() * 1e9 / INTERLEAVED_CALLS as f64
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut json = String::from("{");
    for op in ["call_empty", "call_add"] {
        let (mut l, mut w, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let mut lucet_side = || match op {
                "call_empty" => empty.call(&mut inst, ()).expect("call"),
                _ => {
                    std::hint::black_box(add.call(&mut inst, (5, 3)).expect("call"));
                }
            };
            let mut lucet_once = || per_call(&mut lucet_side);
            let lt;
            let wtt;
            if round % 2 == 0 {
                lt = lucet_once();
                wtt = per_call(&mut || match op {
                    "call_empty" => wt_empty.call(&mut store, ()).expect("call"),
                    _ => {
                        std::hint::black_box(wt_add.call(&mut store, (5, 3)).expect("call"));
                    }
                });
            } else {
                wtt = per_call(&mut || match op {
                    "call_empty" => wt_empty.call(&mut store, ()).expect("call"),
                    _ => {
                        std::hint::black_box(wt_add.call(&mut store, (5, 3)).expect("call"));
                    }
                });
                lt = lucet_once();
            }
            l.push(lt);
            w.push(wtt);
            ratios.push(lt / wtt);
        }
        let (lm, wm, rm) = (median(l), median(w), median(ratios));
        println!(
            "interleaved {op} typed: lucet {lm:.1} ns, Wasmtime {wm:.1} ns, median ratio {rm:.2} ({ROUNDS} rounds)"
        );
        if json.len() > 1 {
            json.push_str(", ");
        }
        json.push_str(&format!(
            "\"{op}\": {{\"lucet_ns\": {lm:.2}, \"wasmtime_ns\": {wm:.2}, \"ratio\": {rm:.3}, \"rounds\": {ROUNDS}}}"
        ));
    }
    json.push_str("}\n");
    let dir = lucet_benchmarks::criterion_dir();
    let _ = std::fs::create_dir_all(&dir);
    if let Err(e) = std::fs::write(dir.join("interleaved-calls.json"), json) {
        eprintln!("cannot save the interleaved call figures: {e}");
    }
}

/// Records how this bench was built, next to criterion's results: `bench-report` only
/// writes figures measured without debug assertions (the `bench` or `release` profile).
fn record_build_profile() {
    let release = !cfg!(debug_assertions);
    println!(
        "built {} debug assertions{}",
        if release { "without" } else { "with" },
        if release { "" } else { ": these figures are not comparable; use `cargo bench` (the bench profile)" }
    );
    // The one-minute load average when the run starts: the machine may be shared, and
    // the report states how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()))
        .map_or_else(|| "null".to_owned(), |l| format!("{l:.2}"));
    let dir = lucet_benchmarks::criterion_dir();
    let _ = std::fs::create_dir_all(&dir);
    let json = format!("{{\"debug_assertions\": {}, \"load_average\": {load}}}\n", !release);
    if let Err(e) = std::fs::write(dir.join("build-profile.json"), json) {
        eprintln!("cannot record the build profile: {e}");
    }
}

fn benches(c: &mut Criterion) {
    record_build_profile();
    let lucet = Lucet::new();
    let wt = Wasmtime::new();
    if slots() >= SLOTS {
        idle_memory(&lucet, &wt);
    }
    interleaved_calls(&lucet, &wt);
    instantiate(c, &lucet, &wt);
    call(c, &lucet, &wt);
    hostcall(c, &lucet, &wt);
    trap(c, &lucet, &wt);
    kill(c, &lucet, &wt);
    reset(c, &lucet, &wt);
    exceptions(c, &lucet, &wt);
}

criterion_group! {
    name = runtime;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(runtime);
