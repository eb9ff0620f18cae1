import { recordMachine } from '../../machines/record.machine.js';
import { flattenEdges, readMachine } from '../diagram/walk.js';
import { recordDiagramText } from './diagram.js';

/** The record statechart for a terminal: drawn with one state marked, and the transitions that leave it. */
export interface RecordStateText {
  /** The machine as text, `state` marked; drawn at build time. */
  ascii: string;
  /** `EVENT [guard] -> target` for every transition out of `state` to another state. */
  next: string[];
}

/** The record machine around `state` (a dotted leaf path such as `committed.released`). */
export function recordStateText(state: string): RecordStateText {
  const next = flattenEdges(readMachine(recordMachine))
    .filter((e) => e.from === state && e.to !== e.from)
    .map((e) => `${e.label.replace(/\n/g, ' ')} -> ${e.to}`);
  return { ascii: recordDiagramText(state), next };
}
