//! The compiled-module cache trusts an entry only if the current user wrote it, nobody
//! else can change it, and it was compiled from exactly the module asked for with
//! exactly the options asked for. Anything else is compiled again and replaced, and
//! a directory that others control is refused.

use lucet_runtime::{DlModule, Limits, MmapRegion, Region};
use lucet_wasi::cache::{Cache, CacheError, CompileOptions, Rejected};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

const ANSWER_1: &str = r#"(module (func (export "answer") (result i32) (i32.const 1)))"#;
const ANSWER_2: &str = r#"(module (func (export "answer") (result i32) (i32.const 2)))"#;

/// A uid that is not the current user's, for tests that need root to chown.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn answer(module: Arc<DlModule>) -> i32 {
    let region = MmapRegion::create(1, &Limits::default()).unwrap();
    let mut inst = region.new_instance(module).unwrap();
    inst.run("answer", &[]).unwrap().unwrap_returned().as_i32()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn an_entry_is_reused_when_it_can_be_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(tmp.path().join("lucet")).unwrap();
    let opts = CompileOptions::default();
    let first = cache.load_or_compile(ANSWER_1.as_bytes(), &opts).unwrap();
    assert_eq!(first.rejected, None);
    assert_eq!(mode(&first.path), 0o600);
    let when = std::fs::metadata(&first.path).unwrap().modified().unwrap();
    assert_eq!(answer(first.module), 1);
    let again = cache.load_or_compile(ANSWER_1.as_bytes(), &opts).unwrap();
    assert_eq!(again.rejected, None);
    assert_eq!(again.path, first.path);
    assert_eq!(
        std::fs::metadata(&again.path).unwrap().modified().unwrap(),
        when
    );
    assert_eq!(answer(again.module), 1);
}

#[test]
fn a_planted_module_is_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(tmp.path().join("lucet")).unwrap();
    let opts = CompileOptions::default();
    // A valid module, owned by this user and private, under the name of another.
    let entry = cache.entry_path(ANSWER_1.as_bytes(), &opts);
    opts.compile(ANSWER_2.as_bytes(), &entry).unwrap();
    chmod(&entry, 0o600);
    let loaded = cache.load_or_compile(ANSWER_1.as_bytes(), &opts).unwrap();
    assert_eq!(loaded.rejected, Some(Rejected::OtherSource));
    assert_eq!(answer(loaded.module), 1);
    // Replaced, so the next run trusts it.
    let loaded = cache.load_or_compile(ANSWER_1.as_bytes(), &opts).unwrap();
    assert_eq!(loaded.rejected, None);
    assert_eq!(answer(loaded.module), 1);
}

#[test]
fn entries_others_could_change_are_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(tmp.path().join("lucet")).unwrap();
    let opts = CompileOptions::default();
    let entry = cache
        .load_or_compile(ANSWER_1.as_bytes(), &opts)
        .unwrap()
        .path;

    for m in [0o666, 0o620, 0o602] {
        chmod(&entry, m);
        let loaded = cache.load_or_compile(ANSWER_1.as_bytes(), &opts).unwrap();
        assert_eq!(loaded.rejected, Some(Rejected::Writable { mode: m }));
        assert_eq!(mode(&entry), 0o600);
        assert_eq!(answer(loaded.module), 1);
    }

    // A symbolic link, even to a good module.
    let elsewhere = tmp.path().join("elsewhere.so");
    std::fs::copy(&entry, &elsewhere).unwrap();
    std::fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    let loaded = cache.load_or_compile(ANSWER_1.as_bytes(), &opts).unwrap();
    assert_eq!(loaded.rejected, Some(Rejected::NotAFile));
    assert!(std::fs::symlink_metadata(&entry)
        .unwrap()
        .file_type()
        .is_file());
    // The module stays mapped while it is loaded: unload it before the file is
    // replaced under the same name.
    drop(loaded);

    // Garbage.
    std::fs::remove_file(&entry).unwrap();
    std::fs::write(&entry, b"\x7fELF garbage").unwrap();
    chmod(&entry, 0o600);
    let loaded = cache.load_or_compile(ANSWER_1.as_bytes(), &opts).unwrap();
    assert!(
        matches!(loaded.rejected, Some(Rejected::Unloadable(_))),
        "{:?}",
        loaded.rejected
    );
    assert_eq!(answer(loaded.module), 1);

    if is_root() {
        std::os::unix::fs::chown(&entry, Some(NOBODY), None).unwrap();
        let loaded = cache.load_or_compile(ANSWER_1.as_bytes(), &opts).unwrap();
        assert_eq!(loaded.rejected, Some(Rejected::Owner { owner: NOBODY }));
        assert_eq!(std::fs::metadata(&entry).unwrap().uid(), 0);
    }
}

#[test]
fn directories_others_control_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let created = tmp.path().join("a/b/lucet");
    Cache::open(&created).unwrap();
    assert_eq!(mode(&created), 0o700);

    for m in [0o777, 0o770, 0o1777, 0o702] {
        let dir = tmp.path().join(format!("shared-{m:o}"));
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, m);
        match Cache::open(&dir) {
            Err(e @ CacheError::DirWritable { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("writable by other users") && msg.contains("chmod go-w"),
                    "{msg}"
                );
            }
            other => panic!("mode {m:o}: expected a refusal, got {other:?}"),
        }
        // Nothing was changed or written.
        assert_eq!(mode(&dir), m);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    assert!(Cache::open(&file).is_err());

    if is_root() {
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        chmod(&theirs, 0o700);
        std::os::unix::fs::chown(&theirs, Some(NOBODY), None).unwrap();
        assert!(matches!(
            Cache::open(&theirs),
            Err(CacheError::DirOwner { owner: NOBODY, .. })
        ));
    }
}

#[test]
fn entries_differ_by_module_and_by_option() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(tmp.path().join("lucet")).unwrap();
    let base = CompileOptions::default();
    let options = [
        base.clone(),
        base.clone().with_opt_level(lucetc::OptLevel::None),
        base.clone().with_target_cpu(lucetc::TargetCpu::Native),
        base.clone().with_reserved_size(1 << 20),
        base.clone().with_guard_size(64 << 10),
        base.clone().with_linker(lucet_wasi::cache::Linker::System),
    ];
    let mut paths: Vec<_> = options
        .iter()
        .map(|o| cache.entry_path(ANSWER_1.as_bytes(), o))
        .collect();
    paths.push(cache.entry_path(ANSWER_2.as_bytes(), &base));
    paths.push(cache.entry_path(b"(module)", &base));
    let distinct: std::collections::HashSet<_> = paths.iter().collect();
    assert_eq!(distinct.len(), paths.len());
    assert!(paths.iter().all(|p| p.parent() == Some(cache.dir())));

    // Two option sets, two entries, each compiled with its own options.
    let with_memory = r#"(module (memory 1) (func (export "answer") (result i32) (i32.const 1)))"#;
    let small = base.clone().with_reserved_size(1 << 20).with_guard_size(0);
    let a = cache
        .load_or_compile(with_memory.as_bytes(), &base)
        .unwrap();
    let b = cache
        .load_or_compile(with_memory.as_bytes(), &small)
        .unwrap();
    assert_ne!(a.path, b.path);
    assert_eq!((a.rejected, b.rejected), (None, None));
    assert_eq!(std::fs::read_dir(cache.dir()).unwrap().count(), 2);
    let plan = |m: &DlModule| {
        let p = &m.module_data().memory_plans[0];
        (p.reserved_size, p.guard_size)
    };
    assert_eq!(
        plan(&a.module),
        (lucetc::DEFAULT_RESERVED_SIZE, lucetc::DEFAULT_GUARD_SIZE)
    );
    assert_eq!(plan(&b.module), (1 << 20, 0));
}

#[test]
fn the_source_hash_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let so = tmp.path().join("m.so");
    CompileOptions::default()
        .compile(ANSWER_1.as_bytes(), &so)
        .unwrap();
    let m = DlModule::load(&so).unwrap();
    assert_eq!(
        m.module_data().source_hash,
        Some(lucet_wasi::cache::source_hash(ANSWER_1.as_bytes()))
    );
}
