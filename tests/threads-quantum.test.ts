// The quantum's hooks with the yield out of the loop (runtime/rewrite/threads.ts): each loop is
// wrapped so its hook only decrements and branches out, and the yield sits on the cold path that
// re-enters the loop; every branch inside to a label outside moves by 3 per wrapped loop it
// leaves. A guest with nested loops, branches out of two loops, a br_table that leaves the inner
// loop and a loop with a result computes the same value at every quantum, down to 1 (a yield at
// every hook). Across each yield a wrapped loop's locals go through globals (the k-th saved local
// of a type in the same global in every function): two threads in one function, with locals and
// parameters of every type a global can hold, compute the same at --quantum 1 as with no yield.
// The save code is bounded: a function saves at most one local per 8 bytes of its body, the
// innermost loops first, so 300 locals used in 12 nested loops (3,600 saves unbounded, ~41 KB)
// are saved by the innermost loop only.
// A thread that runs alone (every other thread waits) yields without asking thread 0
// (runtime/sched/channel.ts), and yields to a thread spawned next as before.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyRewrites, moduleBinary } from '../dist/runtime/index.js';
import { runCli, tempDir } from './helpers.js';

const loops = `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (export "memory" (memory 0))
  (func (export "wasi_thread_start") (param i32 i32))
  (func $f (result i32) (local $i i32) (local $j i32) (local $s i32)
    (block $done
      (loop $outer
        (local.set $j (i32.const 0))
        (block $next
          (loop $inner
            (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $j))))
            (br_if $done (i32.gt_u (local.get $s) (i32.const 1000000)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_table $inner $next (i32.ge_u (local.get $j) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $outer (i32.lt_u (local.get $i) (i32.const 30)))))
    (i32.add (local.get $s)
      (loop $r (result i32)
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br_if $r (i32.gt_s (local.get $i) (i32.const 0)))
        (i32.const 7))))
  (func (export "_start") (call $exit (i32.rem_u (call $f) (i32.const 251)))))`;

/** What $f computes: sum over i < 30 of i * (0 + 1 + ... + i-1), plus 7. */
function expected(): number {
  let s = 0;
  for (let i = 0; i < 30; i++) for (let j = 0; j < i; j++) s += i * j;
  return (s + 7) % 251;
}

/** Two threads in $mix at once; locals and parameters of every type a save global holds (two i64s, one a parameter). */
const saved = `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (export "memory" (memory 0))
  (elem declare func $mix)
  (func $mix (param $seed i64) (param $n i32) (result i32)
    (local $i i32) (local $a i64) (local $f f32) (local $d f64) (local $v v128) (local $r funcref) (local $e externref)
    (local.set $a (local.get $seed))
    (loop $l
      (local.set $a (i64.add (i64.mul (local.get $a) (i64.const 6364136223846793005)) (i64.const 1442695040888963407)))
      (local.set $f (f32.add (local.get $f) (f32.convert_i64_u (i64.shr_u (local.get $a) (i64.const 44)))))
      (local.set $d (f64.add (local.get $d) (f64.convert_i64_u (i64.shr_u (local.get $a) (i64.const 33)))))
      (local.set $v (i32x4.add (local.get $v) (i32x4.splat (i32.wrap_i64 (local.get $a)))))
      (if (i32.eq (local.get $i) (i32.const 100)) (then (local.set $r (ref.func $mix))))
      (local.set $seed (i64.rotl (i64.xor (local.get $seed) (local.get $a)) (i64.const 7)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.rem_u
      (i32.xor
        (i32.xor (i32.wrap_i64 (i64.xor (local.get $a) (local.get $seed))) (i32.reinterpret_f32 (local.get $f)))
        (i32.xor (i32.wrap_i64 (i64.shr_u (i64.reinterpret_f64 (local.get $d)) (i64.const 20)))
          (i32.xor (i32.xor (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))
            (i32.add (i32.shl (ref.is_null (local.get $r)) (i32.const 3)) (ref.is_null (local.get $e))))))
      (i32.const 251)))
  (func (export "wasi_thread_start") (param $tid i32) (param $arg i32)
    (i32.store (i32.const 8) (call $mix (i64.const 99) (i32.const 300)))
    (i32.atomic.store (i32.const 0) (i32.const 1))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))
  (func (export "_start") (local $mine i32)
    (drop (call $spawn (i32.const 0)))
    (local.set $mine (call $mix (i64.const 12345) (i32.const 300)))
    (loop $w (if (i32.eqz (i32.atomic.load (i32.const 0))) (then (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))) (br $w))))
    (call $exit (i32.rem_u (i32.add (i32.mul (local.get $mine) (i32.const 7)) (i32.load (i32.const 8))) (i32.const 251)))))`;

/** Thread 1 spins alone while thread 0 waits, then spawns thread 2; both log their tid at each step. */
const alone = `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (export "memory" (memory 0))
  ;; 0: the word thread 0 waits on; 4: threads done; 8: log length; 16: iovec; 64..: the log
  (func $spin (param $n i32) (local $i i32) (local $x i32)
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 31)) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.store (i32.const 12) (local.get $x)))
  (func $log (param $c i32) (param $n i32) (local $i i32)
    (loop $l
      (i32.store8 (i32.add (i32.const 64) (i32.load (i32.const 8))) (local.get $c))
      (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
      (call $spin (i32.const 5))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
  (func (export "wasi_thread_start") (param $tid i32) (param $arg i32)
    (if (i32.eq (local.get $arg) (i32.const 1))
      (then
        (call $spin (i32.const 2000)) ;; alone: thread 0 waits, thread 2 does not exist yet
        (drop (call $spawn (i32.const 2)))))
    (call $log (i32.add (i32.const 48) (local.get $arg)) (i32.const 40))
    (if (i32.eq (i32.atomic.rmw.add (i32.const 4) (i32.const 1)) (i32.const 1))
      (then (i32.atomic.store (i32.const 0) (i32.const 1)) (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))))
  (func (export "_start")
    (drop (call $spawn (i32.const 1)))
    (loop $w (if (i32.eqz (i32.atomic.load (i32.const 0))) (then (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))) (br $w))))
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (i32.load (i32.const 8)))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))`;

/** 300 locals, each incremented in the innermost of 12 nested loops of 2 iterations; exits with their sum mod 251. */
function deep(): string {
  const n = 300;
  const depth = 12;
  const locals = Array.from({ length: n }, (_, k) => `(local $v${k} i32)`).join(' ');
  const counters = Array.from({ length: depth }, (_, d) => `(local $c${d} i32)`).join(' ');
  let body = Array.from({ length: n }, (_, k) => `(local.set $v${k} (i32.add (local.get $v${k}) (i32.const ${k + 1})))`).join('\n');
  for (let d = depth - 1; d >= 0; d--) {
    body = `(local.set $c${d} (i32.const 0))
      (loop $l${d} ${body}
        (local.set $c${d} (i32.add (local.get $c${d}) (i32.const 1)))
        (br_if $l${d} (i32.lt_u (local.get $c${d}) (i32.const 2))))`;
  }
  const sum = Array.from({ length: n }, (_, k) => `(local.get $v${k})`).reduce((a, b) => `(i32.add ${a} ${b})`);
  return `(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (export "memory" (memory 0))
  (func (export "wasi_thread_start") (param i32 i32))
  (func $f (result i32) ${locals} ${counters} ${body} ${sum})
  (func (export "_start") (call $exit (i32.rem_u (call $f) (i32.const 251)))))`;
}

describe('the quantum hooks with the yield out of the loop', () => {
  it('nested loops, branches out of them, br_table and a loop with a result give the same value at every quantum', () => {
    const file = join(tempDir(), 'loops.wat');
    writeFileSync(file, loops);
    expect(expected()).not.toBe(0);
    for (const q of [[], ['--quantum', '1'], ['--quantum', '5'], ['--quantum', '1000000000']]) {
      const r = runCli(['run', ...q, file]);
      expect(r.exitCode, `${q.join(' ')}: ${r.stderr}`).toBe(expected());
    }
  });

  it('keeps a loop\'s locals of every type, parameters included, across its yields, in each thread', () => {
    const file = join(tempDir(), 'saved.wat');
    writeFileSync(file, saved);
    // With a quantum it never uses up, no yield runs: the loop as written.
    const reference = runCli(['run', '--quantum', '1000000000', file]);
    expect(reference.exitCode, reference.stderr).toBeGreaterThan(0);
    // At 1 every hook yields, at 3 most do; the turn passes between the threads inside $mix.
    for (const q of ['1', '3']) {
      const r = runCli(['run', '--quantum', q, file]);
      expect(r.exitCode, `--quantum ${q}: ${r.stderr}`).toBe(reference.exitCode);
    }
  });

  it('a thread alone yields without a switch, and again to a thread it spawns: the same interleaving every run', () => {
    const file = join(tempDir(), 'alone.wat');
    writeFileSync(file, alone);
    // Thread 1 spins through hundreds of quanta alone, then the two log in turns, one step a quantum.
    // With a quantum it never uses up, thread 2 logs all its steps before thread 1 gets the turn back.
    for (const [q, out] of [['40', '12'.repeat(40)], ['40', '12'.repeat(40)], ['1000000', '2'.repeat(40) + '1'.repeat(40)]] as const) {
      const r = runCli(['run', '--quantum', q, file]);
      expect([r.exitCode, r.stdout], `--quantum ${q}: ${r.stderr}`).toEqual([0, out]);
    }
  });

  it('bounds the save code by the body: deep loops over many locals save only within the budget, and compute the same', async () => {
    const text = deep();
    const binary = await moduleBinary(new TextEncoder().encode(text));
    const withoutQuantum = applyRewrites(binary, [{ name: 'threads' }]).length;
    const rewritten = applyRewrites(binary, [{ name: 'threads', quantum: 1000 }]).length;
    // The hooks, wrappers and the innermost loop's 300 saves add ~6 KB to the 6 KB module; every loop's saves, ~41 KB.
    expect(rewritten - withoutQuantum).toBeLessThan(binary.length);
    expect(rewritten - withoutQuantum).toBeGreaterThan(3000);
    const file = join(tempDir(), 'deep.wat');
    writeFileSync(file, text);
    const sum = ((2 ** 12) * 300 * 301 / 2) % 2 ** 32 % 251;
    for (const q of ['1', '7', '1000000000']) {
      const r = runCli(['run', '--quantum', q, file]);
      expect(r.exitCode, `--quantum ${q}: ${r.stderr}`).toBe(sum);
    }
  });
});
