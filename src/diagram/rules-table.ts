import { RECORD_STATES } from '../../machines/record.machine.js';
import type { RecordEventType } from '../../machines/record.machine.js';
import { recordMachine } from '../../machines/record.machine.js';
import { stateFacts } from '../cache/records/rules.js';

/** The events callers cause; the machine's bookkeeping events (child counts) are taken everywhere. */
const CALLER_EVENTS: readonly RecordEventType[] = [
  'ACQUIRE',
  'ACQUIRE_MUTABLE',
  'COMMIT',
  'FINALIZE',
  'RELEASE',
  'RELEASE_MUTABLE',
  'REMOVE',
];

interface Handling {
  /** Guards of the candidate transitions; an empty string stands for an unguarded one. */
  guards: string[];
}

/** How the leaf (or, failing it, the nearest ancestor) takes each event: its candidates' guards. */
function handledEvents(state: string): Map<string, Handling> {
  const handled = new Map<string, Handling>();
  const path = state.split('.');
  for (let depth = path.length; depth >= 0; depth--) {
    const id = depth === 0 ? 'record' : `record.${path.slice(0, depth).join('.')}`;
    for (const [event, candidates] of Object.entries(recordMachine.getStateNodeById(id).on)) {
      if (handled.has(event)) continue;
      const guards = (candidates as { guard?: unknown }[]).map((t) => guardName(t.guard));
      handled.set(event, { guards });
    }
  }
  return handled;
}

function guardName(guard: unknown): string {
  if (guard === undefined) return '';
  if (typeof guard === 'string') return guard;
  return String((guard as { type?: unknown }).type ?? 'guard');
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/**
 * docs/machines/record-rules.md: for each leaf state its tags, its stored
 * projection, and for each caller event either "accepted" or the code and
 * reason the engine answers with. Everything comes from the machine's tags
 * and meta, the same place the engine reads.
 */
export function recordRulesMarkdown(note: string): string {
  const lines = ['# Record rules', '', note, ''];
  lines.push(
    'Every leaf state of the record machine with its tags and the state metadata stores for it, then what',
    'each event a caller causes gets there. "accepted" means the state has a transition for the event',
    '(a guard may still refuse it, with the reason shown). Codes: `LOCKED` may pass once a holder lets',
    'go; `INVALID` never will; `NOT_FOUND` means the record is gone or going.',
    '',
    '| state | tags | stored as |',
    '|---|---|---|',
  );
  for (const state of RECORD_STATES) {
    const facts = stateFacts(state);
    lines.push(`| \`${state}\` | ${[...facts.tags].join(', ') || '–'} | ${facts.stored ?? '–'} |`);
  }
  lines.push('', `| state | ${CALLER_EVENTS.map((e) => `\`${e}\``).join(' | ')} |`);
  lines.push(`|---|${CALLER_EVENTS.map(() => '---').join('|')}|`);
  for (const state of RECORD_STATES) {
    const facts = stateFacts(state);
    const handled = handledEvents(state);
    const cells = CALLER_EVENTS.map((event) => {
      const refusal = facts.refusal(event);
      const handling = handled.get(event);
      if (!handling) return cell(`${refusal.code}: ${refusal.reason}`);
      if (handling.guards.includes('')) return 'accepted';
      return cell(`when ${handling.guards.join(' or ')}; else ${refusal.code}: ${refusal.reason}`);
    });
    lines.push(`| \`${state}\` | ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}
