;; Computes for ever and never makes a syscall: what --max-fuel stops (docs/run.md, tests/fuel.test.ts).
(module
  (memory (export "memory") 1)
  (func $spin (local $i i32)
    (loop $forever
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $forever)))
  (func $main (export "_start") (call $spin)))
