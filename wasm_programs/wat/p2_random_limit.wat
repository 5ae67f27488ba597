;; A WASI 0.2 command that asks get-random-bytes for 256 MiB, past RepliCode's 64 MiB bound per
;; call: a trap, the same in every run (tests/components.test.ts).
(component
  (import "wasi:random/random@0.2.0" (instance $r (export "get-random-bytes" (func (param "len" u64) (result (list u8))))))
  (core module $mem
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024)))
  (core instance $m (instantiate $mem))
  (alias core export $m "memory" (core memory $memory))
  (alias core export $m "realloc" (core func $realloc))
  (core func $get (canon lower (func $r "get-random-bytes") (memory $memory) (realloc $realloc)))
  (core module $main
    (import "r" "get" (func $get (param i64 i32)))
    (func (export "run") (result i32) (call $get (i64.const 0x10000000) (i32.const 0)) (i32.const 0)))
  (core instance $ri (export "get" (func $get)))
  (core instance $i (instantiate $main (with "r" (instance $ri))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $inst (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $inst))
)
