;; A WASI command component that imports an interface RepliCode does not know
;; (example:greeter/api): refused before the run, naming it (tests/components.test.ts).
(component
  (import "example:greeter/api@1.0.0" (instance $g (export "greet" (func (param "times" u32)))))
  (core func $greet (canon lower (func $g "greet")))
  (core module $m
    (import "g" "greet" (func $greet (param i32)))
    (func (export "run") (result i32) (call $greet (i32.const 1)) (i32.const 0)))
  (core instance $gi (export "greet" (func $greet)))
  (core instance $i (instantiate $m (with "g" (instance $gi))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $inst (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $inst))
)
