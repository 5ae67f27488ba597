// The house rule, enforced: outside the host-effects module, the deterministic layers never
// reach for the host's clocks, entropy or I/O.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const deterministicFolders = ['formats', 'runtime', 'recorder', 'replayer', 'consensus'];
/** The one place allowed to touch the outside world. */
const effectsFolder = join('runtime', 'effects');

const forbidden: [RegExp, string][] = [
  [/\bDate\.now\s*\(/, 'Date.now()'],
  [/\bnew Date\s*\(\s*\)/, 'new Date()'],
  [/\bMath\.random\s*\(/, 'Math.random()'],
  [/\bperformance\.now\s*\(/, 'performance.now()'],
  [/\bprocess\.hrtime\b/, 'process.hrtime'],
  [/\b(randomBytes|randomFill(Sync)?|randomInt|randomUUID|getRandomValues)\b/, 'crypto randomness'],
  [/from\s+['"](node:)?(fs|fs\/promises|net|dgram|http|https|child_process|tls|dns)['"]/, 'host I/O module import'],
  [/\bprocess\.(stdin|stdout|stderr|env)\b/, 'process stdio/env'],
];

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Lines of `text` that break the rule, ignoring comment lines. */
export function violations(text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (/^\s*(\/\/|\*)/.test(line)) return;
    for (const [pattern, what] of forbidden) if (pattern.test(line)) found.push(`line ${i + 1}: ${what}`);
  });
  return found;
}

describe('determinism rule', () => {
  it('flags each forbidden API (the scanner itself works)', () => {
    expect(violations('const t = Date.now();')).toHaveLength(1);
    expect(violations('x = Math.random()')).toHaveLength(1);
    expect(violations("import { readFileSync } from 'node:fs';")).toHaveLength(1);
    expect(violations('crypto.randomBytes(4)')).toHaveLength(1);
    expect(violations('performance.now()')).toHaveLength(1);
    expect(violations('// Date.now() in a comment is fine')).toHaveLength(0);
    expect(violations("import { createHash } from 'node:crypto';")).toHaveLength(0);
  });

  it('no nondeterministic host API outside runtime/effects/', () => {
    const files = deterministicFolders.flatMap((f) => sourceFiles(join(root, f)));
    expect(files.length).toBeGreaterThan(10);
    const report: string[] = [];
    for (const file of files) {
      const rel = relative(root, file);
      if (rel.startsWith(effectsFolder)) continue;
      for (const v of violations(readFileSync(file, 'utf8'))) report.push(`${rel} ${v}`);
    }
    expect(report).toEqual([]);
  });
});
