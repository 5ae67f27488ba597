;; A command component of two core modules of guest code (as `wasm-tools component link` makes
;; them): the main one asks the second for 0/0 and exits with err when that NaN's sign bit is set.
;; x86 makes a negative NaN, ARM a positive one: NaN canonicalisation (on by default) must cover
;; the second module too, so that the run ends the same everywhere (tests/components.test.ts).
(component
  (import "wasi:cli/exit@0.2.0" (instance $exit (export "exit" (func (param "status" (result))))))
  (core module $main
    (import "nans" "divide" (func $divide (param f64 f64) (result i64)))
    (import "wasi" "exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    ;; A global, not a constant: a compiler may fold 0/0 into a NaN of its own choosing.
    (global $zero (mut f64) (f64.const 0))
    (func (export "run") (result i32)
      (call $exit (i32.wrap_i64 (i64.shr_u (call $divide (global.get $zero) (global.get $zero)) (i64.const 63))))
      (i32.const 0)))
  (core module $nans
    (func (export "divide") (param f64 f64) (result i64)
      (i64.reinterpret_f64 (f64.div (local.get 0) (local.get 1)))))
  (core func $exit_lowered (canon lower (func $exit "exit")))
  (core instance $n (instantiate $nans))
  (core instance $m (instantiate $main (with "nans" (instance $n)) (with "wasi" (instance (export "exit" (func $exit_lowered))))))
  (func $run (result (result)) (canon lift (core func $m "run")))
  (instance $run_instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run_instance)))
