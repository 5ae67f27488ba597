// The quantum's hooks with the yield out of the loop (runtime/rewrite/threads.ts): each loop is
// wrapped so its hook only decrements and branches out, and the yield sits on the cold path that
// re-enters the loop; every branch inside to a label outside moves by 3 per wrapped loop it
// leaves. A guest with nested loops, branches out of two loops, a br_table that leaves the inner
// loop and a loop with a result computes the same value at every quantum, down to 1 (a yield at
// every hook).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
});
