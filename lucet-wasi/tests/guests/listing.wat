;; A guest for the tests of the command line's Wasmtime conventions: `_start` prints
;; every preopened directory ("preopen NAME") and then every environment variable
;; ("env K=V"), one a line; the other exports serve --invoke and exit statuses.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "preopen ")
  (data (i32.const 1040) "env ")
  (data (i32.const 1050) "\n")

  (func $print (param $p i32) (param $l i32)
    (i32.store (i32.const 16) (local.get $p))
    (i32.store (i32.const 20) (local.get $l))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $n))

  (func (export "_start")
    (local $fd i32) (local $i i32) (local $count i32) (local $s i32)
    ;; Preopens are numbered from 3 on, without gaps.
    (local.set $fd (i32.const 3))
    (block $end
      (loop $next
        (br_if $end (call $fd_prestat_get (local.get $fd) (i32.const 32)))
        (drop (call $fd_prestat_dir_name (local.get $fd) (i32.const 2048) (i32.load (i32.const 36))))
        (call $print (i32.const 1024) (i32.const 8))
        (call $print (i32.const 2048) (i32.load (i32.const 36)))
        (call $print (i32.const 1050) (i32.const 1))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))
    (drop (call $environ_sizes_get (i32.const 40) (i32.const 44)))
    (local.set $count (i32.load (i32.const 40)))
    ;; The pointers go at 8192, the strings at 16384.
    (drop (call $environ_get (i32.const 8192) (i32.const 16384)))
    (block $end2
      (loop $each
        (br_if $end2 (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $s (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $i) (i32.const 2)))))
        (call $print (i32.const 1040) (i32.const 4))
        (call $print (local.get $s) (call $strlen (local.get $s)))
        (call $print (i32.const 1050) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))

  (func (export "exit") (param i32) (call $proc_exit (local.get 0)))
  (func (export "two") (result i32 i64) (i32.const -1) (i64.const 7))
  (func (export "f32") (param f32) (result f32) (local.get 0))
  (func (export "none"))
)
