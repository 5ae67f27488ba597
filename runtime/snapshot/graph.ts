// The kernel's state as bytes and back: a walk over an object graph that keeps every class
// instance's own fields, shared references and cycles (v8's serializer keeps identity within one
// call), with named roots restored in place (the syscall tables' closures hold them) and named
// environment objects (effects, memory, the kernel itself) left out and reconnected on restore.
// A class not in the registry, or a function anywhere, is refused: a snapshot that could not be
// restored exactly is never written.
import { deserialize, serialize } from 'node:v8';

/** The graph holds something a snapshot cannot carry (a bug in RepliCode: a new class to register). */
export class SnapshotGraphError extends Error {}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyClass = abstract new (...args: any[]) => object;

/** The classes a snapshot may hold, each under a stable name. */
export class ClassRegistry {
  private readonly byName = new Map<string, AnyClass>();
  private readonly names = new Map<object, string>();

  constructor(classes: Record<string, AnyClass>) {
    for (const [name, cls] of Object.entries(classes)) {
      this.byName.set(name, cls);
      this.names.set(cls.prototype as object, name);
    }
  }

  nameOf(prototype: object): string | undefined { return this.names.get(prototype); }

  prototypeOf(name: string): object {
    const cls = this.byName.get(name);
    if (!cls) throw new SnapshotGraphError(`snapshot names an unknown class ${name}`);
    return cls.prototype as object;
  }
}

// Tags of the encoded form; plain objects in the kernel never use these keys.
const classTag = '\u0000c';
const fieldsTag = '\u0000f';
const envTag = '\u0000e';
const rootTag = '\u0000r';

type Encoded = Record<string, unknown>;

/**
 * The fields of each root (by name) as bytes. Objects in `environment` are written as references
 * by name; any other object must be a plain object, array, Map, Set, typed array or an instance of
 * a registered class.
 */
export function captureGraph(roots: Record<string, object>, environment: ReadonlyMap<object, string>, classes: ClassRegistry): Uint8Array {
  const rootNames = new Map<object, string>();
  for (const [name, root] of Object.entries(roots)) if (!rootNames.has(root)) rootNames.set(root, name);
  const memo = new Map<object, unknown>();
  const encodeFields = (value: object, path: string): Encoded => {
    const fields: Encoded = {};
    for (const key of Object.keys(value)) fields[key] = encode((value as Record<string, unknown>)[key], `${path}.${key}`);
    return fields;
  };
  const encode = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== 'object') {
      if (typeof value === 'function' || typeof value === 'symbol') throw new SnapshotGraphError(`cannot snapshot ${path}: a ${typeof value}`);
      return value;
    }
    const env = environment.get(value);
    if (env !== undefined) return { [envTag]: env };
    const root = rootNames.get(value);
    if (root !== undefined) return { [rootTag]: root };
    if (memo.has(value)) return memo.get(value);
    if (ArrayBuffer.isView(value)) {
      // A copy of just the view: v8 would write the whole underlying buffer.
      const copy = value instanceof DataView ? new DataView(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength))
        : (value as unknown as { slice(): unknown }).slice();
      memo.set(value, copy);
      return copy;
    }
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      memo.set(value, out);
      for (let i = 0; i < value.length; i++) out.push(encode(value[i], `${path}[${i}]`));
      return out;
    }
    if (value instanceof Map) {
      const out = new Map<unknown, unknown>();
      memo.set(value, out);
      for (const [k, v] of value) out.set(encode(k, `${path} key`), encode(v, `${path}[${String(k)}]`));
      return out;
    }
    if (value instanceof Set) {
      const out = new Set<unknown>();
      memo.set(value, out);
      for (const v of value) out.add(encode(v, `${path} member`));
      return out;
    }
    const prototype = Object.getPrototypeOf(value) as object | null;
    const plain = prototype === Object.prototype || prototype === null;
    const name = plain ? '' : classes.nameOf(prototype);
    if (name === undefined) throw new SnapshotGraphError(`cannot snapshot ${path}: an instance of ${(prototype as { constructor?: { name?: string } }).constructor?.name ?? 'an unknown class'}, not registered`);
    const out: Encoded = { [classTag]: name };
    memo.set(value, out);
    out[fieldsTag] = encodeFields(value, path);
    return out;
  };
  const encodedRoots: Record<string, Encoded> = {};
  for (const [name, root] of Object.entries(roots)) encodedRoots[name] = encodeFields(root, name);
  return new Uint8Array(serialize(encodedRoots));
}

/**
 * Restores what captureGraph wrote: each root's fields are assigned in place onto the live object
 * of the same name; environment references resolve to `environment`'s objects by name.
 */
export function restoreGraph(bytes: Uint8Array, roots: Record<string, object>, environment: ReadonlyMap<string, object>, classes: ClassRegistry): void {
  const encodedRoots = deserialize(bytes) as Record<string, Encoded>;
  const memo = new Map<object, unknown>();
  const decode = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (memo.has(value)) return memo.get(value);
    if (ArrayBuffer.isView(value)) {
      // Its own buffer, not a view of the whole blob; the same copy wherever it was shared.
      const copy = value instanceof DataView ? value : (value as unknown as { slice(): unknown }).slice();
      memo.set(value, copy);
      return copy;
    }
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      memo.set(value, out);
      for (const v of value) out.push(decode(v));
      return out;
    }
    if (value instanceof Map) {
      const out = new Map<unknown, unknown>();
      memo.set(value, out);
      for (const [k, v] of value) out.set(decode(k), decode(v));
      return out;
    }
    if (value instanceof Set) {
      const out = new Set<unknown>();
      memo.set(value, out);
      for (const v of value) out.add(decode(v));
      return out;
    }
    const tagged = value as Encoded;
    if (envTag in tagged) {
      const env = environment.get(tagged[envTag] as string);
      if (!env) throw new SnapshotGraphError(`snapshot refers to ${String(tagged[envTag])}, which this run does not have`);
      return env;
    }
    if (rootTag in tagged) {
      const root = roots[tagged[rootTag] as string];
      if (!root) throw new SnapshotGraphError(`snapshot refers to root ${String(tagged[rootTag])}, which this run does not have`);
      return root;
    }
    const name = tagged[classTag] as string;
    const out = Object.create(name === '' ? Object.prototype : classes.prototypeOf(name)) as Record<string, unknown>;
    memo.set(value, out);
    for (const [key, field] of Object.entries(tagged[fieldsTag] as Encoded)) out[key] = decode(field);
    return out;
  };
  for (const [name, fields] of Object.entries(encodedRoots)) {
    const root = roots[name];
    if (!root) throw new SnapshotGraphError(`snapshot holds root ${name}, which this run does not have`);
    for (const [key, field] of Object.entries(fields)) (root as Record<string, unknown>)[key] = decode(field);
  }
}
