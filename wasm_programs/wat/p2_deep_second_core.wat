;; A command component of two core modules of guest code whose second module recurses without
;; end: the stack limit must stop it there too, at the same call on every run (each module counts
;; its own frames), before V8's own limit, which is not deterministic (tests/components.test.ts).
(component
  (core module $main
    (import "deep" "down" (func $down (param i32) (result i32)))
    (memory (export "memory") 1)
    (global $depth (mut i32) (i32.const 1000000000))
    (func (export "run") (result i32)
      (drop (call $down (global.get $depth)))
      (i32.const 0)))
  (core module $deep
    (func $down (export "down") (param i32) (result i32)
      (if (result i32) (i32.eqz (local.get 0))
        (then (i32.const 0))
        (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1))))))))
  (core instance $d (instantiate $deep))
  (core instance $m (instantiate $main (with "deep" (instance $d))))
  (func $run (result (result)) (canon lift (core func $m "run")))
  (instance $run_instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run_instance)))
