// Makes a component from a core module that imports WASI 0.2 directly (no preview1 adapter):
// embeds the world of WORLD.wit, with jco's copies of the WASI 0.2.12 WIT packages as its
// dependencies, then `jco new`. (jco embed --wit DIR fails to read a deps/ folder here, so the
// packages go in as one WIT source, each nested in its own `package ... { }`.)
// Usage: node p2/embed.mjs CORE.wasm WORLD.wit WORLD-NAME OUT.component.wasm
// CORE.wasm `--dummy`: jco's dummy core module, which imports every function of the world.
import { readFileSync, writeFileSync } from 'node:fs';
import { componentEmbed, componentNew } from '@bytecodealliance/jco';
import { witSource } from './wit-source.mjs';

const [core, worldFile, world, out] = process.argv.slice(2);
if (!out) throw new Error('usage: node p2/embed.mjs CORE.wasm WORLD.wit WORLD-NAME OUT.component.wasm');
const source = witSource(worldFile);
const embedded = await componentEmbed({ ...(core === '--dummy' ? { dummy: true } : { binary: readFileSync(core) }), witSource: source, world });
writeFileSync(out, await componentNew(embedded));
