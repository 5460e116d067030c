;; Thin wrappers over the WASI path calls, so tests can try any path against a
;; preopened directory and see the errno.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get"
    (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link"
    (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_readlink"
    (func $path_readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; The opened descriptor is stored at address 0.
  (func (export "open") (param $fd i32) (param $lookup i32) (param $p i32) (param $l i32) (param $oflags i32) (result i32)
    (call $path_open (local.get $fd) (local.get $lookup) (local.get $p) (local.get $l) (local.get $oflags)
      (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 0)))
  (func (export "opened") (result i32) (i32.load (i32.const 0)))

  ;; Reads up to 256 bytes from $fd into address 4096; the count is at address 8.
  (func (export "read") (param $fd i32) (result i32)
    (i32.store (i32.const 16) (i32.const 4096))
    (i32.store (i32.const 20) (i32.const 256))
    (call $fd_read (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 8)))
  (func (export "read_count") (result i32) (i32.load (i32.const 8)))

  (func (export "stat") (param $fd i32) (param $lookup i32) (param $p i32) (param $l i32) (result i32)
    (call $path_filestat_get (local.get $fd) (local.get $lookup) (local.get $p) (local.get $l) (i32.const 64)))
  (func (export "link") (param $ofd i32) (param $op i32) (param $ol i32) (param $nfd i32) (param $np i32) (param $nl i32) (result i32)
    (call $path_link (local.get $ofd) (i32.const 0) (local.get $op) (local.get $ol) (local.get $nfd) (local.get $np) (local.get $nl)))
  (func (export "symlink") (param $op i32) (param $ol i32) (param $fd i32) (param $np i32) (param $nl i32) (result i32)
    (call $path_symlink (local.get $op) (local.get $ol) (local.get $fd) (local.get $np) (local.get $nl)))
  (func (export "rename") (param $fd i32) (param $op i32) (param $ol i32) (param $nfd i32) (param $np i32) (param $nl i32) (result i32)
    (call $path_rename (local.get $fd) (local.get $op) (local.get $ol) (local.get $nfd) (local.get $np) (local.get $nl)))
  (func (export "mkdir") (param $fd i32) (param $p i32) (param $l i32) (result i32)
    (call $path_create_directory (local.get $fd) (local.get $p) (local.get $l)))
  (func (export "unlink") (param $fd i32) (param $p i32) (param $l i32) (result i32)
    (call $path_unlink_file (local.get $fd) (local.get $p) (local.get $l)))
  (func (export "readlink") (param $fd i32) (param $p i32) (param $l i32) (result i32)
    (call $path_readlink (local.get $fd) (local.get $p) (local.get $l) (i32.const 4096) (i32.const 256) (i32.const 8)))
)
