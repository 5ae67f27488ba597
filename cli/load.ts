import { readFile } from 'node:fs/promises';
import { compileModule, rewritePipeline, type ProcessConfig } from '../runtime/index.js';
import { UsageError } from './options.js';

/** Reads and compiles the module file (memory capped, stack counted, as configured); any problem is one clear line. */
export async function loadModuleFile(file: string, config: Pick<ProcessConfig, 'maxMemoryBytes' | 'maxStackBytes'> = {}): Promise<WebAssembly.Module> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${file}: no such file` : code === 'EISDIR' ? `${file}: is a directory` : `${file}: cannot read (${code})`);
  }
  return compileModule(bytes, file, config.maxMemoryBytes, rewritePipeline(config));
}
