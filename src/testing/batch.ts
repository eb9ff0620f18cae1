import fc from 'fast-check';
import type { ImmutableRef, MutableRef } from '../cache/refs.js';
import {
  type BoundCall,
  bindCall,
  type CallSpec,
  callOnModel,
  callSpecArbitrary,
  showBound,
  showSpec,
  startCall,
} from './calls.js';
import type { CacheModel } from './model.js';
import {
  expectMatchesModel,
  ModelMismatchError,
  outcomeMismatch,
  type CacheCommand,
  type RealCache,
  type RealOutcome,
} from './real-cache.js';

/**
 * Concurrent batches: a few calls started at once on the real cache, with no await between them, so
 * they are in flight together (and, with a scheduler, their snapshot I/O completes in the order it
 * picks). The cache is right when its answers and its records afterwards are those of some serial
 * order of the same calls on the model: linearizability against the reference model.
 */

const showOutcome = (o: RealOutcome<unknown>) => (o.ok ? 'ok' : o.code);

/** Every order of 0..n-1. */
function* permutations(n: number): Generator<number[]> {
  if (n <= 1) {
    yield n === 1 ? [0] : [];
    return;
  }
  for (const rest of permutations(n - 1))
    for (let at = 0; at <= rest.length; at++) yield [...rest.slice(0, at), n - 1, ...rest.slice(at)];
}

type Replay = { mismatch: string; made?: undefined } | { mismatch?: undefined; made: [number, number][] };

/** Makes the calls on `model` in `order`; the first disagreement with the real answers, or the refs made. */
function replay(model: CacheModel, bound: BoundCall[], outs: RealOutcome<unknown>[], order: number[]): Replay {
  const made: [number, number][] = [];
  for (const i of order) {
    const expected = callOnModel(model, bound[i]!, outs[i]!);
    const mismatch = outcomeMismatch(showBound(bound[i]!), expected, outs[i]!);
    if (mismatch !== undefined) return { mismatch };
    if (expected.ok && expected.value) made.push([i, expected.value.handle]);
  }
  return { made };
}

const bindAll = (model: CacheModel, specs: readonly CallSpec[]) => specs.flatMap((s) => bindCall(model, s) ?? []);

/** A serial order that explains a batch, with the refs it made (call index, model handle). */
export type Linearization =
  | { readonly ok: true; readonly order: number[]; readonly made: [number, number][] }
  | { readonly ok: false; readonly tried: string[] };

/**
 * Looks for a serial order of `bound` on copies of `model` that gives the real answers `outs` and
 * after which `agrees` (the real records against the copy) finds nothing wrong. `model` is unchanged.
 */
export function linearize(
  model: CacheModel,
  bound: BoundCall[],
  outs: RealOutcome<unknown>[],
  agrees: (attempt: CacheModel) => string | undefined = () => undefined,
): Linearization {
  const tried: string[] = [];
  for (const order of permutations(bound.length)) {
    const named = order.map((i) => showBound(bound[i]!)).join(', ');
    const attempt = model.copy();
    const result = replay(attempt, bound, outs, order);
    const mismatch = result.mismatch ?? agrees(attempt);
    if (mismatch === undefined) return { ok: true, order, made: result.made! };
    tried.push(`${named}: ${mismatch}`);
  }
  return { ok: false, tried };
}

/** The records of the real cache against a model: the first disagreement, or undefined. */
const recordsAgree = (real: RealCache) => (attempt: CacheModel) => {
  try {
    expectMatchesModel(real, attempt);
    return undefined;
  } catch (error) {
    if (!(error instanceof ModelMismatchError)) throw error;
    return error.message;
  }
};

/** Several calls in flight at once; passes when some serial order of them explains what the cache did. */
export class BatchCommand implements CacheCommand {
  constructor(readonly calls: readonly CallSpec[]) {}
  check(model: Readonly<CacheModel>) {
    return bindAll(model as CacheModel, this.calls).length > 0;
  }
  async run(model: CacheModel, real: RealCache) {
    // Every target is bound before any call starts: the calls race on the same refs and records.
    const bound = bindAll(model, this.calls);
    const outs = await real.drive(Promise.all(bound.map((b) => startCall(real, b))));
    await real.settle(model);
    const found = linearize(model, bound, outs, recordsAgree(real));
    if (!found.ok) {
      const answers = bound.map((b, i) => `${showBound(b)} -> ${showOutcome(outs[i]!)}`).join(', ');
      throw new ModelMismatchError(`no serial order explains the batch [${answers}]:\n  ${found.tried.join('\n  ')}`);
    }
    // The run's model takes the order found, and the real refs the handles it gave.
    replay(model, bound, outs, found.order);
    for (const b of bound) if (b.handle !== undefined && !model.refs.has(b.handle)) real.refs.delete(b.handle);
    for (const [i, handle] of found.made) {
      const out = outs[i]!;
      if (out.ok) real.refs.set(handle, out.value as MutableRef | ImmutableRef);
    }
  }
  toString() {
    return `batch[${this.calls.map(showSpec).join(' | ')}]`;
  }
}

/** Batches of 2 to `maxSize` calls made at once. */
export function batchArbitrary(maxSize = 3): fc.Arbitrary<CacheCommand> {
  if (!(Number.isInteger(maxSize) && maxSize >= 2))
    throw new RangeError(`batch: batchSize (${String(maxSize)}) is not an integer of at least 2`);
  return fc.array(callSpecArbitrary(), { minLength: 2, maxLength: maxSize }).map((calls) => new BatchCommand(calls));
}
