;; Recurses without end, asking the clock once per level: the depth at which the call stack runs
;; out must be the same in every run, in replay and on every replica (see --max-stack).
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func $down (param $depth i32)
    (drop (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 0)))
    (call $down (i32.add (local.get $depth) (i32.const 1))))
  (func (export "_start")
    (call $down (i32.const 0))))
