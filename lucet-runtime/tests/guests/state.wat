;; Globals, memory, data segments, tables and multi-value in one module.
(module
  (global $counter (export "counter") (mut i32) (i32.const 10))
  (global $big (export "big") i64 (i64.const 0x1_0000_0000))
  (global $pi (export "pi") f64 (f64.const 3.5))
  (global $derived (export "derived") i32 (i32.add (i32.const 1) (i32.const 2)))
  (global $started (export "started") (mut i32) (i32.const 0))
  (memory (export "memory") 1 4)
  (data (i32.const 16) "hello, world")
  (data $passive "passive!")
  (table $t (export "table") 4 8 funcref)
  (elem (table $t) (i32.const 0) func $one $two $three)
  (type $unary (func (result i32)))
  (func $one (result i32) i32.const 1)
  (func $two (result i32) i32.const 2)
  (func $three (result i32) i32.const 3)
  (func $start global.get $started i32.const 1 i32.add global.set $started)
  (start $start)

  (func (export "incr") (result i32)
    global.get $counter
    i32.const 1
    i32.add
    global.set $counter
    global.get $counter)
  (func (export "size") (result i32) memory.size)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "load8") (param i32) (result i32) local.get 0 i32.load8_u)
  (func (export "store8") (param i32 i32) local.get 0 local.get 1 i32.store8)
  (func (export "init_passive") (param i32) local.get 0 i32.const 0 i32.const 8 memory.init $passive)
  (func (export "drop_passive") data.drop $passive)
  (func (export "fill") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.fill)
  (func (export "copy") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy)
  (func (export "call") (param i32) (result i32) local.get 0 call_indirect $t (type $unary))
  (func (export "table_size") (result i32) table.size $t)
  (func (export "table_grow") (param i32) (result i32) ref.null func local.get 0 table.grow $t)
  (func (export "set_elem") (param i32) local.get 0 ref.func $three table.set $t)
  (func (export "multi") (param i32 i64) (result i64 i32 f32)
    local.get 1
    local.get 0
    f32.const 1.5)
  (func (export "swap") (param i32 i32) (result i32 i32) local.get 1 local.get 0)
  (func (export "ident_ref") (param funcref) (result funcref) local.get 0)
)
