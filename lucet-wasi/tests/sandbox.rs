//! A guest must not reach anything outside its preopened directory: not by `..`,
//! not by absolute paths, not through symlinks (its own or planted ones), not by
//! hard links or renames. Each attempt gets the errno Wasmtime gives (EPERM for a
//! path that leaves the sandbox) and leaves the outside untouched.

mod common;

use common::{call, put, SCRATCH};
use lucet_runtime::{InstanceHandle, Val};
use lucet_wasi::types::Errno;
use lucet_wasi::WasiCtxBuilder;
use std::path::Path;

const PREOPEN: i32 = 3;
const FOLLOW: i32 = 1;
const NOFOLLOW: i32 = 0;
const PERM: i32 = Errno::PERM.0 as i32;

struct Sandbox {
    _tmp: tempfile::TempDir,
    outside: std::path::PathBuf,
    inst: InstanceHandle,
}

/// `tmp/outside.txt` (the secret), `tmp/box/` (preopened as `/`) holding `inside.txt`,
/// `sub/`, and planted symlinks `up -> ../outside.txt`, `abs -> /abs/path/outside.txt`,
/// `updir -> ..`.
fn sandbox() -> Sandbox {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside.txt");
    std::fs::write(&outside, "secret").unwrap();
    let bx = tmp.path().join("box");
    std::fs::create_dir_all(bx.join("sub")).unwrap();
    std::fs::write(bx.join("inside.txt"), "inside").unwrap();
    std::os::unix::fs::symlink("../outside.txt", bx.join("up")).unwrap();
    std::os::unix::fs::symlink(&outside, bx.join("abs")).unwrap();
    std::os::unix::fs::symlink("..", bx.join("updir")).unwrap();
    let ctx = WasiCtxBuilder::new()
        .preopened_dir(&bx, "/")
        .build()
        .unwrap();
    let inst = common::instance("paths.wat", ctx);
    Sandbox {
        _tmp: tmp,
        outside,
        inst,
    }
}

fn open(s: &mut Sandbox, lookup: i32, path: &str) -> i32 {
    let (p, l) = put(&mut s.inst, SCRATCH, path);
    call(
        &mut s.inst,
        "open",
        &[PREOPEN.into(), lookup.into(), p, l, Val::I32(0)],
    )
}

fn two_paths(s: &mut Sandbox, func: &str, a: &str, b: &str) -> i32 {
    let (pa, la) = put(&mut s.inst, SCRATCH, a);
    let (pb, lb) = put(&mut s.inst, SCRATCH + 512, b);
    let args: Vec<Val> = match func {
        "symlink" => vec![pa, la, PREOPEN.into(), pb, lb],
        _ => vec![PREOPEN.into(), pa, la, PREOPEN.into(), pb, lb],
    };
    call(&mut s.inst, func, &args)
}

#[test]
fn inside_is_reachable() {
    let mut s = sandbox();
    assert_eq!(open(&mut s, FOLLOW, "inside.txt"), 0);
    let fd = call(&mut s.inst, "opened", &[]);
    assert_eq!(call(&mut s.inst, "read", &[fd.into()]), 0);
    assert_eq!(call(&mut s.inst, "read_count", &[]), 6);
    assert_eq!(&s.inst.heap()[4096..4102], b"inside");
    assert_eq!(open(&mut s, FOLLOW, "sub/../inside.txt"), 0);
}

#[test]
fn dotdot_cannot_escape() {
    let mut s = sandbox();
    assert_eq!(open(&mut s, FOLLOW, "../outside.txt"), PERM);
    assert_eq!(open(&mut s, FOLLOW, "sub/../../outside.txt"), PERM);
    assert_eq!(open(&mut s, FOLLOW, ".."), PERM);
    let (p, l) = put(&mut s.inst, SCRATCH, "../outside.txt");
    assert_eq!(
        call(&mut s.inst, "stat", &[PREOPEN.into(), FOLLOW.into(), p, l]),
        PERM
    );
}

#[test]
fn absolute_paths_cannot_escape() {
    let mut s = sandbox();
    let abs = s.outside.to_string_lossy().into_owned();
    assert_eq!(open(&mut s, FOLLOW, &abs), PERM);
    assert_eq!(open(&mut s, FOLLOW, "/etc/passwd"), PERM);
    assert_eq!(open(&mut s, FOLLOW, "/inside.txt"), PERM);
}

#[test]
fn planted_symlinks_cannot_escape() {
    let mut s = sandbox();
    assert_eq!(open(&mut s, FOLLOW, "up"), PERM, "relative symlink out");
    assert_eq!(open(&mut s, FOLLOW, "abs"), PERM, "absolute symlink out");
    assert_eq!(
        open(&mut s, FOLLOW, "updir/outside.txt"),
        PERM,
        "symlink to the parent"
    );
    // Not following the final symlink is not an escape either: it is ELOOP, as
    // O_NOFOLLOW reports.
    assert_eq!(open(&mut s, NOFOLLOW, "up"), Errno::LOOP.0 as i32);
    let (p, l) = put(&mut s.inst, SCRATCH, "up");
    assert_eq!(
        call(&mut s.inst, "stat", &[PREOPEN.into(), FOLLOW.into(), p, l]),
        PERM
    );
    assert_eq!(
        call(
            &mut s.inst,
            "stat",
            &[PREOPEN.into(), NOFOLLOW.into(), p, l]
        ),
        0,
        "lstat of the link itself"
    );
}

#[test]
fn guest_made_symlinks_cannot_escape() {
    let mut s = sandbox();
    let abs = s.outside.to_string_lossy().into_owned();
    // Whether or not creating such a link is refused, following it must be.
    let made = two_paths(&mut s, "symlink", &abs, "mine");
    assert!(
        made == 0 || made == PERM,
        "symlink to an absolute path: errno {made}"
    );
    if made == 0 {
        assert_eq!(open(&mut s, FOLLOW, "mine"), PERM);
    }
    let made = two_paths(&mut s, "symlink", "../outside.txt", "mine2");
    assert!(made == 0 || made == PERM, "symlink to ..: errno {made}");
    if made == 0 {
        assert_eq!(open(&mut s, FOLLOW, "mine2"), PERM);
        assert_eq!(open(&mut s, FOLLOW, "sub/../mine2"), PERM);
    }
}

#[test]
fn hard_links_cannot_escape() {
    let mut s = sandbox();
    assert_eq!(two_paths(&mut s, "link", "../outside.txt", "stolen"), PERM);
    assert!(!s.outside.parent().unwrap().join("box/stolen").exists());
    assert_eq!(two_paths(&mut s, "link", "inside.txt", "../planted"), PERM);
    assert!(!s.outside.parent().unwrap().join("planted").exists());
    // A link through a planted symlink to the parent is refused too.
    assert_eq!(
        two_paths(&mut s, "link", "updir/outside.txt", "stolen"),
        PERM
    );
}

#[test]
fn renames_and_removals_cannot_escape() {
    let mut s = sandbox();
    let parent = s.outside.parent().unwrap().to_owned();
    assert_eq!(
        two_paths(&mut s, "rename", "inside.txt", "../moved.txt"),
        PERM
    );
    assert!(!parent.join("moved.txt").exists());
    assert_eq!(
        two_paths(&mut s, "rename", "../outside.txt", "taken.txt"),
        PERM
    );
    let (p, l) = put(&mut s.inst, SCRATCH, "../outside.txt");
    assert_eq!(call(&mut s.inst, "unlink", &[PREOPEN.into(), p, l]), PERM);
    let (p, l) = put(&mut s.inst, SCRATCH, "../newdir");
    assert_eq!(call(&mut s.inst, "mkdir", &[PREOPEN.into(), p, l]), PERM);
    assert!(!parent.join("newdir").exists());
    assert_eq!(std::fs::read_to_string(&s.outside).unwrap(), "secret");
    assert!(Path::new(&parent).join("box/inside.txt").exists());
}

#[test]
fn readlink_shows_targets_without_following_them() {
    let mut s = sandbox();
    let (p, l) = put(&mut s.inst, SCRATCH, "up");
    assert_eq!(call(&mut s.inst, "readlink", &[PREOPEN.into(), p, l]), 0);
    let n = call(&mut s.inst, "read_count", &[]) as usize;
    assert_eq!(&s.inst.heap()[4096..4096 + n], b"../outside.txt");
}
