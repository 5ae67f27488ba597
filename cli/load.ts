import { readFile } from 'node:fs/promises';
import { compileModule } from '../runtime/index.js';
import { UsageError } from './options.js';

/** Reads and compiles the module file (its memory capped if asked); any problem is one clear line. */
export async function loadModuleFile(file: string, maxMemoryBytes?: number): Promise<WebAssembly.Module> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${file}: no such file` : code === 'EISDIR' ? `${file}: is a directory` : `${file}: cannot read (${code})`);
  }
  return compileModule(bytes, file, maxMemoryBytes);
}
