;; wasi-threads test guest: _start spawns 3 threads; each writes five lines "tT kK" (thread T, line
;; K) with fd_write, a syscall and so a switch point each, then counts itself done and notifies;
;; _start waits until all 3 are done and writes "done". Under RepliCode's scheduler the lines
;; interleave the same way every run, and the trace's thread column says who wrote each.
;; Memory: 0 threads done; 64 + 32 * T: thread T's iovec (8 bytes), written count (4), line (6).
(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (export "memory" (memory 0))
  (func $line (param $t i32) (param $k i32) (local $at i32)
    (local.set $at (i32.add (i32.const 64) (i32.mul (local.get $t) (i32.const 32))))
    (i32.store8 offset=12 (local.get $at) (i32.const 116)) ;; t
    (i32.store8 offset=13 (local.get $at) (i32.add (i32.const 48) (local.get $t)))
    (i32.store8 offset=14 (local.get $at) (i32.const 32))
    (i32.store8 offset=15 (local.get $at) (i32.const 107)) ;; k
    (i32.store8 offset=16 (local.get $at) (i32.add (i32.const 48) (local.get $k)))
    (i32.store8 offset=17 (local.get $at) (i32.const 10))
    (i32.store (local.get $at) (i32.add (local.get $at) (i32.const 12)))
    (i32.store offset=4 (local.get $at) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (local.get $at) (i32.const 1) (i32.add (local.get $at) (i32.const 8)))))
  (func (export "wasi_thread_start") (param $tid i32) (param $arg i32) (local $k i32)
    (loop $lines
      (call $line (local.get $tid) (local.get $k))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $lines (i32.lt_u (local.get $k) (i32.const 5))))
    (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))
  (func (export "_start") (local $i i32) (local $done i32)
    (loop $spawning
      (if (i32.lt_s (call $spawn (local.get $i)) (i32.const 0)) (then (call $exit (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spawning (i32.lt_u (local.get $i) (i32.const 3))))
    (loop $waiting
      (local.set $done (i32.atomic.load (i32.const 0)))
      (if (i32.lt_u (local.get $done) (i32.const 3))
        (then (drop (memory.atomic.wait32 (i32.const 0) (local.get $done) (i64.const -1))) (br $waiting))))
    (i32.store8 (i32.const 76) (i32.const 100)) (i32.store8 (i32.const 77) (i32.const 111))
    (i32.store8 (i32.const 78) (i32.const 110)) (i32.store8 (i32.const 79) (i32.const 101))
    (i32.store8 (i32.const 80) (i32.const 10))
    (i32.store (i32.const 64) (i32.const 76))
    (i32.store (i32.const 68) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 72)))))
