;; The parser cannot read every form here; each unreadable form costs itself only.
(module (func (export "f") (result i32) (i32.const 1)))
(assert_return (invoke "f") (i32.const 1))
(assert_invalid (module (memory 0x1_0000_0000)) "memory size")
(assert_return (invoke "f") (i32.const 1) oops)
(assert_return (invoke "f") (i32.const 1))
