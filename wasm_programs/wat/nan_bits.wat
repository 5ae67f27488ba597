;; Prints the bits of NaNs that float arithmetic produces, one per line, as `what=hex`. Without
;; NaN canonicalisation the bits are the hardware's (x86: a negative quiet NaN, ffc00000, for
;; 0/0; ARM: 7fc00000); with it (the default), every arithmetic NaN is 7fc00000 /
;; 7ff8000000000000. The last line, f32.neg of 0/0, is canonicalised before the neg, which only
;; flips the sign bit: ffc00000 everywhere.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "f32 0/0=f64 0/0=f32 sqrt(-1)=f64 sqrt(-1)=f32 -nan+1=f64 promote(snan)=f32x4 0/0=f32 neg(0/0)=")
  ;; Writes label (at $label, $len bytes), the top $digits hex digits of $v, a newline.
  (func $line (param $label i32) (param $len i32) (param $v i64) (param $digits i32) (local $i i32) (local $d i32) (local $at i32)
    (memory.copy (i32.const 64) (local.get $label) (local.get $len))
    (local.set $at (i32.add (i32.const 64) (local.get $len)))
    (loop $digit
      (local.set $d (i32.wrap_i64 (i64.and (i64.shr_u (local.get $v) (i64.extend_i32_u (i32.sub (i32.const 60) (i32.shl (local.get $i) (i32.const 2))))) (i64.const 15))))
      (i32.store8 (i32.add (local.get $at) (local.get $i)) (i32.add (local.get $d) (select (i32.const 48) (i32.const 87) (i32.lt_u (local.get $d) (i32.const 10)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digit (i32.lt_u (local.get $i) (local.get $digits))))
    (i32.store8 (i32.add (local.get $at) (local.get $digits)) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.add (i32.add (local.get $len) (local.get $digits)) (i32.const 1)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $f32 (param $label i32) (param $len i32) (param $x f32)
    (call $line (local.get $label) (local.get $len) (i64.shl (i64.extend_i32_u (i32.reinterpret_f32 (local.get $x))) (i64.const 32)) (i32.const 8)))
  (func $f64 (param $label i32) (param $len i32) (param $x f64)
    (call $line (local.get $label) (local.get $len) (i64.reinterpret_f64 (local.get $x)) (i32.const 16)))
  ;; Zero and minus one come from memory so no tool folds the arithmetic at build time.
  (func (export "_start") (local $zero f32) (local $zero64 f64) (local $m1 f32) (local $m164 f64)
    (local.set $m1 (f32.const -1))
    (local.set $m164 (f64.const -1))
    (call $f32 (i32.const 256) (i32.const 8) (f32.div (local.get $zero) (local.get $zero)))
    (call $f64 (i32.const 264) (i32.const 8) (f64.div (local.get $zero64) (local.get $zero64)))
    (call $f32 (i32.const 272) (i32.const 13) (f32.sqrt (local.get $m1)))
    (call $f64 (i32.const 285) (i32.const 13) (f64.sqrt (local.get $m164)))
    (call $f32 (i32.const 298) (i32.const 11) (f32.add (f32.reinterpret_i32 (i32.const 0xffc12345)) (f32.const 1)))
    (call $f64 (i32.const 309) (i32.const 18) (f64.promote_f32 (f32.reinterpret_i32 (i32.const 0x7fa00001))))
    (call $f32 (i32.const 327) (i32.const 10)
      (f32x4.extract_lane 2 (f32x4.div (f32x4.splat (local.get $zero)) (f32x4.splat (local.get $zero)))))
    (call $f32 (i32.const 337) (i32.const 13) (f32.neg (f32.div (local.get $zero) (local.get $zero))))))
