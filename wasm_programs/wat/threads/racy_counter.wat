;; wasi-threads test guest (not runnable by RepliCode yet: docs/design.md, "Threads"). _start
;; spawns 4 threads and, once all 4 are ready, lets them go at once; each adds 1 to a shared
;; counter 1,000,000 times with an atomic load then an atomic store (not one atomic add: a race
;; that loses updates; plain accesses would let the compiler keep the counter in a register), then
;; counts itself done and notifies. _start waits until all 4 are done and prints the counter. On real
;; threads the total varies from run to run (at most 4000000); under a deterministic scheduler
;; (one thread at a time, switching at syscalls, waits and fuel quanta) it is the same every run.
;; Memory: 0 counter, 4 threads done, 8..15 iovec, 16..31 digits, 32 threads ready, 36 go.
(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (export "memory" (memory 0))
  (func (export "wasi_thread_start") (param $tid i32) (param $arg i32) (local $i i32)
    (drop (i32.atomic.rmw.add (i32.const 32) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 32) (i32.const 1)))
    (loop $wait_go
      (if (i32.eqz (i32.atomic.load (i32.const 36)))
        (then (drop (memory.atomic.wait32 (i32.const 36) (i32.const 0) (i64.const -1))) (br $wait_go))))
    (loop $again
      (i32.atomic.store (i32.const 0) (i32.add (i32.atomic.load (i32.const 0)) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1000000))))
    (drop (i32.atomic.rmw.add (i32.const 4) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 4) (i32.const 1))))
  (func $print (param $n i32) (local $at i32)
    (local.set $at (i32.const 31))
    (i32.store8 (i32.const 31) (i32.const 10))
    (loop $digit
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (i32.store (i32.const 8) (local.get $at))
    (i32.store (i32.const 12) (i32.sub (i32.const 32) (local.get $at)))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $i i32) (local $done i32)
    (loop $spawning
      (if (i32.lt_s (call $spawn (local.get $i)) (i32.const 0)) (then (call $exit (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spawning (i32.lt_u (local.get $i) (i32.const 4))))
    (loop $wait_ready
      (local.set $done (i32.atomic.load (i32.const 32)))
      (if (i32.lt_u (local.get $done) (i32.const 4))
        (then (drop (memory.atomic.wait32 (i32.const 32) (local.get $done) (i64.const -1))) (br $wait_ready))))
    (i32.atomic.store (i32.const 36) (i32.const 1))
    (drop (memory.atomic.notify (i32.const 36) (i32.const 4)))
    (loop $waiting
      (local.set $done (i32.atomic.load (i32.const 4)))
      (if (i32.lt_u (local.get $done) (i32.const 4))
        (then
          (drop (memory.atomic.wait32 (i32.const 4) (local.get $done) (i64.const -1)))
          (br $waiting))))
    (call $print (i32.load (i32.const 0)))))
