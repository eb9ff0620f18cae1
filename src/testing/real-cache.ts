import type { AsyncCommand, Scheduler } from 'fast-check';
import { isCacheError } from '../cache/errors.js';
import type { CacheManager } from '../cache/manager.js';
import type { ImmutableRef, MutableRef } from '../cache/refs.js';
import type { CrashOwner } from './crash-owner.js';
import type { CacheModel, ModelOutcome } from './model.js';
import { IO_MODEL_STATES } from './record-rules.js';

/**
 * The real side of a model run: a manager, the refs the run holds by the model's handle numbers,
 * and the scheduler (if any) that snapshot I/O completions wait on.
 */
export interface RealCache {
  readonly cm: CacheManager;
  /** Refs the run holds, by the handle the model gave each. */
  readonly refs: Map<number, MutableRef | ImmutableRef>;
  readonly scheduler: Scheduler | undefined;
  /** Awaits `work`, letting the scheduler release I/O completions meanwhile. */
  drive<T>(work: Promise<T>): Promise<T>;
  /** Waits until no operation or snapshot I/O is in flight. */
  settle(model: CacheModel): Promise<void>;
  /** Closes the manager and opens it again on the same root; the run's refs are dropped. */
  reopen(): Promise<void>;
  /**
   * Closes the manager and its snapshotter, hands the root to a child process that opens it, runs
   * `during` with that child, kills it with SIGKILL, and opens the root here again. The run's refs
   * are dropped: let go of them first.
   */
  crash(during: (owner: CrashOwner) => Promise<void>): Promise<void>;
}

/** What a crash needs besides the manager: the means to close the snapshotter and start the child. */
export interface RootHandover {
  /** Closes the run's snapshotter, so the child can open the same store; `open()` opens it again. */
  closeSnapshotter(): Promise<void>;
  /** Starts the child that owns the root until it is killed. */
  startOwner(): Promise<CrashOwner>;
}

/** A command of a cache model run; write your own to drive your orchestrator's calls. */
export type CacheCommand = AsyncCommand<CacheModel, RealCache>;

/** How a real call ended: its value, or the CacheError code it was refused with. */
export type RealOutcome<T> = { ok: true; value: T } | { ok: false; code: string; error: unknown };

/** Runs a real call and keeps its outcome; an error that is not a CacheError is a failure of the run. */
export async function attempt<T>(real: RealCache, call: () => Promise<T>): Promise<RealOutcome<T>> {
  return real.drive(outcomeOf(call));
}

/** How `call` ends, without driving the scheduler: for calls started together and driven as one. */
export async function outcomeOf<T>(call: () => Promise<T>): Promise<RealOutcome<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    if (!isCacheError(error)) throw error;
    return { ok: false, code: error.code, error };
  }
}

/** Thrown when the real cache and the model disagree; the message says on what. */
export class ModelMismatchError extends Error {
  override readonly name = 'ModelMismatchError';
}

/** The real call must end as the model says: accepted, or refused with the model's code. */
export function expectSameOutcome(what: string, model: ModelOutcome<unknown>, real: RealOutcome<unknown>): void {
  const mismatch = outcomeMismatch(what, model, real);
  if (mismatch !== undefined) throw new ModelMismatchError(mismatch);
}

/** How the real outcome differs from the model's, or undefined when they agree. */
export function outcomeMismatch(
  what: string,
  model: ModelOutcome<unknown>,
  real: RealOutcome<unknown>,
): string | undefined {
  if (model.ok && !real.ok) return `${what}: the model accepts it, the cache refused it: ${String(real.error)}`;
  if (!model.ok && real.ok) return `${what}: the model refuses it ${model.code}, the cache took it`;
  if (!model.ok && !real.ok && model.code !== real.code)
    return `${what}: the model refuses it ${model.code}, the cache ${real.code}: ${String(real.error)}`;
  return undefined;
}

/** Every record the model knows has the model's state, refs and children in the real cache. */
export function expectMatchesModel(real: Pick<RealCache, 'cm'>, model: CacheModel): void {
  for (const record of model.records.values()) {
    let view: ReturnType<CacheManager['describe']> | undefined;
    try {
      view = real.cm.describe(record.id);
    } catch (error) {
      if (!isCacheError(error, 'NOT_FOUND')) throw error;
    }
    const actual = view ? { state: view.state, refs: view.refs, children: view.children } : 'removed';
    const expected = record.state === 'removed' ? 'removed' : record;
    const same =
      typeof actual === 'string' || typeof expected === 'string'
        ? actual === expected
        : actual.state === expected.state && actual.refs === expected.refs && actual.children === expected.children;
    if (!same) {
      const show = (v: typeof actual | typeof expected) =>
        typeof v === 'string' ? v : `${v.state}, ${v.refs} refs, ${v.children} children`;
      throw new ModelMismatchError(`record ${record.id}: the cache has ${show(actual)}, the model ${show(expected)}`);
    }
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Turns of the event loop a settle waits at full speed before it waits a little between looks. */
const QUICK_TURNS = 2_000;
/**
 * One wait of a settle: quick turns first, then short sleeps, so the bound on turns spans seconds of
 * real I/O however loaded the machine is (a count of bare turns can pass before a slow disk answers).
 */
const settleTurn = (i: number) => (i < QUICK_TURNS ? turn() : new Promise<void>((resolve) => setTimeout(resolve, 5)));

/** A RealCache over a manager that `open()` (re)creates. */
export function realCache(
  open: () => Promise<CacheManager>,
  first: CacheManager,
  scheduler: Scheduler | undefined,
  handover: RootHandover,
  maxSettleTurns = 20_000,
): RealCache {
  let cm = first;
  const drive = async <T>(work: Promise<T>): Promise<T> => {
    if (!scheduler) return work;
    let done = false;
    const watched = work.finally(() => {
      done = true;
    });
    watched.catch(() => {});
    while (!done) {
      if (scheduler.count() > 0) await scheduler.waitOne();
      else await turn();
    }
    return watched;
  };
  const busy = (model: CacheModel): boolean => {
    const status = cm.status();
    if (status.queueDepth > 0 || status.inFlight.length > 0) return true;
    for (const r of model.live()) {
      try {
        if (IO_MODEL_STATES.has(cm.describe(r.id).state)) return true;
      } catch {
        // Gone already: nothing in flight for it.
      }
    }
    return false;
  };
  const real: RealCache = {
    get cm() {
      return cm;
    },
    refs: new Map(),
    scheduler,
    drive,
    async settle(model) {
      for (let i = 0; busy(model); i++) {
        if (i >= maxSettleTurns) throw new ModelMismatchError('the cache did not settle: I/O or an operation hangs');
        if (scheduler && scheduler.count() > 0) await scheduler.waitOne();
        else await settleTurn(i);
      }
    },
    async reopen() {
      await drive(cm.close());
      real.refs.clear();
      cm = await drive(open());
    },
    async crash(during) {
      await drive(cm.close());
      real.refs.clear();
      await handover.closeSnapshotter();
      const owner = await handover.startOwner();
      try {
        await during(owner);
      } finally {
        await owner.kill();
        cm = await drive(open());
      }
    },
  };
  return real;
}
