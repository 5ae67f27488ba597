;; A command component of two core modules of guest code whose second module loops for ever
;; without a call: --max-fuel must stop it there too (each module of guest code counts its own
;; fuel), the same way every run (tests/components.test.ts).
(component
  (core module $main
    (import "spin" "forever" (func $forever))
    (memory (export "memory") 1)
    (func (export "run") (result i32)
      (call $forever)
      (i32.const 0)))
  (core module $spin
    (func (export "forever")
      (loop $again (br $again))))
  (core instance $s (instantiate $spin))
  (core instance $m (instantiate $main (with "spin" (instance $s))))
  (func $run (result (result)) (canon lift (core func $m "run")))
  (instance $run_instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run_instance)))
