import { recordMachine } from '../../machines/record.machine.js';
import { drawMachine, flattenEdges, readMachine } from '../diagram/index.js';

/** The record statechart for a terminal: drawn with one state marked, and the transitions that leave it. */
export interface RecordStateText {
  /** The machine as box-drawing text, `state` marked. */
  ascii: string;
  /** `EVENT [guard] -> target` for every transition out of `state` to another state. */
  next: string[];
}

/** Draws the record machine around `state` (a dotted leaf path such as `committed.released`). */
export function recordStateText(state: string): RecordStateText {
  const next = flattenEdges(readMachine(recordMachine))
    .filter((e) => e.from === state && e.to !== e.from)
    .map((e) => `${e.label.replace(/\n/g, ' ')} -> ${e.to}`);
  return { ascii: drawMachine(recordMachine, { highlight: state }).ascii, next };
}
