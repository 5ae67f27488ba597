;; A WASI command component that imports an interface version RepliCode does not serve
;; (wasi:random/random@0.3.0): refused before the run, naming it (tests/components.test.ts).
(component
  (import "wasi:random/random@0.3.0" (instance $r (export "get-random-u64" (func (result u64)))))
  (core func $rand (canon lower (func $r "get-random-u64")))
  (core module $m
    (import "r" "rand" (func $rand (result i64)))
    (func (export "run") (result i32) (drop (call $rand)) (i32.const 0)))
  (core instance $ri (export "rand" (func $rand)))
  (core instance $i (instantiate $m (with "r" (instance $ri))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $inst (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $inst))
)
