;; A guest that imports a function from the host.
(module
  (import "env" "double" (func $double (param i32) (result i32)))
  (memory (export "memory") 1)

  ;; quadruple(x) = double(double(x)), computed by the host.
  (func (export "quadruple") (param i32) (result i32)
    (call $double (call $double (local.get 0))))
)
