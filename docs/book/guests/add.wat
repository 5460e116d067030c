;; The guest of the embedding chapters: plain exports, no imports.
(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 1024) "hello from the guest\00")

  ;; add(a, b) = a + b
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))

  ;; The address of a NUL-terminated string in linear memory.
  (func (export "greeting") (result i32)
    (i32.const 1024))

  ;; The sum of `len` bytes at `ptr`: the host writes them first.
  (func (export "sum_bytes") (param $ptr i32) (param $len i32) (result i32)
    (local $sum i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (local.set $sum (i32.add (local.get $sum) (i32.load8_u (local.get $ptr))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (local.get $sum))

  ;; How many times it was called since the instance was created or reset.
  (func (export "calls") (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (global.get $calls))

  ;; Never returns: for the kill switch and timeouts.
  (func (export "spin")
    (loop $forever (br $forever)))

  ;; Traps.
  (func (export "divide") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))
)
