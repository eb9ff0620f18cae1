import { describe, expect, it } from 'vitest';
import { transition, type SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { recordMachine, type RecordEvent, type RecordState } from '../../machines/record.machine.js';
import { leafState, stateFacts } from '../../src/cache/records/rules.js';
import { isCacheError, type CacheManager, type ImmutableRef, type MutableRef } from '../../src/index.js';
import { cacheFixture, SNAPSHOTTERS } from './helpers.js';

/**
 * Model-based test: shortest paths through the record statechart, each
 * extended by every event its last state accepts, drive the real manager;
 * after each step the record's real state, refs and children must equal the
 * model's, and at the end every manager call the model refuses must be
 * refused with the rule's error code.
 */

type ModelEvent = RecordEvent | { type: `xstate.done.actor.${'prepare' | 'finalize' | 'remove'}` };
type Snapshot = SnapshotFrom<typeof recordMachine>;

const IO_STATES = new Set<RecordState>(['creating', 'finalizing', 'removing']);
const MAX_REFS = 2;

/** Events the real API can cause in a state, bounded so the graph is finite. */
function modelEvents(s: Snapshot): ModelEvent[] {
  const c = s.context;
  if (s.matches('creating')) return [{ type: 'xstate.done.actor.prepare' }];
  if (s.matches('finalizing')) return [{ type: 'xstate.done.actor.finalize' }];
  if (s.matches('removing')) return [{ type: 'xstate.done.actor.remove' }];
  const events: ModelEvent[] = [
    { type: 'ACQUIRE_MUTABLE' },
    { type: 'COMMIT' },
    { type: 'RELEASE_MUTABLE', at: 0 },
    { type: 'REMOVE', reason: 'model' },
  ];
  if (c.refs < MAX_REFS) events.push({ type: 'ACQUIRE' });
  if (c.refs > 0 && c.refs < MAX_REFS) events.push({ type: 'ACQUIRE', clone: true });
  if (c.refs > 0) events.push({ type: 'RELEASE', at: 0 }, { type: 'FINALIZE' });
  if (s.matches({ committed: 'held' }) && c.children === 0) events.push({ type: 'CHILD_ADDED' });
  if (c.children > 0) events.push({ type: 'CHILD_REMOVED' });
  return events;
}

const serializeState = (s: Snapshot) => JSON.stringify([s.value, s.context.refs, s.context.children, s.status]);

interface ModelPath {
  name: string;
  steps: { event: ModelEvent; state: Snapshot }[];
}

function modelPaths(retain: boolean): ModelPath[] {
  const shortest = getShortestPaths(recordMachine, {
    input: { id: 'model', retain },
    events: modelEvents as (s: Snapshot) => RecordEvent[],
    serializeState: serializeState as never,
  });
  const paths: ModelPath[] = [];
  for (const p of shortest) {
    const steps = p.steps.filter((s) => (s.event.type as string) !== 'xstate.init') as ModelPath['steps'];
    const name = steps
      .map(
        (s) =>
          s.event.type.replace('xstate.done.actor.', 'done:') + ('clone' in s.event && s.event.clone ? '(clone)' : ''),
      )
      .join(' > ');
    for (const event of modelEvents(p.state)) {
      if (!p.state.can(event as RecordEvent)) continue;
      const extended = [...steps];
      let state = p.state;
      // Follow the event, then the I/O it starts, to a state the real manager rests in.
      for (
        let e: ModelEvent | undefined = event;
        e;
        e = IO_STATES.has(leafState(state)) ? modelEvents(state)[0] : undefined
      ) {
        [state] = transition(recordMachine, state, e as RecordEvent);
        extended.push({ event: e, state });
      }
      paths.push({ name: `${name} > ${event.type}`, steps: extended });
    }
    if (p.state.status === 'done') paths.push({ name, steps });
  }
  return paths;
}

/** Holds the refs a path has taken and turns model events into manager calls. */
class Driver {
  id = '';
  mutable: MutableRef | undefined;
  refs: ImmutableRef[] = [];
  child: MutableRef | undefined;
  constructor(
    private readonly cm: CacheManager,
    private readonly retain: boolean,
  ) {}

  async run(event: ModelEvent): Promise<void> {
    switch (event.type) {
      case 'xstate.done.actor.prepare':
        this.mutable = await this.cm.new(null, { retain: this.retain });
        this.id = this.mutable.id;
        return;
      case 'xstate.done.actor.finalize':
      case 'xstate.done.actor.remove':
        return; // The call that started the I/O already awaited it.
      case 'ACQUIRE':
        this.refs.push(event.clone ? this.refs[0]!.clone() : await this.cm.get(this.id));
        return;
      case 'ACQUIRE_MUTABLE':
        this.mutable = await this.cm.getMutable(this.id);
        return;
      case 'COMMIT':
        this.refs.push(await this.mutable!.commit());
        this.mutable = undefined;
        return;
      case 'RELEASE':
        await this.refs.pop()!.release();
        return;
      case 'RELEASE_MUTABLE':
        await this.mutable!.release();
        this.mutable = undefined;
        return;
      case 'FINALIZE':
        await this.refs[0]!.finalize();
        return;
      case 'CHILD_ADDED':
        this.child = await this.cm.new(this.refs[0]!);
        return;
      case 'CHILD_REMOVED':
        await this.child!.release();
        this.child = undefined;
        return;
      case 'REMOVE':
        await this.cm.remove(this.id, 'model');
        return;
    }
  }

  async cleanup(): Promise<void> {
    for (const ref of [this.child, this.mutable, ...this.refs]) await ref?.release();
  }
}

function expectMatches(cm: CacheManager, id: string, model: Snapshot, where: string) {
  const state = leafState(model);
  if (state === 'removed') {
    expect(() => cm.describe(id), where).toThrow(/not found/);
    return;
  }
  const real = cm.describe(id);
  expect({ state: real.state, refs: real.refs, children: real.children }, where).toEqual({
    state,
    refs: model.context.refs,
    children: model.context.children,
  });
}

/** Manager calls the model refuses in a state must be refused with the rule's code, changing nothing. */
async function expectRefusals(cm: CacheManager, id: string, model: Snapshot) {
  const state = leafState(model);
  if (state === 'removed' || IO_STATES.has(state)) return;
  const calls: [RecordEvent, () => Promise<unknown>][] = [
    [{ type: 'ACQUIRE' }, () => cm.get(id)],
    [{ type: 'ACQUIRE_MUTABLE' }, () => cm.getMutable(id)],
    [{ type: 'REMOVE', reason: 'model' }, () => cm.remove(id, 'model')],
  ];
  for (const [event, call] of calls) {
    if (model.can(event)) continue;
    const before = cm.describe(id);
    const err = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCacheError(err), `${event.type} in ${state} should be refused`).toBe(true);
    expect((err as { code: string }).code).toBe(stateFacts(state).refusal(event.type).code);
    expect(cm.describe(id)).toEqual(before);
  }
}

for (const { kind, skip } of SNAPSHOTTERS) {
  describe.skipIf(skip)(`record machine model drives the real manager (${kind})`, () => {
    const fx = cacheFixture(kind);
    for (const retain of [true, false]) {
      it(`every transition from every reachable state, retain=${retain}`, async () => {
        const cm = await fx.open();
        const paths = modelPaths(retain);
        expect(paths.length).toBeGreaterThan(10);
        for (const path of paths) {
          const driver = new Driver(cm, retain);
          for (const [i, step] of path.steps.entries()) {
            await driver.run(step.event);
            if (!IO_STATES.has(leafState(step.state)))
              expectMatches(cm, driver.id, step.state, `${path.name} (step ${i + 1})`);
          }
          await expectRefusals(cm, driver.id, path.steps.at(-1)!.state);
          await driver.cleanup();
        }
      });
    }
  });
}
