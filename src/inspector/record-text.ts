import { recordMachine } from '../../machines/record.machine.js';
import { machineToStateList } from '../diagram/state-list.js';
import { flattenEdges, readMachine } from '../diagram/walk.js';
import { RecordDiagramStateError, isRecordState } from './diagram.js';

/** The record statechart for a terminal: drawn with one state marked, and the transitions that leave it. */
export interface RecordStateText {
  /** The machine as a list of states and their transitions, `state` marked, at most 100 columns wide. */
  ascii: string;
  /** `EVENT [guard] -> target` for every transition out of `state` to another state. */
  next: string[];
}

/**
 * The record machine around `state` (a dotted leaf path such as `committed.released`). Drawn
 * when asked: the list is plain text made from the machine definition, with no renderer to load.
 */
export function recordStateText(state: string): RecordStateText {
  if (!isRecordState(state)) throw new RecordDiagramStateError(state);
  const next = flattenEdges(readMachine(recordMachine))
    .filter((e) => e.from === state && e.to !== e.from)
    .map((e) => `${e.label.replace(/\n/g, ' ')} -> ${e.to}`);
  return { ascii: machineToStateList(recordMachine, { highlight: state }), next };
}
