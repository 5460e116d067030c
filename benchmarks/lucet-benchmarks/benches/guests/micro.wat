;; The guest of the runtime micro-benchmarks: as little code as possible, so the
;; figures are the runtime's own costs. 17 pages of memory leave room to dirty 256
;; host pages; the data segment gives instantiation an image to map.
(module
  (memory (export "memory") 17)
  (global $counter (mut i32) (i32.const 0))
  (table 4 funcref)
  (elem (i32.const 0) $empty $trap)
  (data (i32.const 1024) "lucet micro-benchmark guest data segment")

  (func $empty (export "empty"))

  ;; Writes one byte into each of the first `n` 4 KiB host pages.
  (func (export "dirty") (param $n i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.mul (local.get $i) (i32.const 4096)) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func $trap (export "trap") unreachable)

  ;; Never returns: what a kill switch has to stop.
  (func (export "spin") (loop $forever (br $forever)))

  (func (export "add") (param i32 i32) (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (i32.add (local.get 0) (local.get 1))))
