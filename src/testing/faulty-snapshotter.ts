import { SnapshotError } from '../snapshot/errors.js';
import type { Snapshotter } from '../snapshot/types.js';
import { seededRandom } from './seeded.js';

/**
 * A Snapshotter wrapper that fails chosen calls, for testing what a caller does when the disk
 * fills, a device errors, a snapshot vanishes underneath, or a call is slow or never returns.
 * The inner snapshotter does the real work; the plan decides which calls go wrong and how.
 */

/** The snapshotter methods a plan can aim at. */
export type SnapshotterMethod = 'stat' | 'update' | 'usage' | 'mounts' | 'prepare' | 'view' | 'commit' | 'remove';

export const SNAPSHOTTER_METHODS: readonly SnapshotterMethod[] = [
  'stat',
  'update',
  'usage',
  'mounts',
  'prepare',
  'view',
  'commit',
  'remove',
];

/**
 * What goes wrong:
 * - `ENOSPC`, `EIO`: the call rejects with a Node system error of that code (as fs calls do);
 * - `vanished`: the call rejects with the snapshotter's NOT_FOUND, as if someone removed the snapshot;
 * - `delay`: the call goes on after `ms` more milliseconds, and then fails as `failWith` says, if given;
 * - `hang`: the call never settles (until `release()` of the wrapper lets every hung call go on).
 */
export type Fault =
  | { readonly kind: 'ENOSPC' | 'EIO' | 'vanished' }
  | { readonly kind: 'delay'; readonly ms: number; readonly failWith?: 'ENOSPC' | 'EIO' | 'vanished' }
  | { readonly kind: 'hang' };

/** before: the real call never runs. after: it runs, and then the caller is told it failed. */
export type FaultTiming = 'before' | 'after';

/** A call the plan looks at: its method, its key (the name for commit), and its number. */
export interface SnapshotCall {
  readonly method: SnapshotterMethod;
  readonly key: string;
  /** 1 for the first call of this method through the wrapper, and so on. */
  readonly nth: number;
  /** 1 for the first call of any method. */
  readonly seq: number;
}

/** Which calls fail, and how. Rules are tried in order; the first that matches decides. */
export interface FaultRule {
  readonly fault: Fault;
  readonly when?: FaultTiming;
  /** Only these methods; default every method. */
  readonly methods?: readonly SnapshotterMethod[];
  /** Only these call numbers of the method (`nth`), 1-based. */
  readonly calls?: readonly number[];
  /** Only keys matching this pattern. */
  readonly key?: RegExp;
  /** The chance a matching call fails, 0 to 1 (drawn from the plan's seeded generator); default 1. */
  readonly probability?: number;
  /** At most this many failures from this rule; default unlimited. */
  readonly times?: number;
}

export interface FaultPlan {
  readonly rules: readonly FaultRule[];
  /** Seed of the generator `probability` draws from; default 1. */
  readonly seed?: number;
}

/** One failure the wrapper caused, in order. */
export interface InjectedFault extends SnapshotCall {
  readonly fault: Fault['kind'];
  readonly when: FaultTiming;
}

export interface FaultySnapshotter extends Snapshotter {
  /** Every fault injected so far. */
  readonly injected: readonly InjectedFault[];
  /** Lets every hung call go on (to fail as planned) and stops injecting new faults. */
  release(): void;
  /** Turns injection on or off; calls go straight through while off. */
  enabled: boolean;
  /** Replaces the plan; call counts, rule budgets and the generator start again. */
  replan(plan: FaultPlan): void;
}

function faultError(fault: Fault['kind'], call: SnapshotCall): Error {
  if (fault === 'vanished')
    return new SnapshotError('NOT_FOUND', call.method, call.key, 'snapshot does not exist (injected fault)');
  const message = fault === 'ENOSPC' ? 'no space left on device' : 'i/o error';
  return Object.assign(new Error(`${fault}: ${message}, ${call.method} ${JSON.stringify(call.key)} (injected fault)`), {
    code: fault,
    errno: fault === 'ENOSPC' ? -28 : -5,
    syscall: call.method,
  });
}

function checkPlan(plan: FaultPlan): void {
  for (const [i, rule] of plan.rules.entries()) {
    const where = `faultySnapshotter: rule ${i}`;
    const p = rule.probability;
    if (p !== undefined && !(p >= 0 && p <= 1)) throw new RangeError(`${where}: probability ${p} is not in [0, 1]`);
    if (rule.fault.kind === 'delay' && !(rule.fault.ms >= 0))
      throw new RangeError(`${where}: delay ${rule.fault.ms} is not a non-negative number of ms`);
    for (const m of rule.methods ?? [])
      if (!SNAPSHOTTER_METHODS.includes(m)) throw new RangeError(`${where}: ${String(m)} is not a snapshotter method`);
  }
}

/** Wraps `inner`; calls not matched by any rule go straight through. */
export function faultySnapshotter(inner: Snapshotter, plan: FaultPlan): FaultySnapshotter {
  checkPlan(plan);
  let random = seededRandom(plan.seed ?? 1);
  const counts = new Map<SnapshotterMethod, number>();
  const used = new Map<FaultRule, number>();
  const injected: InjectedFault[] = [];
  const hung = new Set<() => void>();
  let seq = 0;
  let released = false;

  const choose = (call: SnapshotCall): FaultRule | undefined => {
    for (const rule of plan.rules) {
      if (rule.methods && !rule.methods.includes(call.method)) continue;
      if (rule.calls && !rule.calls.includes(call.nth)) continue;
      if (rule.key && !rule.key.test(call.key)) continue;
      if (rule.times !== undefined && (used.get(rule) ?? 0) >= rule.times) continue;
      // Draw only for rules that match otherwise, so adding a rule for another method keeps the sequence.
      if (rule.probability !== undefined && random() >= rule.probability) continue;
      used.set(rule, (used.get(rule) ?? 0) + 1);
      return rule;
    }
    return undefined;
  };

  const strike = async (fault: Fault, call: SnapshotCall, when: FaultTiming): Promise<void> => {
    injected.push({ ...call, fault: fault.kind, when });
    if (fault.kind === 'delay') {
      await new Promise((resolve) => setTimeout(resolve, fault.ms));
      if (fault.failWith) throw faultError(fault.failWith, call);
      return;
    }
    if (fault.kind === 'hang') {
      if (!released) await new Promise<void>((resolve) => hung.add(resolve));
      throw faultError('EIO', call);
    }
    throw faultError(fault.kind, call);
  };

  const wrap = <A extends unknown[], R>(method: SnapshotterMethod, keyOf: (...args: A) => string) =>
    (async (...args: A): Promise<R> => {
      const real = (inner[method] as unknown as (...a: A) => Promise<R>).bind(inner);
      if (!wrapper.enabled || released) return real(...args);
      const nth = (counts.get(method) ?? 0) + 1;
      counts.set(method, nth);
      const call: SnapshotCall = { method, key: keyOf(...args), nth, seq: ++seq };
      const rule = choose(call);
      if (!rule) return real(...args);
      const when = rule.when ?? 'before';
      if (when === 'before') {
        await strike(rule.fault, call, when);
        return real(...args);
      }
      const result = await real(...args);
      await strike(rule.fault, call, when);
      return result;
    }) as (...args: A) => Promise<R>;

  const first = (key: string) => key;
  const wrapper: FaultySnapshotter = {
    enabled: true,
    get injected() {
      return injected;
    },
    replan(next) {
      checkPlan(next);
      plan = next;
      random = seededRandom(next.seed ?? 1);
      counts.clear();
      used.clear();
      seq = 0;
    },
    release() {
      released = true;
      for (const go of hung) go();
      hung.clear();
    },
    stat: wrap('stat', first),
    update: wrap('update', (info: { name: string }) => info.name),
    usage: wrap('usage', first),
    mounts: wrap('mounts', first),
    prepare: wrap('prepare', first),
    view: wrap('view', first),
    commit: wrap('commit', (name: string) => name),
    remove: wrap('remove', first),
    walk: (fn, ...filters) => inner.walk(fn, ...filters),
    close: () => inner.close(),
    ...(inner.cleanup ? { cleanup: () => inner.cleanup!() } : {}),
    ...(inner.deleted ? { deleted: () => inner.deleted!() } : {}),
    ...(inner.undeleted ? { undeleted: () => inner.undeleted!() } : {}),
  };
  return wrapper;
}
