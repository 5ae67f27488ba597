// The divergence report replay prints: where, what was expected and what happened, between
// which checkpoints, and the guest's stack at that moment (in source lines with `sources`, from
// the module's DWARF: cli/trap-report.ts reads it, as for a trap).
import { describePages, formatFrames, type Divergence, type TrapSources } from '../runtime/index.js';

/** Frames the report shows. */
const framesShown = 16;

export function formatDivergence(d: Divergence, sources?: TrapSources): string {
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
  lines.push(...formatFrames(d.stack, sources, '    ', framesShown));
  if (sources?.warning) lines.push(`replicode: warning: ${sources.warning}`);
  return lines.join('\n') + '\n';
}
