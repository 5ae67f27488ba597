// The divergence report replay prints: where, what was expected and what happened, between
// which checkpoints, and the guest's stack at that moment.
import { describePages, type Divergence } from '../runtime/index.js';

export function formatDivergence(d: Divergence): string {
  const lines = [
    `replicode: replay diverged at event ${d.event}: ${d.reason}`,
    `  expected:    ${d.expected ?? '(nothing)'}`,
    `  actual:      ${d.actual ?? '(nothing)'}`,
    `  checkpoints: ${d.checkpointBefore === null ? 'none verified yet' : `#${d.checkpointBefore} verified`}; next in the trace: #${d.checkpointAfter}`,
  ];
  if (d.differing.length > 0) lines.push(`  differs in:  ${d.differing.join(', ')}`);
  if (d.pages.length > 0) lines.push(`  memory:      differs in ${describePages(d.pages)}`);
  lines.push('  guest stack (innermost first):');
  if (d.stack.length === 0) lines.push('    (not inside guest code)');
  d.stack.slice(0, 16).forEach((f, i) => lines.push(`    #${i} ${f.name} (func ${f.functionIndex}, offset 0x${f.offset.toString(16)})`));
  if (d.stack.length > 16) lines.push(`    ... ${d.stack.length - 16} more frames`);
  return lines.join('\n') + '\n';
}
