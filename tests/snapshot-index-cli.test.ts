// The snapshot index through the CLI, as users meet it: `replicode index TRACE` (one line, up to
// date the second time, --json), `replay --from E` resuming from the nearest snapshot, and an index
// that is damaged, cut short, written for another trace or cannot be written: one note naming why
// (and the byte offset), rebuilt or kept in memory, and the same correct result, exit 0. And diff's
// answer on a state-only divergence is the same with the traces' indexes as without them.
// The snapshot copies of the modules are cached where users' are (REPLICODE_CACHE_DIR unset: the
// default ~/.cache/replicode), except for the run as another user, which gets a cache of its own.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, cliPath, programsDir, runCli, runCliAsync, tempDir, type RunResult } from './helpers.js';

const syscallHeavy = join(programsDir, 'build', 'syscall_heavy.wasm');

interface Recorded { trace: string; stdout: string; events: number; checkpoints: number }

/** Records syscall_heavy ITERATIONS (about 2 events an iteration: several snapshots 1024 events apart) into `dir`. */
async function record(dir: string, name: string, iterations: number, checkpointEvery = 100, extra: string[] = []): Promise<Recorded> {
  const trace = join(dir, `${name}.rct`);
  const r = await runCliAsync(['record', '--checkpoint-every', String(checkpointEvery), ...extra, '-o', trace, syscallHeavy, '--', String(iterations)]);
  expect(r.exitCode, r.stderr).toBe(0);
  const m = /recorded (\d+) events, (\d+) checkpoints/.exec(r.stderr);
  expect(m, r.stderr).not.toBeNull();
  return { trace, stdout: r.stdout, events: Number(m![1]), checkpoints: Number(m![2]) };
}

/** Frame starts of an index file, from the documented layout (docs/index-format.md): a 16-byte file header, frames of a 16-byte header (payload length at +4) and the payload. */
function frameStarts(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const starts: number[] = [];
  for (let at = 16; at + 16 <= bytes.length; at += 16 + view.getUint32(at + 4, true)) starts.push(at);
  return starts;
}

/** The start of the frame that holds byte `offset`. */
const frameOf = (bytes: Uint8Array, offset: number) => frameStarts(bytes).filter((s) => s <= offset).pop()!;

const noTerminalCodes = (r: RunResult) => {
  expect(r.stdout + r.stderr).not.toMatch(/\u001b|\r/);
};

/** `replay -q --from E` checked to be right: resumed at a snapshot at or before E and less than one spacing before it, every event and checkpoint verified. */
function expectResumed(r: RunResult, t: Recorded, from: number, spacing: number): number {
  expect(r.exitCode, r.stderr).toBe(0);
  const m = new RegExp(`replicode: resumed from the snapshot at event (\\d+) \\(the nearest at or before --from ${from}\\)`).exec(r.stderr);
  expect(m, r.stderr).not.toBeNull();
  const at = Number(m![1]);
  expect(at).toBeLessThanOrEqual(from);
  expect(from - at).toBeLessThan(spacing);
  expect(r.stderr).toContain(`replicode: replay matches the recording: ${t.events} events, ${t.checkpoints} checkpoints verified, guest exit code 0\n`);
  return at;
}

describe('replicode index and replay --from', () => {
  let dir: string;
  let a: Recorded;
  let b: Recorded;
  /** A's index as first written, and its snapshot count. */
  let good: Buffer;
  let snapshots: number;
  const spacing = 1024; // snapshotSpacing's least (these traces are short and their memory small)

  beforeAll(async () => {
    dir = tempDir();
    [a, b] = await Promise.all([record(dir, 'a', 3000), record(dir, 'b', 2000)]);
    expect(a.events).toBeGreaterThan(4 * spacing);
  });

  it('index TRACE writes TRACE.idx and prints one line; a second run says it is up to date and leaves the file alone', () => {
    const first = runCli(['index', a.trace]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toBe('');
    const m = new RegExp(`^replicode: indexed ${a.trace}: (\\d+) snapshots every ${spacing} events, \\d+\\.\\d MiB in ${a.trace}\\.idx \\(\\d+\\.\\d s\\)\\n$`).exec(first.stdout);
    expect(m, first.stdout).not.toBeNull();
    snapshots = Number(m![1]);
    expect(snapshots).toBe(Math.floor((a.events - 1) / spacing));
    good = readFileSync(`${a.trace}.idx`);
    const again = runCli(['index', a.trace]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toBe('');
    expect(again.stdout).toMatch(new RegExp(`^replicode: ${a.trace}\\.idx is up to date: ${snapshots} snapshots, \\d+\\.\\d MiB\\n$`));
    expect(readFileSync(`${a.trace}.idx`).equals(good)).toBe(true);
    noTerminalCodes(first);
    noTerminalCodes(again);
  });

  it('index --json: built or not, on disk, snapshots, bytes, spacing, the build replay matched, no notes', () => {
    const upToDate = runCli(['index', '--json', a.trace]);
    expect(upToDate.exitCode).toBe(0);
    expect(upToDate.stderr).toBe('');
    const summary = JSON.parse(upToDate.stdout);
    expect(summary).toMatchObject({ command: 'index', trace: a.trace, index: `${a.trace}.idx`, built: false, onDisk: true, snapshots, bytes: good.length, spacing, replay: null, notes: [] });
    expect(typeof summary.seconds).toBe('number');
    const forced = runCli(['index', '--json', '--force', a.trace]);
    expect(forced.exitCode).toBe(0);
    noTerminalCodes(forced); // piped: no progress line, even while it replays
    expect(JSON.parse(forced.stdout)).toMatchObject({ built: true, onDisk: true, snapshots, bytes: statSync(`${a.trace}.idx`).size, spacing, replay: 'match', notes: [] });
    good = readFileSync(`${a.trace}.idx`);
  });

  it('replay --from E resumes from the nearest snapshot at or before E and verifies to the end; its output is the recorded output from there', () => {
    for (const from of [0, spacing - 1, spacing, 3500, a.events - 1]) {
      const r = runCli(['replay', '--from', String(from), a.trace]);
      const at = expectResumed(r, a, from, spacing);
      expect(at % spacing).toBe(0);
      noTerminalCodes(r);
      expect(a.stdout.endsWith(r.stdout)).toBe(true);
      if (at > 0) expect(r.stdout.length).toBeLessThan(a.stdout.length);
      else expect(r.stdout).toBe(a.stdout);
    }
  });

  it('replay --from E --json: the summary has resumedAt; --to after --from stops there', () => {
    const r = runCli(['replay', '-q', '--from', '3500', '--json', a.trace]);
    const at = expectResumed(r, a, 3500, spacing);
    const summary = JSON.parse(r.stderr.trimEnd().split('\n').pop()!);
    expect(summary).toMatchObject({ command: 'replay', outcome: 'match', exitCode: 0, events: a.events, checkpoints: a.checkpoints, resumedAt: at });
    const to = runCli(['replay', '-q', '--from', '3500', '--to', '4000', a.trace]);
    expect(to.exitCode, to.stderr).toBe(0);
    expect(to.stderr).toContain(`resumed from the snapshot at event ${at}`);
    expect(to.stderr).toMatch(/stopped at event 4000.*4000 events, \d+ checkpoints verified/);
  });

  it('replay --from 10 --to 5 is a usage error, exit 1', () => {
    const r = runCli(['replay', '--from', '10', '--to', '5', a.trace]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('--to 5 is before --from 10');
    expect(r.stdout).toBe('');
  });

  it('a damaged index (a byte flipped in the middle): replay --from and index each say where, rebuild it, and give the right result', () => {
    const idx = `${a.trace}.idx`;
    const flip = (at: number) => {
      const bytes = Buffer.from(good);
      bytes[at]! ^= 0xff;
      writeFileSync(idx, bytes);
      return frameOf(bytes, at);
    };
    const middle = Math.floor(good.length / 2);
    let frame = flip(middle);
    const r = runCli(['replay', '-q', '--from', '3500', a.trace]);
    expect(r.stderr).toContain(`replicode: note: ${idx}: damaged at byte ${frame}: checksum mismatch; rebuilding it\n`);
    expectResumed(r, a, 3500, spacing);
    expect(JSON.parse(runCli(['index', '--json', a.trace]).stdout)).toMatchObject({ built: false, snapshots, notes: [] }); // rebuilt whole
    frame = flip(middle + 100);
    const i = runCli(['index', a.trace]);
    expect(i.exitCode).toBe(0);
    expect(i.stderr).toBe(`replicode: note: ${idx}: damaged at byte ${frame}: checksum mismatch; rebuilding it\n`);
    expect(i.stdout).toMatch(new RegExp(`^replicode: indexed ${a.trace}: ${snapshots} snapshots`));
    noTerminalCodes(i);
  });

  it('an index cut in half (inside a frame): a note naming the frame cut, rebuilt, the right result', () => {
    const idx = `${a.trace}.idx`;
    let cut = Math.floor(good.length / 2);
    if (frameStarts(good).includes(cut)) cut += 1; // inside a frame (a cut between frames reads as a shorter index)
    writeFileSync(idx, good.subarray(0, cut));
    const frame = frameOf(good, cut);
    const length = new DataView(good.buffer, good.byteOffset).getUint32(frame + 4, true);
    const r = runCli(['replay', '-q', '--from', String(a.events - 1), a.trace]);
    expect(r.stderr).toContain(`replicode: note: ${idx}: truncated at byte ${frame}: ${cut - frame < 16 ? 'cut inside a frame header' : `cut inside a frame of ${length} bytes`}; rebuilding it\n`);
    const at = expectResumed(r, a, a.events - 1, spacing);
    expect(at).toBe(snapshots * spacing); // the rebuilt index has every snapshot again
    expect(JSON.parse(runCli(['index', '--json', a.trace]).stdout)).toMatchObject({ built: false, snapshots, notes: [] });
  });

  it("another trace's index (stale): a note, rebuilt for this trace", () => {
    const idx = `${b.trace}.idx`;
    copyFileSync(`${a.trace}.idx`, idx);
    const r = runCli(['replay', '-q', '--from', '3000', b.trace]);
    expect(r.stderr).toMatch(new RegExp(`replicode: note: ${idx}: stale: written for another trace \\(sha256 [0-9a-f]{16}, ${statSync(a.trace).size} bytes\\); rebuilding it\\n`));
    expectResumed(r, b, 3000, spacing);
    const summary = JSON.parse(runCli(['index', '--json', b.trace]).stdout);
    expect(summary).toMatchObject({ built: false, onDisk: true, snapshots: Math.floor((b.events - 1) / spacing), notes: [] });
    expect(summary.snapshots).not.toBe(snapshots);
  });

  it('an index path taken by a directory: a note, the snapshots kept in memory, the right result (exit 0, never an internal error)', () => {
    const d = tempDir();
    const trace = join(d, 'c.rct');
    copyFileSync(a.trace, trace);
    mkdirSync(`${trace}.idx`);
    const r = runCli(['replay', '-q', '--from', '3500', trace]);
    expect(r.stderr).toContain(`replicode: note: ${trace}.idx: cannot be written (EISDIR); keeping the snapshots in memory\n`);
    expectResumed(r, { ...a, trace }, 3500, spacing);
    const i = runCli(['index', '--json', trace]);
    expect(i.exitCode, i.stderr).toBe(0);
    expect(JSON.parse(i.stdout)).toMatchObject({ built: true, onDisk: false, snapshots, bytes: 0, notes: [`${trace}.idx: cannot be written (EISDIR); keeping the snapshots in memory`] });
  });

  it('a trace in a read-only directory: a note, the snapshots kept in memory, the right result, exit 0', () => {
    const d = tempDir();
    const trace = join(d, 'ro.rct');
    copyFileSync(a.trace, trace);
    chmodSync(d, 0o555);
    // Root ignores the mode: then run the CLI as nobody (uid 65534) if setpriv is there.
    let privileged = true;
    try {
      writeFileSync(join(d, 'probe'), '');
    } catch {
      privileged = false;
    }
    const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
    if (privileged && !setpriv) {
      console.warn('skipped: running as root, where chmod 555 does not stop writes, and no setpriv to run as another user');
      return;
    }
    const cache = tempDir(); // a cache nobody may write (the default one is under root's home)
    chmodSync(cache, 0o777);
    const command = privileged
      ? [setpriv!, '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliPath]
      : [process.execPath, cliPath];
    const run = spawnSync(command[0]!, [...command.slice(1), 'replay', '-q', '--from', '3500', trace], {
      encoding: 'utf8', timeout: 60_000, cwd: '/', env: cliEnv({ REPLICODE_CACHE_DIR: cache, HOME: cache }),
    });
    const r: RunResult = { exitCode: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
    expect(r.stderr).toContain(`replicode: note: ${trace}.idx: cannot be written (EACCES); keeping the snapshots in memory\n`);
    expectResumed(r, { ...a, trace }, 3500, spacing);
    expect(existsSync(`${trace}.idx`)).toBe(false);
  });

  it('a trace cut short: indexed as far as it goes (a note), then refused as replay refuses it (exit 1); replay --from resumes in it', () => {
    const d = tempDir();
    const trace = join(d, 'cut.rct');
    const whole = readFileSync(a.trace);
    writeFileSync(trace, whole.subarray(0, whole.length - 200)); // inside the last chunks: the events before are whole
    const plain = runCli(['replay', '-q', trace]);
    expect(plain.exitCode).toBe(1);
    const cut = /trace is incomplete: .*/.exec(plain.stderr)![0];
    const i = runCli(['index', trace]);
    expect(i.exitCode).toBe(1);
    expect(i.stderr).toContain(`replicode: note: ${trace}.idx: indexed up to where the trace ends (${cut.replace(/ \(at byte \d+\)$/, '')})\n`);
    expect(i.stderr).toContain(cut);
    expect(existsSync(`${trace}.idx`)).toBe(true);
    const r = runCli(['replay', '-q', '--json', '--from', '3000', trace]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(cut);
    expect(r.stderr).toMatch(/replicode: resumed from the snapshot at event 2048 \(the nearest at or before --from 3000\)/);
    expect(r.stderr).not.toContain('rebuilding'); // the index written for the cut trace is whole and used
  });

});

describe('diff on a state-only divergence, with and without snapshot indexes', () => {
  it('gives the same event and instruction range before the indexes exist (building them) and after, and leaves TRACE.idx files', async () => {
    const dir = tempDir();
    const [clean, flipped] = await Promise.all([
      record(dir, 'clean', 2000, 256),
      record(dir, 'flipped', 2000, 256, ['--inject', 'bitflip@500:70000']),
    ]);
    const traces = [clean.trace, flipped.trace];
    for (const t of traces) expect(existsSync(`${t}.idx`)).toBe(false);
    const before = runCli(['diff', '--json', ...traces]);
    expect(before.exitCode, before.stderr).toBe(3);
    for (const t of traces) expect(existsSync(`${t}.idx`), t).toBe(true);
    const indexes = traces.map((t) => readFileSync(`${t}.idx`));
    const after = runCli(['diff', '--json', ...traces]);
    expect(after.exitCode, after.stderr).toBe(3);
    const [x, y] = [JSON.parse(before.stdout), JSON.parse(after.stdout)];
    expect(x.event).toBe(500);
    expect(x.checkpointState).toMatchObject({ checkpoint: 1, event: 512, components: ['memory'], pages: [{ first: 1, last: 1 }] });
    expect(x.range).toMatchObject({ afterEvent: 500 });
    expect(x.range.hooks).toBeGreaterThan(0);
    expect(y).toEqual(x);
    // The second diff used the indexes as they were.
    traces.forEach((t, i) => expect(readFileSync(`${t}.idx`).equals(indexes[i]!), t).toBe(true));
    // And the text form agrees with itself too.
    expect(runCli(['diff', ...traces]).stdout).toBe(runCli(['diff', ...traces]).stdout);
  }, 240_000); // four diffs one after another: 30 s on a quiet machine, 87 s at a load of 10
});
