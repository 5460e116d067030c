;; A guest for the command-line tests: each export exercises one behaviour of
;; `lucet-wasi` (entry point, exit status, arguments, environment, --invoke,
;; traps, timeouts, preopened directories).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "hello\n")
  (data (i32.const 1100) "data.txt")
  (data (i32.const 1200) "\n")

  (func $print (param $p i32) (param $l i32)
    (i32.store (i32.const 16) (local.get $p))
    (i32.store (i32.const 20) (local.get $l))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8))))

  (func (export "_start") (call $print (i32.const 1024) (i32.const 6)))

  (func (export "exit_args_count")
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (call $proc_exit (i32.load (i32.const 0))))
  (func (export "exit_env_count")
    (drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
    (call $proc_exit (i32.load (i32.const 0))))

  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "add64") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "fmul") (param f64 f64) (result f64) (f64.mul (local.get 0) (local.get 1)))
  (func (export "trap") unreachable)
  (func (export "spin") (loop $l (br $l)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func $depth (export "depth") (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (i32.add (call $depth (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))
      (else (i32.const 0))))

  ;; Prints the name of preopen 3, a newline, then the contents of data.txt in it.
  (func (export "read_file")
    (local $fd i32)
    (if (call $fd_prestat_get (i32.const 3) (i32.const 32)) (then (call $proc_exit (i32.const 40))))
    (drop (call $fd_prestat_dir_name (i32.const 3) (i32.const 2048) (i32.load (i32.const 36))))
    (call $print (i32.const 2048) (i32.load (i32.const 36)))
    (call $print (i32.const 1200) (i32.const 1))
    (if (call $path_open (i32.const 3) (i32.const 1) (i32.const 1100) (i32.const 8) (i32.const 0)
          (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0))
      (then (call $proc_exit (i32.const 41))))
    (local.set $fd (i32.load (i32.const 0)))
    (i32.store (i32.const 16) (i32.const 4096))
    (i32.store (i32.const 20) (i32.const 1024))
    (if (call $fd_read (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 8)) (then (call $proc_exit (i32.const 42))))
    (call $print (i32.const 4096) (i32.load (i32.const 8))))
)
