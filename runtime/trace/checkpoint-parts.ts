// A recording's checkpoint in two halves. The guest's thread gathers what it alone can see: the
// small digests (globals, fds, filesystem) and the pages of memory that changed since the last
// checkpoint (CheckpointDraft). The main thread, which has a core to spare while the guest runs,
// does the hashing: the changed pages, the output (which passes through it anyway, on its way to
// stdout), the chain, and encodes the checkpoint record (CheckpointFinisher). The records are the
// bytes a recording that hashed everything on the guest's thread wrote. Syscall_heavy, 10M events:
// the guest's thread spent ~9 ns per event on output hashing and page hashes (docs/design.md).
import { encodeCheckpoint, type StateDigest } from '../../formats/index.js';
import { chainHash, OutputHasher, pageCacheMaxBytes, PageDigests, type MemoryChanges, type PageChange } from './digest.js';

/** The guest's half of a checkpoint. */
export interface CheckpointDraft { globals: Uint8Array; fds: Uint8Array; fs: Uint8Array; memory: MemoryChanges }

/**
 * Bytes of changed pages a draft hands over as bytes; the guest's thread hashes any past it, so a
 * draft stays a few MiB (a frame of the trace ring, a record in pieces) and the main thread's
 * backlog is bounded. 64 pages: more than a typical checkpoint changes.
 */
export const draftPageBudget = 64 * 65536;

const digestBytes = 32;
const draftHeaderBytes = 8 + 4 + 3 * digestBytes;
/** How a page comes in a draft's head: its page number, then `count * 4 + kind`. */
const ChangeKind = { bytes: 0, digest: 1, patches: 2 } as const;

/**
 * A draft as parts to be sent one after the other: a head (memory size, the small digests, and for
 * each changed page its number, how it comes and its bodies' lengths, with each patch's offset),
 * then the bodies in order (page bytes and patches are views into the guest's memory), so that
 * no page is copied but into the ring.
 */
export function encodeDraft(draft: CheckpointDraft): Uint8Array[] {
  const { changed } = draft.memory;
  const words: number[] = [];
  const parts: Uint8Array[] = [];
  for (const c of changed) {
    if (c.patches) {
      words.push(c.page, c.patches.length * 4 + ChangeKind.patches);
      for (const patch of c.patches) {
        words.push(patch.offset, patch.bytes.length);
        parts.push(patch.bytes);
      }
    } else {
      const body = c.bytes ?? c.digest;
      words.push(c.page, body.length * 4 + (c.bytes ? ChangeKind.bytes : ChangeKind.digest));
      parts.push(body);
    }
  }
  const head = new Uint8Array(draftHeaderBytes + words.length * 4);
  const view = new DataView(head.buffer);
  view.setFloat64(0, draft.memory.byteLength, true);
  view.setUint32(8, changed.length, true);
  head.set(draft.globals, 12);
  head.set(draft.fds, 12 + digestBytes);
  head.set(draft.fs, 12 + 2 * digestBytes);
  for (let i = 0; i < words.length; i++) view.setUint32(draftHeaderBytes + i * 4, words[i]!, true);
  return [head, ...parts];
}

/** The draft encodeDraft's parts make, joined (views into `bytes`). */
export function decodeDraft(bytes: Uint8Array): CheckpointDraft {
  const fail = (what: string): never => { throw new Error(`RepliCode bug: checkpoint draft: ${what}`); };
  if (bytes.length < draftHeaderBytes) fail(`${bytes.length} bytes is shorter than its head`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(8, true);
  // The head's words, then the bodies: both read in order.
  let word = draftHeaderBytes;
  const next = (): number => {
    if (word + 4 > bytes.length) fail('its head is cut short');
    word += 4;
    return view.getUint32(word - 4, true);
  };
  const lengths: number[] = [];
  const kinds: { page: number; kind: number; offsets: number[] }[] = [];
  for (let i = 0; i < count; i++) {
    const page = next();
    const w = next();
    const kind = w & 3;
    const n = Math.floor(w / 4);
    const offsets: number[] = [];
    if (kind === ChangeKind.patches) {
      for (let k = 0; k < n; k++) {
        offsets.push(next());
        lengths.push(next());
      }
    } else lengths.push(n);
    kinds.push({ page, kind, offsets });
  }
  let body = word;
  let taken = 0;
  const take = (): Uint8Array => {
    const length = lengths[taken++]!;
    if (body + length > bytes.length) fail('a body is cut short');
    body += length;
    return bytes.subarray(body - length, body);
  };
  const changed: PageChange[] = kinds.map(({ page, kind, offsets }) => {
    if (kind === ChangeKind.patches) return { page, patches: offsets.map((offset) => ({ offset, bytes: take() })) };
    return kind === ChangeKind.digest ? { page, digest: take() } : { page, bytes: take() };
  });
  if (body !== bytes.length) fail(`${bytes.length - body} bytes past its end`);
  const digest = (k: number) => bytes.subarray(12 + k * digestBytes, 12 + (k + 1) * digestBytes);
  return { globals: digest(0), fds: digest(1), fs: digest(2), memory: { byteLength: view.getFloat64(0, true), changed } };
}

/**
 * The main thread's output hashes, fed by the output ring's reader in the order the guest wrote,
 * with the digests of both streams taken at each checkpoint's mark (OutputRingWriter.mark), which
 * the guest's thread writes into the output ring before it sends the checkpoint's draft.
 */
export class OutputDigests {
  private readonly hashers = { 1: new OutputHasher(), 2: new OutputHasher() };
  /** Digests at marks whose checkpoint has not been finished yet (a few at most: see CheckpointFinisher). */
  private readonly marks = new Map<number, { stdout: Uint8Array; stderr: Uint8Array }>();

  add(stream: 1 | 2, bytes: Uint8Array): void {
    this.hashers[stream].add(bytes);
  }

  mark(checkpoint: number): void {
    this.marks.set(checkpoint, { stdout: this.hashers[1].digest(), stderr: this.hashers[2].digest() });
  }

  /** The digests at checkpoint `number`'s mark, once (undefined: its mark has not been read yet). */
  take(number: number): { stdout: Uint8Array; stderr: Uint8Array } | undefined {
    const at = this.marks.get(number);
    this.marks.delete(number);
    return at;
  }
}

/**
 * The main thread's half: the checkpoint record from a draft, as the recording's session would
 * have written it in one thread. Drafts come in order (the trace ring's); `readOutput` shows the
 * output digests what the output ring holds, which includes the draft's mark (written before the
 * draft was sent).
 */
export class CheckpointFinisher {
  private chain: Uint8Array = new Uint8Array(32);
  private readonly pages = new PageDigests(pageCacheMaxBytes, true);

  constructor(private readonly output: OutputDigests, private readonly readOutput: () => void) {}

  finish(number: number, event: number, draftBytes: Uint8Array): Uint8Array {
    const draft = decodeDraft(draftBytes);
    const { memory, pages } = this.pages.apply(draft.memory);
    let output = this.output.take(number);
    if (!output) {
      this.readOutput();
      output = this.output.take(number);
    }
    if (!output) throw new Error(`RepliCode bug: checkpoint ${number}'s output mark is not in the output ring`);
    const digest: StateDigest = { memory, globals: draft.globals, fds: draft.fds, fs: draft.fs, ...output };
    this.chain = chainHash(this.chain, number, event, digest);
    return encodeCheckpoint(number, event, this.chain, digest, pages);
  }
}
