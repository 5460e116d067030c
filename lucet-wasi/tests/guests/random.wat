;; Two random_get calls of different lengths into adjacent buffers, for the test
;; of a caller-supplied random source. The bytes land at 4096 onwards.
(module
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; Fills [4096, 4096+a) and then [4096+a, 4096+a+b); returns the first non-zero
  ;; errno, or 0.
  (func (export "twice") (param $a i32) (param $b i32) (result i32)
    (local $e i32)
    (local.set $e (call $random_get (i32.const 4096) (local.get $a)))
    (if (local.get $e) (then (return (local.get $e))))
    (call $random_get (i32.add (i32.const 4096) (local.get $a)) (local.get $b))))
