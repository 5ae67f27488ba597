;; Two builds of one program for the replay walk-through (docs/record-replay.md): v1.wat calls
;; $tick where v2.wat calls $say, so a trace of v1 replayed with --module v2.wat diverges there.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "step\n")
  (func $say (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 5))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $tick (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 16))))
  (func $changed_here (call $say))
  (func $start (export "_start") (call $say) (call $tick) (call $changed_here) (call $say)))
