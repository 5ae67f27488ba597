;; A float-heavy benchmark (bench/fuel.ts, NaN canonicalisation's cost): the Mandelbrot set on a
;; 600 x 400 grid, at most 500 iterations a point, in f64 (mul, add, sub: every one of them gets
;; canonicalised). Prints how many points are inside, so the work cannot be skipped.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $count (result i32) (local $px i32) (local $py i32) (local $i i32) (local $inside i32)
    (local $cx f64) (local $cy f64) (local $x f64) (local $y f64) (local $t f64)
    (loop $rows
      (local.set $px (i32.const 0))
      (loop $cols
        (local.set $cx (f64.sub (f64.mul (f64.convert_i32_u (local.get $px)) (f64.const 0.005)) (f64.const 2)))
        (local.set $cy (f64.sub (f64.mul (f64.convert_i32_u (local.get $py)) (f64.const 0.005)) (f64.const 1)))
        (local.set $x (f64.const 0))
        (local.set $y (f64.const 0))
        (local.set $i (i32.const 0))
        (block $out
          (loop $iter
            (local.set $t (f64.add (f64.sub (f64.mul (local.get $x) (local.get $x)) (f64.mul (local.get $y) (local.get $y))) (local.get $cx)))
            (local.set $y (f64.add (f64.mul (f64.mul (f64.const 2) (local.get $x)) (local.get $y)) (local.get $cy)))
            (local.set $x (local.get $t))
            (br_if $out (f64.gt (f64.add (f64.mul (local.get $x) (local.get $x)) (f64.mul (local.get $y) (local.get $y))) (f64.const 4)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $iter (i32.lt_u (local.get $i) (i32.const 500)))))
        (local.set $inside (i32.add (local.get $inside) (i32.eq (local.get $i) (i32.const 500))))
        (local.set $px (i32.add (local.get $px) (i32.const 1)))
        (br_if $cols (i32.lt_u (local.get $px) (i32.const 600))))
      (local.set $py (i32.add (local.get $py) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $py) (i32.const 400))))
    (local.get $inside))
  (func (export "_start") (local $n i32) (local $at i32)
    ;; The count in decimal, backwards from byte 63, then a newline.
    (local.set $n (call $count))
    (local.set $at (i32.const 63))
    (i32.store8 (i32.const 63) (i32.const 10))
    (loop $digit
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.sub (i32.const 64) (local.get $at)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
