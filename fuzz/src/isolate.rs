//! Running one case in a child process, so that a crash is a result, not the end of
//! the run.
//!
//! The load target feeds `dlopen` files that may run code of their own or corrupt the
//! loader; until validation before load catches all of that, such a case can take the
//! process down. With isolation, the case runs in a forked child: the parent reads its
//! verdict from a pipe, and turns a death by signal into a failure that names the
//! signal. Forking a multi-threaded process is sound for this use: the child only runs
//! the case (glibc keeps `malloc` and the loader's locks usable across `fork`) and
//! leaves with `_exit`, never returning into the parent's code.

use crate::Verdict;
use std::io::Read;
use std::os::fd::FromRawFd;

/// A child that has not answered by then is killed: a hang is a finding too.
const CHILD_TIMEOUT_MS: i32 = 30_000;

/// Runs `case` in a child process and returns its verdict.
pub fn in_child(case: impl FnOnce() -> Verdict) -> Verdict {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for `pipe2` to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Verdict::Fail(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    // SAFETY: the child only runs `case`, writes its verdict and calls `_exit`; it
    // never returns into code that assumes the parent's other threads exist.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Verdict::Fail(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        crate::crash_report::quiet();
        let verdict = crate::catch_panic("the case", case).unwrap_or_else(Verdict::Fail);
        let msg = match verdict {
            Verdict::Pass(l) => format!("P{l}"),
            Verdict::Skip(l) => format!("S{l}"),
            Verdict::Fail(m) => format!("F{m}"),
        };
        // SAFETY: writes from a live buffer to the pipe this child owns, then leaves
        // without running destructors or `atexit` handlers that belong to the parent.
        unsafe {
            libc::write(write_fd, msg.as_ptr().cast(), msg.len());
            libc::_exit(0);
        }
    }
    // SAFETY: `write_fd` is ours and closed exactly once here; `read_fd` is ours and
    // owned by the `File` from now on.
    let mut reader = unsafe {
        libc::close(write_fd);
        std::fs::File::from_raw_fd(read_fd)
    };
    let mut pollfd = libc::pollfd {
        fd: read_fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` for the pipe we own.
    let ready = unsafe { libc::poll(&mut pollfd, 1, CHILD_TIMEOUT_MS) };
    let mut msg = String::new();
    if ready > 0 {
        let _ = reader.read_to_string(&mut msg);
    } else {
        // SAFETY: `pid` is our child, not yet reaped, so the id cannot have been reused.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut status = 0;
    // SAFETY: waits for the child created above; `status` is a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if ready <= 0 {
        return Verdict::Fail(format!(
            "the case did not finish within {} s",
            CHILD_TIMEOUT_MS / 1000
        ));
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        return Verdict::Fail(format!(
            "the process died of signal {sig} ({})",
            signal_name(sig)
        ));
    }
    if msg.is_empty() {
        return Verdict::Fail(format!(
            "the process exited ({status:#x}) without a verdict"
        ));
    }
    let (tag, rest) = msg.split_at(1);
    match tag {
        "P" => Verdict::Pass(intern(rest)),
        "S" => Verdict::Skip(intern(rest)),
        _ => Verdict::Fail(rest.to_string()),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        _ => "another signal",
    }
}

/// Labels cross the pipe as text; the set of labels is small and fixed, so leaking
/// each distinct one once is bounded.
fn intern(label: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static LABELS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut set = LABELS.lock().unwrap_or_else(|e| e.into_inner());
    let set = set.get_or_insert_with(HashSet::new);
    if let Some(l) = set.get(label) {
        return l;
    }
    let leaked: &'static str = Box::leak(label.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}
