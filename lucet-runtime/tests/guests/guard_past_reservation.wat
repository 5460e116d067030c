;; Compiled with a 64 KiB reservation and a 2 GiB guard: accesses are bounds-checked,
;; and the check leaves offsets below 2 GiB to the guard. The memory (4 pages) is
;; larger than the reservation, so the guard the code relies on starts at the end of
;; the accessible memory, 192 KiB later than the end of the reservation.
(module
  (memory (export "memory") 4 4)
  (func (export "in_bounds") (result i32)
    i32.const 0x3fffc
    i32.load offset=0)
  ;; 0x3fffc + 0x7fff0000 + 4 is past the memory: must trap.
  (func (export "load_in_guard") (result i32)
    i32.const 0x3fffc
    i32.load offset=0x7fff0000)
  (func (export "store_in_guard")
    i32.const 0x3fffc
    i32.const 0x41414141
    i32.store offset=0x7fff0000))
