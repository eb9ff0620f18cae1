import fc from 'fast-check';
import { bindCall, type CallSpec, callOnModel, callSpecArbitrary, showBound, showSpec } from './calls.js';
import type { ChildReply } from './crash-protocol.js';
import type { CacheModel, CallName } from './model.js';
import { expectSameOutcome, outcomeOf, type CacheCommand, type RealCache, type RealOutcome } from './real-cache.js';

/**
 * The crash command: the run lets go of its refs and closes its manager, a child process opens the
 * root and makes a few calls (holding refs, leaving mutable records, committing), and is killed with
 * SIGKILL while it holds them. The run then opens the root again and the model applies BuildKit's
 * rules after a crash: every ref is gone, unretained mutables are gone, committed and frozen records
 * are kept, retained mutables rest idle.
 */

/** Options of the crash command. */
export interface CrashOptions {
  /** Most calls the child makes before it is killed; default 4. */
  maxCalls?: number;
  /** Crashes in one run at most; default 1 (each starts a process). */
  maxCrashes?: number;
  /** Weights of the calls the child makes; default new 2, the others 1. */
  weights?: Partial<Record<CallName, number>>;
}

const outcomeOfReply = (reply: ChildReply): RealOutcome<{ id: string }> =>
  reply.ok
    ? { ok: true, value: { id: reply.id ?? '' } }
    : { ok: false, code: reply.code!, error: new Error(reply.message) };

/** Crashes so far, per run (a run has one model). */
const crashesOf = new WeakMap<CacheModel, number>();

/** Hands the root to a child that makes `calls`, kills it with SIGKILL, and reopens the root. */
export class CrashCommand implements CacheCommand {
  constructor(
    readonly calls: readonly CallSpec[],
    readonly maxCrashes = 1,
  ) {}
  check(model: Readonly<CacheModel>) {
    return (crashesOf.get(model as CacheModel) ?? 0) < this.maxCrashes;
  }
  async run(model: CacheModel, real: RealCache) {
    // The root changes hands: the run lets go of what it holds first, each release checked.
    for (const ref of [...model.refs.values()]) {
      const out = await real.drive(outcomeOf(() => real.refs.get(ref.handle)!.release()));
      expectSameOutcome(`crash: release(#${ref.handle})`, model.release(ref.handle), out);
      real.refs.delete(ref.handle);
    }
    await real.settle(model);
    crashesOf.set(model, (crashesOf.get(model) ?? 0) + 1);
    await real.crash(async (owner) => {
      // The model's handle of each ref the child holds, to the number the child keeps it under.
      const inChild = new Map<number, number>();
      for (const spec of this.calls) {
        const b = bindCall(model, spec);
        if (!b) continue;
        const reply = await owner.call({
          call: spec.call,
          retain: spec.retain,
          ...(b.handle === undefined ? {} : { ref: inChild.get(b.handle)! }),
          ...(b.parent === undefined ? {} : { parent: inChild.get(b.parent)! }),
          ...(b.id === undefined ? {} : { id: b.id }),
        });
        const out = outcomeOfReply(reply);
        const expected = callOnModel(model, b, out);
        expectSameOutcome(`crash child: ${showBound(b)}`, expected, out);
        if (expected.ok && expected.value) inChild.set(expected.value.handle, reply.n);
      }
    });
    model.restart();
  }
  toString() {
    return `crash[${this.calls.map(showSpec).join(', ')}]`;
  }
}

/** The crash command: up to `maxCalls` calls in a child process, then kill -9 and reopen. */
export function crashArbitrary(options: CrashOptions = {}): fc.Arbitrary<CacheCommand> {
  const maxCalls = options.maxCalls ?? 4;
  const maxCrashes = options.maxCrashes ?? 1;
  for (const [name, n] of [
    ['maxCalls', maxCalls],
    ['maxCrashes', maxCrashes],
  ] as const)
    if (!(Number.isInteger(n) && n >= 0))
      throw new RangeError(`crash: ${name} (${String(n)}) is not a non-negative integer`);
  return fc
    .array(callSpecArbitrary(options.weights), { maxLength: maxCalls })
    .map((calls) => new CrashCommand(calls, maxCrashes));
}
