// A trace's events in order, each with the host inputs attached to it, and its checkpoints where
// they fall: inputs are written before the calls record that holds their event, so they are
// gathered until it arrives. One reading shared by `inspect --events`, `diff` and the TUI.
import { syscallName, type CheckpointRecord, type TraceReader, type TraceRecord } from '../formats/index.js';
import { errnoName } from '../runtime/index.js';

export interface CallView {
  type: 'call';
  index: number;
  id: number;
  fingerprint: number;
  result: number;
  /** Host inputs (and, with --record-output, output) attached to this event. */
  inputs: TraceRecord[];
  /** Network deliveries received before this event. */
  batch: number;
}
export interface CheckpointView { type: 'checkpoint'; record: CheckpointRecord }

const attachable = (r: TraceRecord) => r.kind === 'stdin' || r.kind === 'clock' || r.kind === 'entropy' || r.kind === 'net' || r.kind === 'output';

/** Events (and checkpoints) from event `from` on; inputs of earlier events are not kept. */
export function* eventsOf(reader: TraceReader, from = 0): Generator<CallView | CheckpointView> {
  const inputs = new Map<number, TraceRecord[]>();
  let batches = 0;
  for (const { record } of reader.records()) {
    if (attachable(record)) {
      const event = (record as { event: number }).event;
      if (event >= from || record.kind === 'net') inputs.set(event, [...(inputs.get(event) ?? []), record]);
    } else if (record.kind === 'calls') {
      for (let i = 0; i < record.ids.length; i++) {
        const index = record.first + i;
        const got = inputs.get(index) ?? [];
        inputs.delete(index);
        if (index >= from) yield { type: 'call', index, id: record.ids[i]!, fingerprint: record.fingerprints[i]!, result: record.results[i]!, inputs: got, batch: batches };
        batches += got.filter((r) => r.kind === 'net').length;
      }
    } else if (record.kind === 'checkpoint' && record.event >= from) {
      yield { type: 'checkpoint', record };
    }
  }
}

/** How a result is shown: "ok", or the errno's name. */
export const resultName = (errno: number): string => (errno === 0 ? 'ok' : errnoName(errno));
export { syscallName };
