;; The realtime clock as a guest reads it, directly and through an absolute
;; poll_oneoff deadline, for the test of a caller-supplied wall clock.
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; Reads clock $id; traps on an error so the test sees only values.
  (func (export "read") (param $id i32) (result i64)
    (if (call $clock_time_get (local.get $id) (i64.const 1) (i32.const 0)) (then unreachable))
    (i64.load (i32.const 0)))

  ;; Waits until the realtime clock reaches $at: one subscription at 128 with the
  ;; abstime flag, the event at 256, the count at 8.
  (func (export "wait_until") (param $at i64) (result i32)
    (i64.store (i32.const 128) (i64.const 7))
    (i32.store8 (i32.const 136) (i32.const 0))
    (i32.store (i32.const 144) (i32.const 0))
    (i64.store (i32.const 152) (local.get $at))
    (i64.store (i32.const 160) (i64.const 0))
    (i32.store16 (i32.const 168) (i32.const 1))
    (call $poll_oneoff (i32.const 128) (i32.const 256) (i32.const 1) (i32.const 8)))
)
