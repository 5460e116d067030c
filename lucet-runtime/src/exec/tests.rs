//! Engine tests with hand-written guest code.
//!
//! Past 700 lines on purpose: the hand-written guest (assembly) and the tests that run
//! it must stay together, since every test names its symbols.
//!
//! The "module" is a block of assembly in this test binary, delimited by
//! `exec_test_code_start`/`exec_test_code_end`, with a trampoline of the real ABI
//! (`tramp(vmctx, callee, values)` stores the callee's `rax` in `values[0]`) and small
//! callees. Trap sites are labelled with global symbols so the test's `TrapLookup` can
//! list them. Callees that reach the host do `jmp [rdi]`: the test's vmctx starts with
//! a host function pointer, which then runs on the guest stack like a hostcall.

use super::*;
use crate::error::TerminationDetails;
use core::arch::global_asm;
use lucet_module::TrapCode;
use std::any::Any;
use std::process::Command;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

global_asm!(
    ".pushsection .text.lucet_exec_test_guest,\"ax\",@progbits",
    ".p2align 4",
    ".globl exec_test_code_start",
    ".hidden exec_test_code_start",
    "exec_test_code_start:",
    // tramp(vmctx: rdi, callee: rsi, values: rdx): values[0] = callee(vmctx)
    ".globl exec_test_tramp",
    ".hidden exec_test_tramp",
    "exec_test_tramp:",
    "push rbx",
    "mov rbx, rdx",
    "call rsi",
    "mov [rbx], rax",
    "pop rbx",
    "ret",
    ".globl exec_test_const",
    ".hidden exec_test_const",
    "exec_test_const:",
    "mov eax, 42",
    "ret",
    ".globl exec_test_ud2",
    ".hidden exec_test_ud2",
    "exec_test_ud2:",
    ".globl exec_test_ud2_site",
    ".hidden exec_test_ud2_site",
    "exec_test_ud2_site:",
    "ud2",
    // Reads the word at vmctx+8, which the test points at an inaccessible page.
    ".globl exec_test_load",
    ".hidden exec_test_load",
    "exec_test_load:",
    "mov rax, [rdi + 8]",
    ".globl exec_test_load_site",
    ".hidden exec_test_load_site",
    "exec_test_load_site:",
    "mov rax, [rax]",
    "ret",
    ".globl exec_test_div0",
    ".hidden exec_test_div0",
    "exec_test_div0:",
    "xor ecx, ecx",
    "mov eax, 1",
    "cdq",
    ".globl exec_test_div0_site",
    ".hidden exec_test_div0_site",
    "exec_test_div0_site:",
    "idiv ecx",
    "ret",
    // Recurses until the return-address push lands in the guard: no trap site.
    ".globl exec_test_recurse",
    ".hidden exec_test_recurse",
    "exec_test_recurse:",
    "call exec_test_recurse",
    "ret",
    ".globl exec_test_hostcall",
    ".hidden exec_test_hostcall",
    "exec_test_hostcall:",
    "jmp qword ptr [rdi]",
    // Calls the hostcall, then overflows the stack.
    ".globl exec_test_hostcall_then_recurse",
    ".hidden exec_test_hostcall_then_recurse",
    "exec_test_hostcall_then_recurse:",
    "sub rsp, 8",
    "call qword ptr [rdi]",
    "add rsp, 8",
    "jmp exec_test_recurse",
    ".globl exec_test_rsp",
    ".hidden exec_test_rsp",
    "exec_test_rsp:",
    "mov rax, rsp",
    "ret",
    ".globl exec_test_mxcsr",
    ".hidden exec_test_mxcsr",
    "exec_test_mxcsr:",
    "sub rsp, 8",
    "stmxcsr [rsp]",
    "mov eax, [rsp]",
    "add rsp, 8",
    "ret",
    // Trashes every callee-saved register and the direction flag, then traps: the
    // host must get its own registers back.
    ".globl exec_test_clobber",
    ".hidden exec_test_clobber",
    "exec_test_clobber:",
    "mov rbx, -1",
    "mov rbp, -1",
    "mov r12, -1",
    "mov r13, -1",
    "mov r14, -1",
    "mov r15, -1",
    "std",
    ".globl exec_test_clobber_site",
    ".hidden exec_test_clobber_site",
    "exec_test_clobber_site:",
    "ud2",
    ".globl exec_test_code_end",
    ".hidden exec_test_code_end",
    "exec_test_code_end:",
    ".popsection",
);

extern "C" {
    fn exec_test_code_start();
    fn exec_test_code_end();
    fn exec_test_tramp();
    fn exec_test_const();
    fn exec_test_ud2();
    fn exec_test_ud2_site();
    fn exec_test_load();
    fn exec_test_load_site();
    fn exec_test_div0();
    fn exec_test_div0_site();
    fn exec_test_recurse();
    fn exec_test_hostcall();
    fn exec_test_hostcall_then_recurse();
    fn exec_test_rsp();
    fn exec_test_mxcsr();
    fn exec_test_clobber();
    fn exec_test_clobber_site();
}

fn addr(f: unsafe extern "C" fn()) -> usize {
    f as *const () as usize
}

struct TestLookup {
    start: usize,
    end: usize,
    sites: Vec<(usize, TrapCode, u32)>,
}

impl TrapLookup for TestLookup {
    fn lookup(&self, pc: usize) -> Option<TrapInfo> {
        if !(self.start..self.end).contains(&pc) {
            return None;
        }
        let (code, wasm_offset) = match self.sites.binary_search_by_key(&pc, |s| s.0) {
            Ok(i) => (self.sites[i].1, Some(self.sites[i].2)),
            Err(_) => (TrapCode::Unknown, None),
        };
        Some(TrapInfo { code, function: Some(0), wasm_offset })
    }
}

fn lookup() -> Arc<dyn TrapLookup> {
    let mut sites = vec![
        (addr(exec_test_ud2_site), TrapCode::Unreachable, 1),
        (addr(exec_test_load_site), TrapCode::HeapOutOfBounds, 2),
        (addr(exec_test_div0_site), TrapCode::IntegerDivByZero, 3),
        (addr(exec_test_clobber_site), TrapCode::Unreachable, 4),
    ];
    sites.sort_by_key(|s| s.0);
    Arc::new(TestLookup { start: addr(exec_test_code_start), end: addr(exec_test_code_end), sites })
}

/// An anonymous mapping, unmapped on drop.
struct Mapping {
    base: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize, prot: libc::c_int) -> Mapping {
        // SAFETY: a fresh anonymous mapping.
        let base = unsafe {
            libc::mmap(ptr::null_mut(), len, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, -1, 0)
        };
        assert_ne!(base, libc::MAP_FAILED);
        Mapping { base: base as *mut u8, len }
    }
}

// SAFETY: the mapping is owned by this value alone; moving it to another thread moves
// that ownership.
unsafe impl Send for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

const PAGE: usize = 4096;

/// A guest stack: one guard page below `size` usable bytes.
struct TestStack {
    _mapping: Mapping,
    stack: GuestStack,
}

impl TestStack {
    fn new(size: usize) -> TestStack {
        let mapping = Mapping::new(PAGE + size, libc::PROT_READ | libc::PROT_WRITE);
        // SAFETY: the first page of our own mapping.
        assert_eq!(unsafe { libc::mprotect(mapping.base as *mut libc::c_void, PAGE, libc::PROT_NONE) }, 0);
        let b = mapping.base as usize;
        TestStack { stack: GuestStack { guard_start: b, guard_end: b + PAGE, top: b + PAGE + size }, _mapping: mapping }
    }
}

/// What the test code sees as its vmctx.
#[repr(C)]
struct TestVmctx {
    /// Where `exec_test_hostcall` jumps: `extern "C" fn(*mut TestVmctx) -> u64`.
    hostcall: usize,
    /// Address `exec_test_load` dereferences.
    load_from: usize,
    /// Scratch for hostcalls.
    data: usize,
}

impl TestVmctx {
    fn new() -> Box<TestVmctx> {
        Box::new(TestVmctx { hostcall: 0, load_from: 0, data: 0 })
    }
}

struct Harness {
    exec: ExecState,
    stack: TestStack,
    lookup: Arc<dyn TrapLookup>,
    /// Where the test code may fault besides the stack guard: nowhere, unless a test
    /// says so with `allow_faults_in`.
    faults: Arc<FaultRanges>,
    vmctx: Box<TestVmctx>,
    values: Box<[[u8; 16]; 4]>,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            exec: ExecState::new(),
            stack: TestStack::new(256 * 1024),
            lookup: lookup(),
            faults: Arc::default(),
            vmctx: TestVmctx::new(),
            values: Box::new([[0; 16]; 4]),
        }
    }

    fn run(&mut self, callee: unsafe extern "C" fn()) -> GuestExit {
        self.values[0] = [0; 16];
        let entry = Entry {
            trampoline: exec_test_tramp as *const u8,
            vmctx: &mut *self.vmctx as *mut TestVmctx as *mut u8,
            callee: callee as *const u8,
            values: self.values.as_mut_ptr(),
        };
        // SAFETY: the stack is ours, the code follows the trampoline ABI, and every
        // piece of guest code is covered by the lookup.
        unsafe { self.exec.run(&self.stack.stack, entry, &self.lookup, &self.faults) }
    }

    /// Lets the test code fault in `heap`, as compiled code may in a heap's guard.
    fn allow_faults_in(&mut self, heap: &Mapping) {
        self.faults = Arc::new(FaultRanges::new([heap.base as usize..heap.base as usize + heap.len]));
    }

    fn resume(&mut self, val: Option<Box<dyn Any + Send>>) -> GuestExit {
        // SAFETY: stack and lookup are still alive.
        unsafe { self.exec.resume(val) }
    }

    fn result(&self) -> u64 {
        u64::from_le_bytes(self.values[0][..8].try_into().unwrap())
    }
}

fn expect_fault(exit: GuestExit) -> (TrapInfo, usize, Option<usize>) {
    match exit {
        GuestExit::Faulted { trap, rip, fault_addr } => (trap, rip, fault_addr),
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn returns_value() {
    let mut h = Harness::new();
    assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
    assert_eq!(h.result(), 42);
    assert!(!in_guest());
    // The same state runs again.
    assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
    assert_eq!(h.result(), 42);
}

#[test]
fn runs_on_the_guest_stack_with_abi_alignment() {
    let mut h = Harness::new();
    assert!(matches!(h.run(exec_test_rsp), GuestExit::Returned));
    let rsp = h.result() as usize;
    let s = h.stack.stack;
    assert!(rsp > s.guard_end && rsp < s.top, "rsp {rsp:#x} not in guest stack {s:x?}");
    // Inside a function (after its return address was pushed) rsp % 16 == 8.
    assert_eq!(rsp % 16, 8);
}

#[test]
fn unreachable_traps_with_its_site() {
    let mut h = Harness::new();
    let (trap, rip, fault_addr) = expect_fault(h.run(exec_test_ud2));
    assert_eq!(trap, TrapInfo { code: TrapCode::Unreachable, function: Some(0), wasm_offset: Some(1) });
    assert_eq!(rip, addr(exec_test_ud2_site));
    assert_eq!(fault_addr, None);
    assert!(!in_guest());
    // The host continues and the state is reusable.
    assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
    assert_eq!(h.result(), 42);
}

#[test]
fn out_of_bounds_load_traps_with_address() {
    let mut h = Harness::new();
    let heap = Mapping::new(PAGE, libc::PROT_NONE);
    h.allow_faults_in(&heap);
    h.vmctx.load_from = heap.base as usize + 24;
    let (trap, rip, fault_addr) = expect_fault(h.run(exec_test_load));
    assert_eq!(trap.code, TrapCode::HeapOutOfBounds);
    assert_eq!(trap.wasm_offset, Some(2));
    assert_eq!(rip, addr(exec_test_load_site));
    assert_eq!(fault_addr, Some(heap.base as usize + 24));
}

#[test]
fn integer_division_by_zero_traps() {
    let mut h = Harness::new();
    let (trap, rip, _) = expect_fault(h.run(exec_test_div0));
    assert_eq!(trap.code, TrapCode::IntegerDivByZero);
    assert_eq!(rip, addr(exec_test_div0_site));
}

#[test]
fn stack_overflow_into_the_guard_is_reported() {
    let mut h = Harness::new();
    let (trap, _, fault_addr) = expect_fault(h.run(exec_test_recurse));
    assert_eq!(trap.code, TrapCode::StackOverflow);
    let s = h.stack.stack;
    assert!((s.guard_start..s.guard_end).contains(&fault_addr.unwrap()));
    // Twice, to show the altstack and the guest stack are both fine afterwards.
    assert_eq!(expect_fault(h.run(exec_test_recurse)).0.code, TrapCode::StackOverflow);
    assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
}

#[test]
fn host_registers_and_float_state_survive_a_trap() {
    let mut h = Harness::new();
    // Run many traps in a loop whose locals live in callee-saved registers; any
    // corruption shows up as a wrong sum or a crash.
    let mut sum = 0u64;
    for i in 0..100u64 {
        let (trap, _, _) = expect_fault(h.run(exec_test_clobber));
        assert_eq!(trap.code, TrapCode::Unreachable);
        sum = sum.wrapping_add(i * 3);
    }
    assert_eq!(sum, 3 * 99 * 100 / 2);
    // The direction flag the guest set must not leak into the host.
    let v = vec![1u8; 1000];
    let w = v.clone();
    assert_eq!(v, w);
}

fn get_mxcsr() -> u32 {
    let mut v: u32 = 0;
    // SAFETY: stores MXCSR into a local.
    unsafe { core::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
    v
}

fn set_mxcsr(v: u32) {
    // SAFETY: loads MXCSR from a local; the values used are valid MXCSR settings.
    unsafe { core::arch::asm!("ldmxcsr [{}]", in(reg) &v, options(nostack)) };
}

#[test]
fn guest_gets_default_float_mode_and_host_keeps_its_own() {
    let mut h = Harness::new();
    let saved = get_mxcsr();
    // Flush-to-zero + round toward zero on the host.
    let host_mode = 0x1f80 | 0x8000 | 0x6000;
    set_mxcsr(host_mode);
    let exit = h.run(exec_test_mxcsr);
    let after_return = get_mxcsr();
    let guest_mode = h.result() as u32;
    let _ = expect_fault(h.run(exec_test_ud2));
    let after_trap = get_mxcsr();
    set_mxcsr(saved);
    assert!(matches!(exit, GuestExit::Returned));
    assert_eq!(guest_mode & 0xffc0, 0x1f80, "guest MXCSR control bits");
    assert_eq!(after_return & 0xffc0, host_mode & 0xffc0);
    assert_eq!(after_trap & 0xffc0, host_mode & 0xffc0);
}

fn resident_pages() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const RSS_ENV: &str = "LUCET_EXEC_TEST_RSS";

/// Runs only when re-executed by `a_thousand_traps_leave_memory_flat`, alone in its
/// process, so that no other test disturbs the measurement.
#[test]
fn rss_child() {
    if std::env::var_os(RSS_ENV).is_none() {
        return;
    }
    let mut h = Harness::new();
    for _ in 0..50 {
        let _ = expect_fault(h.run(exec_test_recurse));
        let _ = expect_fault(h.run(exec_test_ud2));
    }
    let before = resident_pages();
    let start = std::time::Instant::now();
    for i in 0..1000 {
        let callee = if i % 2 == 0 { exec_test_ud2 } else { exec_test_recurse };
        let _ = expect_fault(h.run(callee));
    }
    let elapsed = start.elapsed();
    let after = resident_pages();
    eprintln!("1000 traps took {elapsed:?}; resident pages {before} -> {after}");
    // A leak of even one page per trap would exceed this by far.
    assert!(after <= before + 16, "resident pages grew from {before} to {after}");
}

#[test]
fn a_thousand_traps_leave_memory_flat() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exec::tests::rss_child", "--nocapture", "--test-threads=1"])
        .env(RSS_ENV, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("1000 traps took"), "measurement failed: {stderr}");
}

#[test]
fn traps_on_many_threads_at_once() {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut h = Harness::new();
                for i in 0..200 {
                    match (i + t) % 3 {
                        0 => assert_eq!(expect_fault(h.run(exec_test_ud2)).0.code, TrapCode::Unreachable),
                        1 => assert_eq!(expect_fault(h.run(exec_test_recurse)).0.code, TrapCode::StackOverflow),
                        _ => {
                            assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
                            assert_eq!(h.result(), 42);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

extern "C" fn hostcall_terminate(vmctx: *mut TestVmctx) -> u64 {
    assert!(in_guest());
    assert_eq!(current_vmctx(), Some(vmctx as *mut u8));
    // SAFETY: called from guest code, on the guest stack.
    unsafe { terminate_current(TerminationDetails::Provided(Box::new(7u32))) }
}

#[test]
fn terminate_from_a_hostcall() {
    let mut h = Harness::new();
    h.vmctx.hostcall = hostcall_terminate as *const () as usize;
    for _ in 0..3 {
        match h.run(exec_test_hostcall) {
            GuestExit::Terminated(TerminationDetails::Provided(b)) => assert_eq!(b.downcast_ref::<u32>(), Some(&7)),
            other => panic!("expected termination, got {other:?}"),
        }
        assert!(!in_guest());
        assert!(!h.exec.is_yielded());
    }
    assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
}

extern "C" fn hostcall_report_async(_vmctx: *mut TestVmctx) -> u64 {
    u64::from(current_run_is_async())
}

/// Both are set for the next entry only and handled off the common path: neither may
/// outlive it.
#[test]
fn the_async_mark_and_a_timeout_last_one_entry() {
    let mut h = Harness::new();
    h.vmctx.hostcall = hostcall_report_async as *const () as usize;
    h.exec.set_next_entry(EntryBy::Async);
    h.exec.set_timeout(Some(std::time::Duration::from_millis(1)));
    assert!(matches!(h.run(exec_test_hostcall), GuestExit::Returned));
    assert_eq!(h.result(), 1);
    // Long past the timeout: had it stayed armed, or the mark stayed, this entry would
    // show it.
    std::thread::sleep(std::time::Duration::from_millis(20));
    for _ in 0..3 {
        assert!(matches!(h.run(exec_test_hostcall), GuestExit::Returned));
        assert_eq!(h.result(), 0);
    }
    assert!(!h.exec.kill_state().is_running());
}

extern "C" fn hostcall_yield_twice(vmctx: *mut TestVmctx) -> u64 {
    // SAFETY: called from guest code, on the guest stack.
    let a = unsafe { yield_current(Some(Box::new(1u32))) };
    let a = *a.unwrap().downcast::<u64>().unwrap();
    // SAFETY: as above.
    let b = unsafe { yield_current(None) };
    let b = *b.unwrap().downcast::<u64>().unwrap();
    // SAFETY: the vmctx is the test's.
    unsafe { (*vmctx).data += 1 };
    assert_eq!(current_vmctx(), Some(vmctx as *mut u8));
    a + b
}

#[test]
fn yield_and_resume() {
    let mut h = Harness::new();
    h.vmctx.hostcall = hostcall_yield_twice as *const () as usize;
    match h.run(exec_test_hostcall) {
        GuestExit::Yielded(Some(v)) => assert_eq!(v.downcast_ref::<u32>(), Some(&1)),
        other => panic!("expected a yield, got {other:?}"),
    }
    assert!(h.exec.is_yielded());
    assert!(!in_guest());
    assert!(matches!(h.resume(Some(Box::new(40u64))), GuestExit::Yielded(None)));
    assert!(matches!(h.resume(Some(Box::new(2u64))), GuestExit::Returned));
    assert_eq!(h.result(), 42);
    assert_eq!(h.vmctx.data, 1);
    assert!(!h.exec.is_yielded());
}

#[test]
fn resume_on_another_thread() {
    let mut h = Harness::new();
    h.vmctx.hostcall = hostcall_yield_twice as *const () as usize;
    assert!(matches!(h.run(exec_test_hostcall), GuestExit::Yielded(_)));
    let h = std::thread::spawn(move || {
        let mut h = h;
        assert!(matches!(h.resume(Some(Box::new(20u64))), GuestExit::Yielded(None)));
        h
    })
    .join()
    .unwrap();
    let mut h = h;
    assert!(matches!(h.resume(Some(Box::new(22u64))), GuestExit::Returned));
    assert_eq!(h.result(), 42);
}

/// The resume that sees the guest return is made deeper in the host's stack than the
/// run that entered it, with another float mode: the return must land in that resume,
/// with its registers, its stack and its MXCSR.
#[test]
fn a_resumed_guest_returns_to_the_host_that_resumed_it() {
    #[inline(never)]
    fn resume_deeper(h: &mut Harness, depth: u32, val: u64) -> (GuestExit, u64) {
        let kept = std::hint::black_box([depth as u64, 7, 11, 13]);
        if depth > 0 {
            let (exit, sum) = resume_deeper(h, depth - 1, val);
            return (exit, sum + kept.iter().sum::<u64>());
        }
        let saved = get_mxcsr();
        let host_mode = 0x1f80 | 0x8000 | 0x6000;
        set_mxcsr(host_mode);
        let exit = h.resume(Some(Box::new(val)));
        let after = get_mxcsr();
        set_mxcsr(saved);
        assert_eq!(after & 0xffc0, host_mode & 0xffc0, "the resumer's MXCSR control bits");
        (exit, kept.iter().sum::<u64>())
    }
    let mut h = Harness::new();
    h.vmctx.hostcall = hostcall_yield_twice as *const () as usize;
    assert!(matches!(h.run(exec_test_hostcall), GuestExit::Yielded(_)));
    assert!(matches!(h.resume(Some(Box::new(20u64))), GuestExit::Yielded(None)));
    let (exit, sum) = resume_deeper(&mut h, 5, 22);
    assert!(matches!(exit, GuestExit::Returned), "{exit:?}");
    assert_eq!(sum, (0..=5).map(|d| d + 31).sum::<u64>());
    assert_eq!(h.result(), 42);
    assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
}

extern "C" fn hostcall_yield_once(_vmctx: *mut TestVmctx) -> u64 {
    // SAFETY: called from guest code, on the guest stack.
    unsafe { yield_current(None) };
    0
}

#[test]
fn trap_after_resuming_on_a_fresh_thread() {
    let mut h = Harness::new();
    h.vmctx.hostcall = hostcall_yield_once as *const () as usize;
    assert!(matches!(h.run(exec_test_hostcall_then_recurse), GuestExit::Yielded(None)));
    // The new thread has never run a guest: resume must give it a signal stack big
    // enough for the overflow that follows.
    let mut h = std::thread::spawn(move || {
        let mut h = h;
        assert_eq!(expect_fault(h.resume(None)).0.code, TrapCode::StackOverflow);
        h
    })
    .join()
    .unwrap();
    assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
}

#[test]
fn abandon_a_yielded_guest() {
    let mut h = Harness::new();
    h.vmctx.hostcall = hostcall_yield_twice as *const () as usize;
    assert!(matches!(h.run(exec_test_hostcall), GuestExit::Yielded(_)));
    h.exec.abandon();
    assert!(!h.exec.is_yielded());
    assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
    assert_eq!(h.result(), 42);
    // Dropping a yielded state is fine too.
    assert!(matches!(h.run(exec_test_hostcall), GuestExit::Yielded(_)));
    drop(h);
}

extern "C" fn hostcall_panicking(_vmctx: *mut TestVmctx) -> u64 {
    // SAFETY: called from guest code, on the guest stack.
    unsafe { terminate_on_panic(|| -> u64 { panic!("boom in a hostcall") }) }
}

#[test]
fn hostcall_panic_becomes_termination() {
    let mut h = Harness::new();
    h.vmctx.hostcall = hostcall_panicking as *const () as usize;
    match h.run(exec_test_hostcall) {
        GuestExit::Terminated(TerminationDetails::HostcallPanic(m)) => assert_eq!(m, "boom in a hostcall"),
        other => panic!("expected termination, got {other:?}"),
    }
    assert!(matches!(h.run(exec_test_const), GuestExit::Returned));
    // Outside a guest the panic is an ordinary panic.
    // SAFETY: no guest involved.
    let r = std::panic::catch_unwind(|| unsafe { terminate_on_panic(|| panic!("plain")) });
    assert!(r.is_err());
}

#[test]
#[should_panic(expected = "no guest is running")]
fn terminate_outside_a_guest_panics() {
    // SAFETY: the function panics before doing anything unsafe.
    unsafe { terminate_current(TerminationDetails::Remote) }
}

thread_local! {
    static INNER: std::cell::RefCell<Option<Harness>> = const { std::cell::RefCell::new(None) };
}

/// A hostcall that runs another guest (which traps, then returns) on its own stack.
extern "C" fn hostcall_nested(vmctx: *mut TestVmctx) -> u64 {
    let mut inner = INNER.with(|i| i.borrow_mut().take()).unwrap();
    let trap = expect_fault(inner.run(exec_test_ud2)).0.code;
    assert_eq!(trap, TrapCode::Unreachable);
    // Back in the outer guest's hostcall.
    assert_eq!(current_vmctx(), Some(vmctx as *mut u8));
    assert!(matches!(inner.run(exec_test_const), GuestExit::Returned));
    let r = inner.result();
    INNER.with(|i| *i.borrow_mut() = Some(inner));
    r + 1
}

#[test]
fn nested_run_from_a_hostcall() {
    INNER.with(|i| *i.borrow_mut() = Some(Harness::new()));
    let mut h = Harness::new();
    h.vmctx.hostcall = hostcall_nested as *const () as usize;
    assert!(matches!(h.run(exec_test_hostcall), GuestExit::Returned));
    assert_eq!(h.result(), 43);
    // A trap in the outer guest still works after the inner runs.
    assert_eq!(expect_fault(h.run(exec_test_ud2)).0.code, TrapCode::Unreachable);
    INNER.with(|i| i.borrow_mut().take());
}

// --- Faults that are not guest traps must still kill the process. ---

const CRASH_ENV: &str = "LUCET_EXEC_TEST_CRASH";

extern "C" fn hostcall_faulting(vmctx: *mut TestVmctx) -> u64 {
    // SAFETY: deliberately reads an inaccessible page: a host bug inside a hostcall.
    unsafe { ptr::read_volatile((*vmctx).load_from as *const u64) }
}

/// Runs only when re-executed by `faults_outside_guest_code_crash`.
#[test]
fn crash_child() {
    let Ok(case) = std::env::var(CRASH_ENV) else { return };
    let mut h = Harness::new();
    // Make sure the handlers are installed and have caught a trap already.
    let _ = expect_fault(h.run(exec_test_ud2));
    let page = Mapping::new(PAGE, libc::PROT_NONE);
    eprintln!("about to fault: {case}");
    match case.as_str() {
        "host" => {
            // SAFETY: deliberately faults outside any guest.
            let v = unsafe { ptr::read_volatile(page.base as *const u64) };
            eprintln!("survived a host fault: {v}");
        }
        "hostcall" => {
            h.vmctx.hostcall = hostcall_faulting as *const () as usize;
            h.vmctx.load_from = page.base as usize;
            let exit = h.run(exec_test_hostcall);
            eprintln!("survived a hostcall fault: {exit:?}");
        }
        "ud2-in-host" => {
            // SAFETY: deliberately executes an illegal instruction outside any guest.
            unsafe { core::arch::asm!("ud2") };
        }
        _ => unreachable!(),
    }
    std::process::exit(0);
}

#[test]
fn faults_outside_guest_code_crash() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    for (case, signal) in [("host", libc::SIGSEGV), ("hostcall", libc::SIGSEGV), ("ud2-in-host", libc::SIGILL)] {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "exec::tests::crash_child", "--nocapture", "--test-threads=1"]).env(CRASH_ENV, case);
        // SAFETY: setrlimit is async-signal-safe; no core files from deliberate crashes.
        unsafe {
            cmd.pre_exec(|| {
                let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                libc::setrlimit(libc::RLIMIT_CORE, &zero);
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("about to fault: {case}")), "child did not reach the fault: {stderr}");
        assert!(!stderr.contains("survived"), "child survived: {stderr}");
        assert_eq!(out.status.signal(), Some(signal), "case {case}: child exit {:?}, stderr: {stderr}", out.status);
    }
}

// --- Faults of guest code outside the memory it may access abort the process. ---

const STRAY_ENV: &str = "LUCET_EXEC_TEST_STRAY";

/// Where `stray_child` makes the test code load from.
fn stray_address(case: &str, page: &Mapping) -> usize {
    match case {
        // Mapped, inaccessible, and not one of the run's memories: a neighbour's heap,
        // as far as the run knows.
        "inaccessible" => page.base as usize + 40,
        // Nothing mapped there.
        "null" => 16,
        // Not a canonical address: the CPU raises a general protection fault, which the
        // kernel reports with address 0.
        "non-canonical" => 0x8000_0000_0000_0000,
        _ => unreachable!(),
    }
}

/// Runs only when re-executed by `guest_faults_outside_its_memories_abort`.
#[test]
fn stray_child() {
    let Ok(case) = std::env::var(STRAY_ENV) else { return };
    let mut h = Harness::new();
    let heap = Mapping::new(PAGE, libc::PROT_NONE);
    h.allow_faults_in(&heap);
    // Inside the run's memory, the same load is a trap.
    h.vmctx.load_from = heap.base as usize;
    assert_eq!(expect_fault(h.run(exec_test_load)).0.code, TrapCode::HeapOutOfBounds);
    let page = Mapping::new(PAGE, libc::PROT_NONE);
    h.vmctx.load_from = stray_address(&case, &page);
    eprintln!("about to fault: {case}");
    let exit = h.run(exec_test_load);
    eprintln!("survived a stray fault: {exit:?}");
    std::process::exit(0);
}

fn run_child(test: &str, env: &str, case: &str) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"]).env(env, case);
    // SAFETY: setrlimit is async-signal-safe; no core files from deliberate crashes.
    unsafe {
        cmd.pre_exec(|| {
            let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn guest_faults_outside_its_memories_abort() {
    use std::os::unix::process::ExitStatusExt;
    for case in ["inaccessible", "null", "non-canonical"] {
        let out = run_child("exec::tests::stray_child", STRAY_ENV, case);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("about to fault: {case}")), "child did not reach the fault: {stderr}");
        assert!(!stderr.contains("survived"), "case {case}: a stray fault was reported as a trap: {stderr}");
        let expected = format!("(function 0) raised SIGSEGV at address {:#x}", if case == "null" { 16 } else { 0 });
        assert!(
            stderr.contains("lucet-runtime: fatal: compiled guest code at pc 0x")
                && (case == "inaccessible" || stderr.contains(&expected))
                && stderr.contains("bug in lucetc or lucet-runtime"),
            "case {case}: no message naming the fault: {stderr}"
        );
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "case {case}: child exit {:?}: {stderr}", out.status);
    }
}

// --- Passing a signal to the previous handler leaves ours installed. ---

const CHAIN_ENV: &str = "LUCET_EXEC_TEST_CHAIN";

static PREVIOUS_RAN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Behaves like the handler Rust's standard library installs: for a fault it does not
/// handle, it resets the disposition to the default and returns.
extern "C" fn resetting_handler(signum: libc::c_int, _info: *mut libc::siginfo_t, _uc: *mut libc::c_void) {
    PREVIOUS_RAN.fetch_add(1, Ordering::SeqCst);
    let msg = b"previous handler ran\n";
    // SAFETY: async-signal-safe calls with valid arguments.
    unsafe {
        libc::write(libc::STDERR_FILENO, msg.as_ptr() as *const libc::c_void, msg.len());
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signum, &default, ptr::null_mut());
    }
}

fn current_handler(signum: libc::c_int) -> usize {
    // SAFETY: reads the disposition into a local.
    unsafe {
        let mut now: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(signum, ptr::null(), &mut now), 0);
        now.sa_sigaction
    }
}

/// Runs only when re-executed by `chained_handlers_leave_ours_installed`, in a process
/// where no guest has run yet, so the handler installed here is the one ours replaces.
#[test]
fn chain_child() {
    let Ok(case) = std::env::var(CHAIN_ENV) else { return };
    match case.as_str() {
        // Rust's own handler, installed at startup, is the previous one.
        "rust" => assert_ne!(current_handler(libc::SIGSEGV), libc::SIG_DFL, "no handler of the standard library"),
        "resetting" | "host-fault" => {
            // SAFETY: installs a handler that only makes async-signal-safe calls.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = resetting_handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO;
                libc::sigemptyset(&mut action.sa_mask);
                assert_eq!(libc::sigaction(libc::SIGSEGV, &action, ptr::null_mut()), 0);
            }
        }
        _ => unreachable!(),
    }
    let mut h = Harness::new();
    let heap = Mapping::new(PAGE, libc::PROT_NONE);
    h.allow_faults_in(&heap);
    h.vmctx.load_from = heap.base as usize;
    assert_eq!(expect_fault(h.run(exec_test_load)).0.code, TrapCode::HeapOutOfBounds);
    let ours = current_handler(libc::SIGSEGV);
    if case == "host-fault" {
        eprintln!("about to fault in the host");
        // SAFETY: deliberately faults outside any guest.
        let v = unsafe { ptr::read_volatile(heap.base as *const u64) };
        eprintln!("survived a host fault: {v}");
        std::process::exit(0);
    }
    for round in 1..=2 {
        // Not a fault of the guest: passed on to the previous handler, which resets the
        // disposition and returns.
        // SAFETY: raise is a plain system call; the signal is handled as described.
        assert_eq!(unsafe { libc::raise(libc::SIGSEGV) }, 0);
        assert_eq!(current_handler(libc::SIGSEGV), ours, "round {round}: our handler is gone");
        assert_eq!(expect_fault(h.run(exec_test_load)).0.code, TrapCode::HeapOutOfBounds);
        if case == "resetting" {
            assert_eq!(PREVIOUS_RAN.load(Ordering::SeqCst), round);
        }
    }
    eprintln!("guest faults still trap");
    std::process::exit(0);
}

#[test]
fn chained_handlers_leave_ours_installed() {
    use std::os::unix::process::ExitStatusExt;
    for case in ["rust", "resetting"] {
        let out = run_child("exec::tests::chain_child", CHAIN_ENV, case);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.contains("guest faults still trap"),
            "case {case}: child exit {:?}: {stderr}",
            out.status
        );
    }
    // A fault of the host itself still ends the process once the previous handler has
    // asked for the default action, rather than looping through the handlers.
    let out = run_child("exec::tests::chain_child", CHAIN_ENV, "host-fault");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("about to fault in the host") && !stderr.contains("survived"), "{stderr}");
    assert_eq!(stderr.matches("previous handler ran").count(), 1, "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "child exit {:?}: {stderr}", out.status);
}
