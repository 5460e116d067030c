//! Resetting heaps in a child process forked without `exec`. Alone in its own test
//! binary: the child keeps running Rust code after `fork`, which is only reliable when
//! no other test thread holds a lock at that moment.

mod common;
use common::*;
use lucet_runtime::{DlModule, InstanceHandle, Limits, MmapRegion, Region};
use std::sync::Arc;

/// Two wasm pages (32 host pages): large enough that a reset asks the page map which
/// pages were written, on kernels with and without `PAGEMAP_SCAN`.
const GUEST: &str = r#"(module (memory 2)
  (func (export "dirty") (local $a i32)
    (loop $l
      (i32.store8 (local.get $a) (i32.const 0xab))
      (local.set $a (i32.add (local.get $a) (i32.const 4096)))
      (br_if $l (i32.lt_u (local.get $a) (i32.const 131072))))))"#;

fn is_clean(inst: &InstanceHandle) -> bool {
    inst.heap().iter().all(|&b| b == 0)
}

/// Dirties a fresh instance's heap, resets it, and checks that it and the next
/// instance in the same slot start clean. Returns the first failed check, if any.
fn dirty_reset_check(module: &Arc<DlModule>) -> Result<(), &'static str> {
    let region = MmapRegion::create(1, &Limits::default()).map_err(|_| "create a region")?;
    let mut inst = region.new_instance(module.clone()).map_err(|_| "instantiate")?;
    inst.run("dirty", &[]).map_err(|_| "run")?;
    if is_clean(&inst) {
        return Err("the guest did not write its heap");
    }
    inst.reset().map_err(|_| "reset")?;
    if !is_clean(&inst) {
        return Err("a reset left the guest's data in the heap");
    }
    inst.run("dirty", &[]).map_err(|_| "run")?;
    drop(inst);
    let inst = region.new_instance(module.clone()).map_err(|_| "instantiate again")?;
    if !is_clean(&inst) {
        return Err("the next instance in the slot saw the previous guest's data");
    }
    Ok(())
}

#[test]
fn a_forked_child_resets_heaps_with_its_own_page_map() {
    let module = DlModule::load(compile_wat(GUEST)).unwrap();
    // In the parent first, which also opens the page map before the fork.
    dirty_reset_check(&module).unwrap();

    let mut fds = [0; 2];
    // SAFETY: a pipe into a local array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let [read_fd, write_fd] = fds;
    // SAFETY: this binary runs this one test, so no other thread holds a lock the child
    // needs; the child ends with `_exit`, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let result = std::panic::catch_unwind(|| dirty_reset_check(&module));
        let message = match result {
            Ok(Ok(())) => "ok",
            Ok(Err(failed)) => failed,
            Err(_) => "the check panicked",
        };
        // SAFETY: writing a static string to our pipe, then leaving without unwinding.
        unsafe {
            libc::write(write_fd, message.as_ptr() as *const _, message.len());
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the write end, so the read below ends with the child.
    unsafe { libc::close(write_fd) };
    let mut buf = [0u8; 256];
    let mut got = 0;
    loop {
        // SAFETY: reading into the unfilled rest of a local buffer.
        let n = unsafe { libc::read(read_fd, buf[got..].as_mut_ptr() as *mut _, buf.len() - got) };
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    // SAFETY: our own descriptor.
    unsafe { libc::close(read_fd) };
    let message = String::from_utf8_lossy(&buf[..got]);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child died: status {status:#x}");
    assert_eq!(message, "ok", "in the forked child");
}
