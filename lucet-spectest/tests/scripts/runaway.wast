;; A call that never returns is stopped by the per-call timeout instead of hanging the run.
(module
  (func (export "spin") (loop $l (br $l)))
  (func (export "one") (result i32) (i32.const 1))
)
(assert_return (invoke "spin"))
(assert_return (invoke "one") (i32.const 1))
