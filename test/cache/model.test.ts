import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { recordMachine } from '../../machines/record.machine.js';
import {
  isCacheError,
  type CacheErrorCode,
  type CacheManager,
  type ImmutableRef,
  type MutableRef,
} from '../../src/index.js';
import { settleWithin } from './bounded-wait.js';
import { cacheFixture, SNAPSHOTTERS } from './helpers.js';
import { leafStateOf, recordLeafStates } from './record-graph.js';
import { BUILDKIT_RULES, expectedOutcome, LifecycleTracker, type Call, type Situation } from './record-rules.js';

/**
 * Model-based test: shortest paths through the record statechart, each
 * extended by every event its last state accepts, drive the real manager.
 * The statechart only generates the walks. What each step must allow or refuse
 * comes from BUILDKIT_RULES, a table of BuildKit's locking rules written in
 * record-rules.ts, applied to what the test itself holds (its refs, its child)
 * and to how far it took the record (mutable, frozen, finalized, removed).
 * At every step both the machine and the real manager must agree with the table;
 * refused calls must carry the table's code, name the record and change nothing.
 */

type RecordEvent = EventFromLogic<typeof recordMachine>;
type Snapshot = SnapshotFrom<typeof recordMachine>;
type ModelEvent = RecordEvent | { type: `xstate.done.actor.${string}` };

const LEAVES = recordLeafStates(recordMachine);
/** States running snapshot I/O, read from the machine: the real manager never rests in them. */
const IO_STATES = new Set(LEAVES.filter((l) => l.invokes.length > 0).map((l) => l.path));
const doneEventOf = (state: string): ModelEvent | undefined => {
  const id = LEAVES.find((l) => l.path === state)?.invokes[0];
  return id === undefined ? undefined : { type: `xstate.done.actor.${id}` };
};
const MAX_REFS = 2;

/** The machine event each manager call sends. */
const EVENT_OF: Record<Call, RecordEvent> = {
  get: { type: 'ACQUIRE' },
  getMutable: { type: 'ACQUIRE_MUTABLE' },
  remove: { type: 'REMOVE', reason: 'model' },
};

/** Events the real API can cause in a state, bounded so the graph is finite. */
function modelEvents(s: Snapshot): ModelEvent[] {
  const c = s.context;
  const done = doneEventOf(leafStateOf(s));
  if (done) return [done];
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

const eventName = (e: ModelEvent) =>
  e.type.replace('xstate.done.actor.', 'done:') + ('clone' in e && e.clone ? '(clone)' : '');

function modelPaths(retain: boolean): ModelPath[] {
  const shortest = getShortestPaths(recordMachine, {
    input: { id: 'model', retain },
    events: modelEvents as (s: Snapshot) => RecordEvent[],
    serializeState: serializeState as never,
  });
  const paths: ModelPath[] = [];
  for (const p of shortest) {
    const steps = p.steps.filter((s) => (s.event.type as string) !== 'xstate.init') as ModelPath['steps'];
    const name = steps.map((s) => eventName(s.event)).join(' > ');
    for (const event of modelEvents(p.state)) {
      if (!p.state.can(event as RecordEvent)) continue;
      const extended = [...steps];
      let state = p.state;
      // Follow the event, then the I/O it starts, to a state the real manager rests in.
      for (let e: ModelEvent | undefined = event; e; e = doneEventOf(leafStateOf(state))) {
        [state] = transition(recordMachine, state, e as RecordEvent);
        extended.push({ event: e, state });
      }
      paths.push({ name: name ? `${name} > ${eventName(event)}` : eventName(event), steps: extended });
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
  readonly lifecycle: LifecycleTracker;
  constructor(
    private readonly cm: CacheManager,
    retain: boolean,
  ) {
    this.lifecycle = new LifecycleTracker(retain);
  }

  /** What the test holds of the record and how far it took it: the key into the rules table. */
  situation(): Situation {
    return {
      phase: this.lifecycle.phase,
      holder: this.mutable ? 'mutable ref' : this.refs.length > 0 ? 'immutable refs' : 'nothing',
      children: this.child !== undefined,
    };
  }

  async run(event: ModelEvent): Promise<void> {
    this.lifecycle.apply(event);
    switch (event.type) {
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
      default:
        // The first done event is the creation; later ones were awaited by the call that started the I/O.
        if (this.id === '') {
          this.mutable = await this.cm.new(null, { retain: this.lifecycle.retain });
          this.id = this.mutable.id;
        }
    }
  }

  async cleanup(): Promise<void> {
    for (const ref of [this.child, this.mutable, ...this.refs]) await ref?.release();
  }
}

/** The machine accepts exactly the calls the table allows in this situation. */
function expectMachineFollowsRules(model: Snapshot, situation: Situation, where: string) {
  for (const call of Object.keys(EVENT_OF) as Call[]) {
    const expected = expectedOutcome(situation, call);
    expect(model.can(EVENT_OF[call]), `${where}: machine on ${call} (${JSON.stringify(situation)})`).toBe(
      expected === 'ok',
    );
  }
}

/** The real record shows the model's state, and the refs and child the test holds. */
function expectRealRecord(cm: CacheManager, driver: Driver, model: Snapshot, where: string) {
  if (driver.lifecycle.phase === 'removed') {
    expect(() => cm.describe(driver.id), where).toThrow(/not found/);
    return;
  }
  const real = cm.describe(driver.id);
  expect({ state: real.state, refs: real.refs, children: real.children }, where).toEqual({
    state: leafStateOf(model),
    refs: driver.refs.length,
    children: driver.child ? 1 : 0,
  });
}

/** Every manager call the table refuses is refused with the table's code, naming the record, changing nothing. */
async function expectManagerRefusals(cm: CacheManager, driver: Driver, where: string) {
  const situation = driver.situation();
  const gone = situation.phase === 'removed';
  const calls: Record<Call, () => Promise<unknown>> = {
    get: () => cm.get(driver.id),
    getMutable: () => cm.getMutable(driver.id),
    remove: () => cm.remove(driver.id, 'model'),
  };
  for (const call of Object.keys(calls) as Call[]) {
    const expected = expectedOutcome(situation, call);
    if (expected === 'ok') continue;
    const before = gone ? undefined : cm.describe(driver.id);
    const err = await calls[call]().then(
      () => undefined,
      (e: unknown) => e,
    );
    const label = `${where}: ${call} (${JSON.stringify(situation)})`;
    expect(isCacheError(err), `${label} should be refused, got ${String(err)}`).toBe(true);
    expect((err as { code: string }).code, label).toBe(expected);
    expect((err as Error).message, label).toContain(driver.id);
    if (before) expect(cm.describe(driver.id), label).toEqual(before);
  }
}

/**
 * Once the operation just started has reached its snapshot I/O, starts get, getMutable and remove
 * in the same turn, while that I/O still runs, and checks each against the table.
 */
async function expectCallsDuringIo(cm: CacheManager, id: string, situation: Situation, where: string) {
  // Only microtasks run here, so the I/O (which completes on the event loop) cannot finish meanwhile.
  for (let turn = 0; turn < 1000 && !IO_STATES.has(cm.describe(id).state); turn++) await Promise.resolve();
  expect(IO_STATES.has(cm.describe(id).state), `${where}: the record is in snapshot I/O`).toBe(true);
  const started: Record<Call, Promise<unknown>> = {
    get: cm.get(id),
    getMutable: cm.getMutable(id),
    remove: cm.remove(id, 'model'),
  };
  for (const call of Object.keys(started) as Call[]) {
    const expected = expectedOutcome(situation, call);
    const result = await started[call].then(
      (value) => ({ ok: true as const, value }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    const label = `${where}: ${call} (${JSON.stringify(situation)})`;
    if (expected === 'ok') {
      expect(result.ok, `${label} should be accepted, got ${result.ok ? '' : String(result.err)}`).toBe(true);
      if (!result.ok) continue;
      // The ref is released while the I/O may still run: that release must settle too.
      const released = await settleWithin((result.value as ImmutableRef).release());
      expect(released, `${label}: release of the ref it gave`).toEqual({ status: 'fulfilled', value: undefined });
      continue;
    }
    expect(result.ok, `${label} should be refused`).toBe(false);
    const err = (result as { err: unknown }).err;
    expect(isCacheError(err, expected as CacheErrorCode), `${label} should be ${expected}: ${String(err)}`).toBe(true);
    expect((err as Error).message, label).toContain(id);
  }
}

describe('the rules table', () => {
  it('has one row per situation and a rule for every call', () => {
    const keys = BUILDKIT_RULES.map((r) => JSON.stringify(r.situation));
    expect(new Set(keys).size).toBe(keys.length);
    for (const row of BUILDKIT_RULES) expect(Object.keys(row.outcome).sort()).toEqual(['get', 'getMutable', 'remove']);
  });

  it('refuses a situation it has no row for, so an unforeseen state cannot pass silently', () => {
    expect(() => expectedOutcome({ phase: 'frozen', holder: 'mutable ref', children: false }, 'get')).toThrow(
      /no rule/,
    );
  });

  it('the machine refuses every call while the record is being created, as BuildKit locks it', () => {
    const [initial] = initialTransition(recordMachine, { id: 'model', retain: true });
    expectMachineFollowsRules(initial, { phase: 'creating', holder: 'nothing', children: false }, 'initial state');
  });
});

for (const { kind, skip } of SNAPSHOTTERS) {
  describe.skipIf(skip)(`record machine model drives the real manager (${kind})`, () => {
    const fx = cacheFixture(kind);
    it('calls that land while a record is being removed follow the table', async () => {
      const cm = await fx.open();
      const doomed = await (await cm.new(null, { retain: true })).commit();
      await doomed.release();
      const removal = cm.remove(doomed.id, 'model');
      await expectCallsDuringIo(cm, doomed.id, { phase: 'removing', holder: 'nothing', children: false }, 'remove');
      await removal;
    });

    it('calls that land while a record is being finalized follow the table, and their refs release', async () => {
      const cm = await fx.open();
      const held = await (await cm.new(null, { retain: true })).commit();
      const finalizing = held.finalize();
      const situation: Situation = { phase: 'finalizing', holder: 'immutable refs', children: false };
      await expectCallsDuringIo(cm, held.id, situation, 'finalize');
      await finalizing;
      await held.release();
    });

    for (const retain of [true, false]) {
      it(`every transition from every reachable state follows BuildKit's rules, retain=${retain}`, async () => {
        const cm = await fx.open();
        const paths = modelPaths(retain);
        expect(paths.length).toBeGreaterThan(10);
        for (const path of paths) {
          const driver = new Driver(cm, retain);
          for (const [i, step] of path.steps.entries()) {
            await driver.run(step.event);
            const where = `${path.name} (step ${i + 1})`;
            expectMachineFollowsRules(step.state, driver.situation(), where);
            if (IO_STATES.has(leafStateOf(step.state))) continue;
            expectRealRecord(cm, driver, step.state, where);
          }
          await expectManagerRefusals(cm, driver, path.name);
          await driver.cleanup();
        }
      });
    }
  });
}
