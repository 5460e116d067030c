;; The guest of the exception-handling benchmarks. Every export repeats its operation
;; `n` times inside the guest and returns a sum of the results, so the host-to-guest
;; call is spread over `n` operations and nothing can be left out as unused.
(module
  (tag $e (param i32))

  ;; A throw caught by a handler of the same function.
  (func (export "throw_local") (param $n i32) (result i32)
    (local $sum i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $sum
          (i32.add (local.get $sum)
            (block $caught (result i32)
              (try_table (catch $e $caught)
                (throw $e (local.get $n)))
              (i32.const 0))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $sum))

  ;; Calls itself until `depth` is 0, then throws: `depth + 1` frames of `$down` lie
  ;; between the throw and the handler of whoever called `$down` first.
  (func $down (param $depth i32)
    (if (i32.eqz (local.get $depth))
      (then (throw $e (i32.const 1))))
    (call $down (i32.sub (local.get $depth) (i32.const 1))))

  ;; A throw caught 10 frames up: the handler's function calls `$down` with 9, and the
  ;; throw in `$down(0)` unwinds the 10 frames `$down(0)` to `$down(9)`.
  (func (export "throw_10_frames") (param $n i32) (result i32)
    (local $sum i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $sum
          (i32.add (local.get $sum)
            (block $caught (result i32)
              (try_table (catch $e $caught)
                (call $down (i32.const 9)))
              (i32.const 0))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $sum))

  ;; The callee of the call loops below: small, and it never throws.
  (func $leaf (param i32) (result i32)
    (i32.add (local.get 0) (i32.const 1)))

  ;; `n` plain calls.
  (func (export "call_plain") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (call $leaf (local.get $acc)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc))

  ;; The same `n` calls, each inside a `try_table` with a handler that never runs.
  (func (export "call_try_table") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc
          (block $caught (result i32)
            (try_table (result i32) (catch $e $caught)
              (call $leaf (local.get $acc)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc)))
