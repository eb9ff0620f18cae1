import { describe, expect, it } from 'vitest';
import { type EventFromLogic, type SnapshotFrom, transition } from 'xstate';
import { recordMachine } from '../../machines/record.machine.js';
import { leafState, stateFacts } from '../../src/cache/records/rules.js';
import { MODEL_STEPS, type ModelRecord, type ModelStep, stepRecord } from '../../src/testing/index.js';
import { reachableSnapshots } from '../../src/testing/transitions.js';
import { BUILDKIT_RULES, type Call } from '../cache/record-rules.js';

/**
 * The kit's reference model and the record machine agree on every reachable state (from xstate/graph's
 * adjacency map) and every event: both accept or both refuse, with the same code, and an accepted
 * event leads to the same state, refs and children. Then the model is held against the project's own
 * table of BuildKit's rules (test/cache/record-rules.ts), so neither side can drift with the other.
 */

type MachineEvent = EventFromLogic<typeof recordMachine>;
type Snapshot = SnapshotFrom<typeof recordMachine>;

const invokeOf = (s: Snapshot) => recordMachine.getStateNodeById(`record.${leafState(s)}`).invoke[0]?.id;

/** The machine event a model step stands for; undefined for I/O ends in a state running no I/O. */
function machineEvent(step: ModelStep, s: Snapshot): MachineEvent | undefined {
  const io = invokeOf(s);
  const events: Record<ModelStep, MachineEvent | undefined> = {
    get: { type: 'ACQUIRE' },
    clone: { type: 'ACQUIRE', clone: true },
    getMutable: { type: 'ACQUIRE_MUTABLE' },
    commit: { type: 'COMMIT' },
    release: { type: 'RELEASE', at: 1 },
    releaseMutable: { type: 'RELEASE_MUTABLE', at: 1 },
    finalize: { type: 'FINALIZE' },
    childAdded: { type: 'CHILD_ADDED' },
    childRemoved: { type: 'CHILD_REMOVED' },
    remove: { type: 'REMOVE', reason: 'agree' },
    pull: { type: 'PULL' },
    ioDone: io ? ({ type: `xstate.done.actor.${io}` } as unknown as MachineEvent) : undefined,
    ioFailed: io ? ({ type: `xstate.error.actor.${io}`, error: new Error('x') } as unknown as MachineEvent) : undefined,
  };
  return events[step];
}

const recordOf = (s: Snapshot): ModelRecord => ({
  id: 'r',
  state: s.status === 'done' ? 'removed' : leafState(s),
  retain: s.context.retain,
  refs: s.context.refs,
  children: s.context.children,
});

const snapshots = reachableSnapshots();

describe('cacheModel() agrees with the record machine', () => {
  it('reaches every leaf state of the machine, for retained and unretained records', () => {
    const leaves = new Set(snapshots.map((s) => recordOf(s).state));
    expect([...leaves].sort()).toEqual(
      [
        'creating',
        'mutable.held',
        'mutable.idle',
        'frozen.held',
        'frozen.released',
        'finalizing',
        'committed.held',
        'committed.released',
        'remote.held',
        'remote.released',
        'pulling',
        'removing',
        'removalFailed',
        'removed',
      ].sort(),
    );
    expect(snapshots.length).toBeGreaterThan(40);
  });

  it('on every reachable state and every event: accepted or refused alike, same code, same next state', () => {
    let compared = 0;
    for (const s of snapshots) {
      const before = recordOf(s);
      for (const step of MODEL_STEPS) {
        const event = machineEvent(step, s);
        const model = stepRecord(before, step);
        const where = `${JSON.stringify(before)} on ${step}`;
        if (step === 'ioDone' || step === 'ioFailed') {
          // Only a state running I/O takes its end; elsewhere the model refuses it.
          expect(model.ok, where).toBe(event !== undefined && s.status === 'active');
          if (!event || !model.ok) continue;
        } else {
          const accepted = s.status === 'active' && s.can(event!);
          expect(model.ok, where).toBe(accepted);
          if (!model.ok) {
            const code = s.status === 'done' ? 'NOT_FOUND' : stateFacts(leafState(s)).refusal(event!.type).code;
            expect(model.code, where).toBe(code);
            compared++;
            continue;
          }
        }
        const [next] = transition(recordMachine, s, event!);
        expect(model.record, where).toEqual(recordOf(next));
        compared++;
      }
    }
    expect(compared).toBe(snapshots.length * MODEL_STEPS.length - uncomparedIoSteps());
  });
});

/** I/O ends offered to states that run no I/O: the model refuses them and the machine has no such event. */
function uncomparedIoSteps(): number {
  return snapshots.filter((s) => !invokeOf(s) || s.status !== 'active').length * 2;
}

describe("cacheModel() follows the project's table of BuildKit's rules", () => {
  const stepOf: Record<Call, ModelStep> = { get: 'get', getMutable: 'getMutable', remove: 'remove' };
  const stateOf = (phase: string, holder: string): ModelRecord['state'][] => {
    const held = holder !== 'nothing';
    const map: Record<string, ModelRecord['state'][]> = {
      creating: ['creating'],
      mutable: [held ? 'mutable.held' : 'mutable.idle'],
      frozen: [held ? 'frozen.held' : 'frozen.released'],
      finalizing: ['finalizing'],
      finalized: [held ? 'committed.held' : 'committed.released'],
      removing: ['removing'],
      removed: ['removed'],
    };
    return map[phase]!;
  };

  for (const rule of BUILDKIT_RULES) {
    const { phase, holder, children } = rule.situation;
    it(`${phase}, held by ${holder}${children ? ', with a child' : ''}: ${rule.why}`, () => {
      for (const state of stateOf(phase, holder)) {
        const refs = holder === 'immutable refs' ? 1 : 0;
        for (const retain of state === 'mutable.idle' ? [true] : [false, true]) {
          const record: ModelRecord = { id: 'r', state, retain, refs, children: children ? 1 : 0 };
          for (const call of Object.keys(rule.outcome) as Call[]) {
            const result = stepRecord(record, stepOf[call]);
            expect(result.ok ? 'ok' : result.code, `${state} ${call}`).toBe(rule.outcome[call]);
          }
        }
      }
    });
  }
});
