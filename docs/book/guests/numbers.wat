;; A guest that asks the host for numbers, one call at a time.
(module
  (import "env" "next_number" (func $next_number (result i32)))

  ;; The sum of the next three numbers.
  (func (export "sum3") (result i32)
    (i32.add (call $next_number) (i32.add (call $next_number) (call $next_number))))
)
