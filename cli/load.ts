import { readFile } from 'node:fs/promises';
import { compileProgram, isComponentProgram, defaultMaxMemoryBytes, importsThreadSpawn, memoryLimitBytes, moduleBinary, moduleKind, rewritePipeline, type GuestProgram, type ProcessConfig } from '../runtime/index.js';
import { UsageError } from './options.js';

export interface LoadedModule {
  module: GuestProgram;
  /** The file's bytes as read (record and cluster embed or hash them: the file is read once). */
  bytes: Uint8Array;
  /** The most memory it can ever have (its own maximum or the limit, whichever is lower). */
  memoryLimitBytes: number;
}

/** Reads and compiles the module file (memory capped, stack counted, as configured); any problem is one clear line. */
export async function loadModuleFile(file: string, config: Pick<ProcessConfig, 'maxMemoryBytes' | 'maxStackBytes' | 'maxFuel' | 'canonicalNans' | 'quantum'> = {}): Promise<LoadedModule> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${file}: no such file` : code === 'EISDIR' ? `${file}: is a directory` : `${file}: cannot read (${code})`);
  }
  const binary = await moduleBinary(bytes); // WAT assembled once, for both
  const module = await compileProgram(binary, file, config.maxMemoryBytes, rewritePipeline(config, moduleKind(binary) === 'core' && importsThreadSpawn(binary)));
  const limit = config.maxMemoryBytes ?? defaultMaxMemoryBytes;
  // A component's own memory is inside it (runtime/p2 caps its main core module): the limit is the bound.
  return { module, bytes, memoryLimitBytes: isComponentProgram(module) ? limit : memoryLimitBytes(binary, limit) };
}
