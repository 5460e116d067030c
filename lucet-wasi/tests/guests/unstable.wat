;; A snapshot-0 (`wasi_unstable`) program: writes to a file, seeks with the old
;; whence numbering, reads the size from the old filestat layout, and exits.
(module
  (import "wasi_unstable" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_unstable" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "hello, snapshot 0\n")
  (data (i32.const 1100) "out.txt")

  (func (export "hello") (result i32)
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 18))
    (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))

  ;; Creates out.txt in preopen 3, writes the greeting, and returns the position
  ;; after seeking 5 bytes back from the end (whence END is 1 in snapshot 0).
  (func (export "seek_end") (result i64)
    (local $fd i32)
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 1100) (i32.const 7) (i32.const 1)
          (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 0))
      (then unreachable))
    (local.set $fd (i32.load (i32.const 0)))
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 18))
    (if (call $fd_write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 8)) (then unreachable))
    (if (call $fd_seek (local.get $fd) (i64.const -5) (i32.const 1) (i32.const 32)) (then unreachable))
    (i64.load (i32.const 32)))

  ;; Size of out.txt from the snapshot-0 filestat (size is at offset 24 there).
  (func (export "size") (result i64)
    (if (call $fd_filestat_get (i32.load (i32.const 0)) (i32.const 128)) (then unreachable))
    (i64.load (i32.const 152)))

  (func (export "_start") (call $proc_exit (i32.const 9)))
)
