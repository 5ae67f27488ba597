;; wasi-threads test guest (not runnable by RepliCode yet: docs/design.md, "Threads"). A producer
;; thread hands the numbers 1 to 1000 one at a time through a one-slot mailbox to _start, the
;; consumer, each side sleeping in memory.atomic.wait32 until the other has moved; _start prints
;; the sum, 500500, on any scheduler.
;; Memory: 0 slot full (0 or 1), 4 value, 8..15 iovec, 16..31 digits.
(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (export "memory" (memory 0))
  (func (export "wasi_thread_start") (param $tid i32) (param $arg i32) (local $n i32)
    (loop $produce
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      ;; Wait while the slot is full.
      (loop $full
        (if (i32.atomic.load (i32.const 0))
          (then (drop (memory.atomic.wait32 (i32.const 0) (i32.const 1) (i64.const -1))) (br $full))))
      (i32.atomic.store (i32.const 4) (local.get $n))
      (i32.atomic.store (i32.const 0) (i32.const 1))
      (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))
      (br_if $produce (i32.lt_u (local.get $n) (i32.const 1000)))))
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
  (func (export "_start") (local $got i32) (local $sum i32)
    (if (i32.lt_s (call $spawn (i32.const 0)) (i32.const 0)) (then (call $exit (i32.const 1))))
    (loop $consume
      ;; Wait while the slot is empty.
      (loop $empty
        (if (i32.eqz (i32.atomic.load (i32.const 0)))
          (then (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))) (br $empty))))
      (local.set $sum (i32.add (local.get $sum) (i32.atomic.load (i32.const 4))))
      (local.set $got (i32.add (local.get $got) (i32.const 1)))
      (i32.atomic.store (i32.const 0) (i32.const 0))
      (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))
      (br_if $consume (i32.lt_u (local.get $got) (i32.const 1000))))
    (call $print (local.get $sum))))
