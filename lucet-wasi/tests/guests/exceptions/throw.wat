;; The shape of a C++ program built with `-fwasm-exceptions`: `main` calls into three
;; nested frames, the innermost throws an object through `__cpp_exception`, every
;; frame runs a cleanup (a destructor) in a `catch_all` that rethrows, and `main`
;; catches the exception and prints its message. Written by hand because Debian's
;; wasm32-wasi libc++ is built without exception support.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  ;; The tag clang uses for C++ exceptions: the payload is the thrown object's address.
  (tag $cpp_exception (param i32))
  (memory (export "memory") 1)
  (data (i32.const 16) "entering level ")
  (data (i32.const 40) "cleanup level ")
  (data (i32.const 64) "caught in main: ")
  ;; The thrown object: its message's length, then the message.
  (data (i32.const 96) "\0c\00\00\00out of range")
  (data (i32.const 128) "\n")

  (func $print (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))

  (func $print_line_with_digit (param $text i32) (param $len i32) (param $d i32)
    (call $print (local.get $text) (local.get $len))
    (i32.store8 (i32.const 200) (i32.add (local.get $d) (i32.const 48)))
    (call $print (i32.const 200) (i32.const 1))
    (call $print (i32.const 128) (i32.const 1)))

  ;; `level(n)`: calls `level(n + 1)` up to 3, where it throws; cleans up on the way out.
  (func $level (param $n i32)
    (call $print_line_with_digit (i32.const 16) (i32.const 15) (local.get $n))
    try
      (if (i32.lt_u (local.get $n) (i32.const 3))
        (then (call $level (i32.add (local.get $n) (i32.const 1))))
        (else (throw $cpp_exception (i32.const 96))))
    catch_all
      (call $print_line_with_digit (i32.const 40) (i32.const 14) (local.get $n))
      rethrow 0
    end)

  (func (export "_start")
    (local $obj i32)
    (block $caught (result i32)
      (try_table (catch $cpp_exception $caught)
        (call $level (i32.const 1)))
      ;; Not reached: level 3 always throws.
      (call $proc_exit (i32.const 1))
      (unreachable))
    (local.set $obj)
    (call $print (i32.const 64) (i32.const 16))
    (call $print (i32.add (local.get $obj) (i32.const 4)) (i32.load (local.get $obj)))
    (call $print (i32.const 128) (i32.const 1)))
)
