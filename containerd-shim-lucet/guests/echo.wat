;; Prints each of its arguments, then each of its environment variables, one per
;; line: what the container's command and environment reached the guest as.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 8) "\n")

  ;; Writes the NUL-terminated string at $p and a newline, with one fd_write of two
  ;; buffers (the iovecs at 16, the count written at 32).
  (func $puts (param $p i32)
    (local $e i32)
    (local.set $e (local.get $p))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (local.get $e))))
        (local.set $e (i32.add (local.get $e) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 16) (local.get $p))
    (i32.store (i32.const 20) (i32.sub (local.get $e) (local.get $p)))
    (i32.store (i32.const 24) (i32.const 8))
    (i32.store (i32.const 28) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 2) (i32.const 32))))

  ;; Prints the $count strings whose pointers start at $ptrs.
  (func $puts_all (param $count i32) (param $ptrs i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (call $puts (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; Pointers go at 1024, the arguments' bytes at 4096, the environment's at 65536.
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (call $puts_all (i32.load (i32.const 0)) (i32.const 1024))
    (drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
    (drop (call $environ_get (i32.const 1024) (i32.const 65536)))
    (call $puts_all (i32.load (i32.const 0)) (i32.const 1024)))
)
