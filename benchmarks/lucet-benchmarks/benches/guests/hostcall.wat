;; Calls the host's empty function `n` times, so the cost of one guest-to-host
;; call is the run time divided by `n`.
(module
  (import "bench_host" "nop" (func $nop))
  (memory 1)
  (func (export "call_host") (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (call $nop)
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))))
