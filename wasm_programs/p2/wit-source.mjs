// The WIT text the component build scripts (embed.mjs, fuzz-gen.mjs) give jco: a world file with
// the WASI 0.2.12 packages jco ships inlined after it, so the world's imports resolve.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const builtin = join(dirname(fileURLToPath(import.meta.url)), '../../node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12');

export function witSource(worldFile) {
  let source = readFileSync(worldFile, 'utf8');
  for (const pkg of ['cli', 'clocks', 'filesystem', 'io', 'random', 'sockets']) {
    const text = readFileSync(join(builtin, `wasi-${pkg}`, 'package.wit'), 'utf8');
    source += `\n${text.replace(/^package ([^;]+);/m, 'package $1 {')}\n}\n`;
  }
  return source;
}
