;; Call-heavy on purpose: naive recursive Fibonacci of 35 (about 30 million calls), exit code
;; fib(35) mod 256 (9227465 mod 256 = 201). `npm run bench` times it with and without the
;; stack limit's per-call accounting (--max-stack).
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add
        (call $fib (i32.sub (local.get $n) (i32.const 1)))
        (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "_start")
    (call $exit (i32.and (call $fib (i32.const 35)) (i32.const 255)))))
