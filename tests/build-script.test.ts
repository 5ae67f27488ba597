// scripts/build.mjs: `npm run demo`, `npm test` and `npm run bench` build only when a source is
// newer than the last build, so `npm install && npm run demo` builds once (in prepare). Run here
// on a copy with stand-ins for tsc and esbuild that only note that they ran.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, tempDir } from './helpers.js';

function fakeProject(): { root: string; build(...args: string[]): { stderr: string; ran: string[] } } {
  const root = tempDir('replicode-build-');
  mkdirSync(join(root, 'scripts'));
  copyFileSync(join(repoRoot, 'scripts', 'build.mjs'), join(root, 'scripts', 'build.mjs'));
  mkdirSync(join(root, 'cli'));
  writeFileSync(join(root, 'cli', 'main.ts'), 'export {};\n');
  writeFileSync(join(root, 'tsconfig.json'), '{}\n');
  mkdirSync(join(root, 'node_modules', '.bin'), { recursive: true });
  for (const tool of ['tsc', 'esbuild']) {
    const path = join(root, 'node_modules', '.bin', tool);
    writeFileSync(path, `#!/bin/sh\nmkdir -p dist\necho ${tool} >> ran.log\n`);
    chmodSync(path, 0o755);
  }
  const log = join(root, 'ran.log');
  return {
    root,
    build(...args) {
      writeFileSync(log, '');
      const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), ...args], { cwd: root, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return { stderr: r.stderr, ran: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
    },
  };
}

describe('the build runs once per set-up command', () => {
  it('builds when dist/ is missing, skips when it is newer than every source, builds again after an edit or with --force', () => {
    const p = fakeProject();
    expect(p.build().ran).toEqual(['tsc', 'esbuild', 'esbuild', 'esbuild', 'esbuild']);
    const again = p.build();
    expect(again.ran).toEqual([]);
    expect(again.stderr).toMatch(/^build: dist\/ is newer than every source file: skipped/);
    expect(p.build('--force').ran).toEqual(['tsc', 'esbuild', 'esbuild', 'esbuild', 'esbuild']);
    const built = new Date(Date.now() - 60_000); // the last build a minute ago, the source edited since
    utimesSync(join(p.root, 'dist', '.build-stamp'), built, built);
    expect(p.build().ran).toEqual(['tsc', 'esbuild', 'esbuild', 'esbuild', 'esbuild']);
    expect(p.build().ran).toEqual([]);
    // What `npm run bench` writes is not a source: a result newer than the build builds nothing.
    const later = new Date(Date.now() + 60_000);
    mkdirSync(join(p.root, 'bench', 'results'), { recursive: true });
    writeFileSync(join(p.root, 'bench', 'results', 'trace.json'), '{}\n');
    utimesSync(join(p.root, 'bench', 'results', 'trace.json'), later, later);
    expect(p.build().ran).toEqual([]);
    writeFileSync(join(p.root, 'bench', 'trace.ts'), 'export {};\n');
    utimesSync(join(p.root, 'bench', 'trace.ts'), later, later);
    expect(p.build().ran).toEqual(['tsc', 'esbuild', 'esbuild', 'esbuild', 'esbuild']);
  });

  it('package.json: prepare and build force a build; demo, test and bench build only if needed', () => {
    const scripts = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).scripts as Record<string, string>;
    expect(scripts.build).toBe('node scripts/build.mjs --force');
    expect(scripts.prepare).toBe('npm run build');
    for (const name of ['demo', 'test', 'bench']) expect(scripts[name]).toMatch(/^node scripts\/build\.mjs && /);
  });
});
