;; Grows its memory between syscalls and then has the kernel read and write guest memory beyond
;; the old size (and below it, where the old buffer is now detached): args, stdin, stdout.
;; A kernel that kept using a stale view of memory faults (the guest exits 100 + errno) or crashes.
;; Prints "before grow\n", then argv[1], then what it read from stdin (at most 100 bytes), then "done\n".
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "before grow\n")
  (data (i32.const 32) "done\n")

  ;; Exits 100 + errno unless the syscall succeeded.
  (func $ok (param $errno i32)
    (if (local.get $errno) (then (call $exit (i32.add (i32.const 100) (local.get $errno))))))

  ;; Writes [ptr, ptr+len) to stdout, with its iovec and result at $scratch; exits 99 on a short write.
  (func $write (param $scratch i32) (param $ptr i32) (param $len i32)
    (i32.store (local.get $scratch) (local.get $ptr))
    (i32.store offset=4 (local.get $scratch) (local.get $len))
    (call $ok (call $fd_write (i32.const 1) (local.get $scratch) (i32.const 1) (i32.add (local.get $scratch) (i32.const 8))))
    (if (i32.ne (i32.load offset=8 (local.get $scratch)) (local.get $len)) (then (call $exit (i32.const 99)))))

  (func $grow
    (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (call $exit (i32.const 98)))))

  (func (export "_start") (local $arg1 i32) (local $nread i32)
    ;; The kernel reads page 0 while memory has one page.
    (call $write (i32.const 0) (i32.const 16) (i32.const 12))
    (call $grow) ;; 2 pages: the old buffer is detached
    ;; argc at 70000, argv buffer size at 70004, argv at 70008, strings at 70100 (all past 64 KiB).
    (call $ok (call $args_sizes_get (i32.const 70000) (i32.const 70004)))
    (if (i32.ne (i32.load (i32.const 70000)) (i32.const 2)) (then (call $exit (i32.const 97))))
    (call $ok (call $args_get (i32.const 70008) (i32.const 70100)))
    ;; argv[1] is the last string: it runs to the buffer's end, less its NUL.
    (local.set $arg1 (i32.load (i32.const 70012)))
    (call $write (i32.const 70200) (local.get $arg1)
      (i32.sub (i32.sub (i32.add (i32.const 70100) (i32.load (i32.const 70004))) (local.get $arg1)) (i32.const 1)))
    ;; stdin into 80000, its iovec at 70300.
    (i32.store (i32.const 70300) (i32.const 80000))
    (i32.store (i32.const 70304) (i32.const 100))
    (call $ok (call $fd_read (i32.const 0) (i32.const 70300) (i32.const 1) (i32.const 70308)))
    (local.set $nread (i32.load (i32.const 70308)))
    (call $write (i32.const 70400) (i32.const 80000) (local.get $nread))
    (call $grow) ;; 3 pages
    ;; Page 0 bytes through an iovec past the second page's end.
    (call $write (i32.const 140000) (i32.const 32) (i32.const 5))))
