import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { recordMachine } from '../../machines/record.machine.js';
import { isCacheError, type CacheManager, type ImmutableRef, type MutableRef } from '../../src/index.js';
import {
  cacheModel,
  expectMatchesModel,
  expectSameOutcome,
  type ModelOutcome,
  type ModelRecord,
  type ModelRef,
  type ModelStep,
  outcomeOf,
  stepRecord,
} from '../../src/testing/index.js';
import { settleWithin } from './bounded-wait.js';
import { cacheFixture, SNAPSHOTTERS } from './helpers.js';
import { leafStateOf, recordLeafStates } from './record-graph.js';
import { BUILDKIT_RULES, expectedOutcome, type Call } from './record-rules.js';

/**
 * Model-based test: shortest paths through the record statechart, each
 * extended by every event its last state accepts, drive the real manager.
 * The statechart only generates the walks. What each step must allow or refuse,
 * and what the cache must hold after it, comes from cachekit/testing's reference
 * model (cacheModel and its record rules), written from BuildKit's behaviour and
 * independently of the statechart: every real call is made on the model too and
 * must end as the model says; after each step the real records must be the
 * model's; refused calls must carry the model's code, name the record and change
 * nothing. The statechart itself is held against the model's record rules at
 * every step, I/O states included.
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

/** The machine event each manager call sends, and the model's step for it. */
const EVENT_OF: Record<Call, RecordEvent> = {
  get: { type: 'ACQUIRE' },
  getMutable: { type: 'ACQUIRE_MUTABLE' },
  remove: { type: 'REMOVE', reason: 'model' },
};
const STEP_OF: Record<Call, ModelStep> = { get: 'get', getMutable: 'getMutable', remove: 'remove' };

/** The model's step for a machine event of a walk. */
function modelStepOf(event: ModelEvent): ModelStep {
  if (event.type.startsWith('xstate.done.actor.')) return 'ioDone';
  const steps: Record<RecordEvent['type'], ModelStep> = {
    ACQUIRE: 'clone' in event && event.clone ? 'clone' : 'get',
    ACQUIRE_MUTABLE: 'getMutable',
    COMMIT: 'commit',
    RELEASE: 'release',
    RELEASE_MUTABLE: 'releaseMutable',
    FINALIZE: 'finalize',
    CHILD_ADDED: 'childAdded',
    CHILD_REMOVED: 'childRemoved',
    REMOVE: 'remove',
    // Lazy records come from a registry import; these walks start from a new record and never pull.
    PULL: 'pull',
  };
  return steps[event.type as RecordEvent['type']];
}

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

interface Held<R> {
  ref: R;
  handle: number;
}

/**
 * Makes a walk's calls on the real manager and on the reference model side by side, and keeps the
 * refs both hand out. `record` follows the walked record step by step by the model's record rules,
 * through the I/O states a call passes, so the statechart can be held against it at every step.
 */
class Driver {
  id = '';
  readonly model = cacheModel();
  record: ModelRecord;
  mutable: Held<MutableRef> | undefined;
  refs: Held<ImmutableRef>[] = [];
  child: Held<MutableRef> | undefined;
  constructor(
    private readonly cm: CacheManager,
    readonly retain: boolean,
  ) {
    this.record = { id: '', state: 'creating', retain, refs: 0, children: 0 };
  }

  /** One call on both: the real one must end as the model's; what it hands out is kept under the model's handle. */
  private async both<T>(
    what: string,
    real: () => Promise<T>,
    onModel: (value: T | undefined) => ModelOutcome<unknown>,
  ) {
    const out = await outcomeOf(real);
    const expected = onModel(out.ok ? out.value : undefined);
    expectSameOutcome(`${what} on ${this.id}`, expected, out);
    return out.ok && expected.ok
      ? { value: out.value, handle: (expected.value as ModelRef | undefined)?.handle ?? 0 }
      : undefined;
  }

  async run(event: ModelEvent): Promise<void> {
    const stepped = stepRecord(this.record, modelStepOf(event));
    if (!stepped.ok) throw new Error(`the walk took ${event.type} in ${this.record.state}, which the model refuses`);
    this.record = stepped.record;
    const m = this.model;
    switch (event.type) {
      case 'ACQUIRE': {
        const first = this.refs[0];
        const got = event.clone
          ? await this.both(
              'clone',
              async () => first!.ref.clone(),
              () => m.clone(first!.handle),
            )
          : await this.both(
              'get',
              () => this.cm.get(this.id),
              () => m.get(this.id),
            );
        if (got) this.refs.push({ ref: got.value, handle: got.handle });
        return;
      }
      case 'ACQUIRE_MUTABLE': {
        const got = await this.both(
          'getMutable',
          () => this.cm.getMutable(this.id),
          () => m.getMutable(this.id),
        );
        if (got) this.mutable = { ref: got.value, handle: got.handle };
        return;
      }
      case 'COMMIT': {
        const mutable = this.mutable!;
        const got = await this.both(
          'commit',
          () => mutable.ref.commit(),
          () => m.commit(mutable.handle),
        );
        this.mutable = undefined;
        if (got) this.refs.push({ ref: got.value, handle: got.handle });
        return;
      }
      case 'RELEASE': {
        const ref = this.refs.pop()!;
        await this.both(
          'release',
          () => ref.ref.release(),
          () => m.release(ref.handle),
        );
        return;
      }
      case 'RELEASE_MUTABLE': {
        const mutable = this.mutable!;
        this.mutable = undefined;
        await this.both(
          'release of the mutable ref',
          () => mutable.ref.release(),
          () => m.release(mutable.handle),
        );
        return;
      }
      case 'FINALIZE': {
        const first = this.refs[0]!;
        await this.both(
          'finalize',
          () => first.ref.finalize(),
          () => m.finalize(first.handle),
        );
        return;
      }
      case 'CHILD_ADDED': {
        const parent = this.refs[0]!;
        const got = await this.both(
          'new on it',
          () => this.cm.new(parent.ref),
          (made) => m.newRecord(made?.id ?? '', { parent: parent.handle }),
        );
        if (got) this.child = { ref: got.value, handle: got.handle };
        return;
      }
      case 'CHILD_REMOVED': {
        const child = this.child!;
        this.child = undefined;
        await this.both(
          'release of its child',
          () => child.ref.release(),
          () => m.release(child.handle),
        );
        return;
      }
      case 'REMOVE':
        await this.both(
          'remove',
          () => this.cm.remove(this.id, 'model'),
          () => m.remove(this.id),
        );
        return;
      default:
        // The first done event is the creation; later ones were awaited by the call that started the I/O.
        if (this.id === '') {
          const retain = this.retain;
          const got = await this.both(
            'new',
            () => this.cm.new(null, { retain }),
            (made) => m.newRecord(made?.id ?? '', { retain }),
          );
          if (!got) throw new Error('new was refused');
          this.mutable = { ref: got.value, handle: got.handle };
          this.id = got.value.id;
          this.record = { ...this.record, id: this.id };
        }
    }
  }

  async cleanup(): Promise<void> {
    for (const held of [this.child, this.mutable, ...this.refs]) await held?.ref.release();
  }
}

/** The statechart is where the model's record rules say, and accepts exactly the calls they accept. */
function expectMachineFollowsModel(machine: Snapshot, record: ModelRecord, where: string) {
  const gone = machine.status === 'done';
  expect(
    { state: gone ? 'removed' : leafStateOf(machine), refs: machine.context.refs, children: machine.context.children },
    `${where}: machine against the model`,
  ).toEqual({ state: record.state, refs: gone ? machine.context.refs : record.refs, children: record.children });
  for (const call of Object.keys(EVENT_OF) as Call[]) {
    const expected = stepRecord(record, STEP_OF[call]);
    expect(machine.can(EVENT_OF[call]), `${where}: machine on ${call} in ${record.state}`).toBe(expected.ok);
  }
}

/** Every manager call the model refuses is refused with the model's code, naming the record, changing nothing. */
async function expectManagerRefusals(cm: CacheManager, driver: Driver, where: string) {
  const calls: Record<Call, () => Promise<unknown>> = {
    get: () => cm.get(driver.id),
    getMutable: () => cm.getMutable(driver.id),
    remove: () => cm.remove(driver.id, 'model'),
  };
  for (const call of Object.keys(calls) as Call[]) {
    // Tried on a copy: the walk's model stays as it is.
    const trial = driver.model.copy();
    const expected = call === 'remove' ? trial.remove(driver.id) : trial[call](driver.id);
    if (expected.ok) continue;
    const gone = driver.model.records.get(driver.id)?.state === 'removed';
    const before = gone ? undefined : cm.describe(driver.id);
    const err = await calls[call]().then(
      () => undefined,
      (e: unknown) => e,
    );
    const label = `${where}: ${call} in ${driver.model.records.get(driver.id)?.state}`;
    expect(isCacheError(err), `${label} should be refused, got ${String(err)}`).toBe(true);
    expect((err as { code: string }).code, label).toBe(expected.code);
    expect((err as Error).message, label).toContain(driver.id);
    if (before) expect(cm.describe(driver.id), label).toEqual(before);
  }
}

/**
 * Once the operation just started has reached its snapshot I/O, starts get, getMutable and remove
 * in the same turn, while that I/O still runs, and checks each against the model's record rules for
 * `during`, the record as the model has it while that I/O runs.
 */
async function expectCallsDuringIo(cm: CacheManager, id: string, during: ModelRecord, where: string) {
  // Only microtasks run here, so the I/O (which completes on the event loop) cannot finish meanwhile.
  for (let turn = 0; turn < 1000 && cm.describe(id).state !== during.state; turn++) await Promise.resolve();
  expect(cm.describe(id).state, `${where}: the record is in snapshot I/O`).toBe(during.state);
  const started: Record<Call, Promise<unknown>> = {
    get: cm.get(id),
    getMutable: cm.getMutable(id),
    remove: cm.remove(id, 'model'),
  };
  for (const call of Object.keys(started) as Call[]) {
    const expected = stepRecord(during, STEP_OF[call]);
    const result = await started[call].then(
      (value) => ({ ok: true as const, value }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    const label = `${where}: ${call} in ${during.state}`;
    if (expected.ok) {
      expect(result.ok, `${label} should be accepted, got ${result.ok ? '' : String(result.err)}`).toBe(true);
      if (!result.ok) continue;
      // The ref is released while the I/O may still run: that release must settle too.
      const released = await settleWithin((result.value as ImmutableRef).release());
      expect(released, `${label}: release of the ref it gave`).toEqual({ status: 'fulfilled', value: undefined });
      continue;
    }
    expect(result.ok, `${label} should be refused`).toBe(false);
    const err = (result as { err: unknown }).err;
    expect(isCacheError(err, expected.code), `${label} should be ${expected.code}: ${String(err)}`).toBe(true);
    expect((err as Error).message, label).toContain(id);
  }
}

/** The record as the model has it once `step` has begun its snapshot I/O. */
function duringIo(record: ModelRecord | undefined, step: ModelStep): ModelRecord {
  const begun = record && stepRecord(record, step);
  if (!begun?.ok) throw new Error(`the model refuses ${step} of ${JSON.stringify(record)}`);
  return begun.record;
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

  it('the machine refuses every call while the record is being created, as the model (BuildKit) locks it', () => {
    const [initial] = initialTransition(recordMachine, { id: 'model', retain: true });
    const creating: ModelRecord = { id: 'model', state: 'creating', retain: true, refs: 0, children: 0 };
    for (const call of Object.keys(STEP_OF) as Call[])
      expect(stepRecord(creating, STEP_OF[call])).toEqual({ ok: false, code: 'LOCKED' });
    expectMachineFollowsModel(initial, creating, 'initial state');
  });
});

for (const { kind, skip } of SNAPSHOTTERS) {
  describe.skipIf(skip)(`record machine model drives the real manager (${kind})`, () => {
    const fx = cacheFixture(kind);
    it('calls that land while a record is being removed do what the model says', async () => {
      const cm = await fx.open();
      const doomed = await (await cm.new(null, { retain: true })).commit();
      await doomed.release();
      const model = cacheModel();
      model.newRecord(doomed.id, { retain: true });
      model.commit(1);
      model.release(2);
      const removal = cm.remove(doomed.id, 'model');
      await expectCallsDuringIo(cm, doomed.id, duringIo(model.records.get(doomed.id), 'remove'), 'remove');
      await removal;
    });

    it('calls that land while a record is being finalized do what the model says, and their refs release', async () => {
      const cm = await fx.open();
      const held = await (await cm.new(null, { retain: true })).commit();
      const model = cacheModel();
      model.newRecord(held.id, { retain: true });
      model.commit(1);
      const finalizing = held.finalize();
      await expectCallsDuringIo(cm, held.id, duringIo(model.records.get(held.id), 'finalize'), 'finalize');
      await finalizing;
      await held.release();
    });

    for (const retain of [true, false]) {
      it(`every transition from every reachable state does what the model says, retain=${retain}`, async () => {
        const cm = await fx.open();
        const paths = modelPaths(retain);
        expect(paths.length).toBeGreaterThan(10);
        for (const path of paths) {
          const driver = new Driver(cm, retain);
          for (const [i, step] of path.steps.entries()) {
            await driver.run(step.event);
            const where = `${path.name} (step ${i + 1})`;
            expectMachineFollowsModel(step.state, driver.record, where);
            // The real manager never rests in an I/O state: the call that started it awaited its end.
            if (IO_STATES.has(driver.record.state)) continue;
            expectMatchesModel({ cm }, driver.model);
            expect(driver.model.records.get(driver.id), where).toEqual(driver.record);
          }
          await expectManagerRefusals(cm, driver, path.name);
          await driver.cleanup();
        }
      });
    }
  });
}
