import fc from 'fast-check';
import type { ImmutableRef, MutableRef } from '../cache/refs.js';
import { CALL_NAMES, type CacheModel, type CallName, type ModelOutcome, type ModelRef } from './model.js';
import { outcomeOf, type RealCache, type RealOutcome } from './real-cache.js';

/**
 * One cache call as data, for commands that run calls other than one at a time in this process:
 * concurrent batches, and the calls a child process makes before it is killed. A call is generated
 * with picks, bound to a ref or record of the model when it runs, made on the cache, and then made
 * on the model with what the cache answered (a new record's id).
 */

/** One call as generated: `pick` chooses its ref or record when it is bound. */
export interface CallSpec {
  readonly call: CallName;
  readonly pick: number;
  /** new: retained or not, and the immutable ref to build on (`null`: no parent). */
  readonly retain: boolean;
  readonly parentPick: number | null;
}

/** A call bound to what it acts on: a ref by the model's handle, a record by id, new's parent ref. */
export interface BoundCall {
  readonly spec: CallSpec;
  readonly handle?: number;
  readonly id?: string;
  readonly parent?: number;
}

/** The kind of ref each ref call needs; calls by record id are absent. */
const REF_CALLS: Partial<Record<CallName, ModelRef['kind'] | 'any'>> = {
  commit: 'mutable',
  finalize: 'immutable',
  release: 'any',
  clone: 'immutable',
};

const refsOf = (model: CacheModel, kind: ModelRef['kind'] | 'any') =>
  [...model.refs.values()].filter((r) => kind === 'any' || r.kind === kind);
const pickOf = <T>(items: readonly T[], pick: number): T | undefined =>
  items.length === 0 ? undefined : items[pick % items.length];

/** Binds a call to its target in the model as it is now; undefined when there is nothing to act on. */
export function bindCall(model: CacheModel, spec: CallSpec): BoundCall | undefined {
  const kind = REF_CALLS[spec.call];
  if (kind) {
    const ref = pickOf(refsOf(model, kind), spec.pick);
    return ref ? { spec, handle: ref.handle } : undefined;
  }
  if (spec.call === 'new') {
    const parent = spec.parentPick === null ? undefined : pickOf(refsOf(model, 'immutable'), spec.parentPick);
    return parent ? { spec, parent: parent.handle } : { spec };
  }
  const id = pickOf(model.ids(), spec.pick);
  return id === undefined ? undefined : { spec, id };
}

/** Makes the call on the run's manager in this process; the promise is not driven. */
export function startCall(real: RealCache, b: BoundCall): Promise<RealOutcome<unknown>> {
  const ref = b.handle === undefined ? undefined : real.refs.get(b.handle);
  switch (b.spec.call) {
    case 'new': {
      const parent = b.parent === undefined ? null : (real.refs.get(b.parent) as ImmutableRef);
      return outcomeOf(() => real.cm.new(parent, { retain: b.spec.retain }));
    }
    case 'commit':
      return outcomeOf(() => (ref as MutableRef).commit());
    case 'finalize':
      return outcomeOf(() => (ref as ImmutableRef).finalize());
    case 'release':
      return outcomeOf(() => ref!.release());
    case 'clone':
      return outcomeOf(async () => (ref as ImmutableRef).clone());
    case 'get':
      return outcomeOf(() => real.cm.get(b.id!));
    case 'getMutable':
      return outcomeOf(() => real.cm.getMutable(b.id!));
    case 'remove':
      return outcomeOf(() => real.cm.remove(b.id!, 'model run'));
  }
}

/** The same call on the model; `out` gives the id the cache chose for a new record. */
export function callOnModel(
  model: CacheModel,
  b: BoundCall,
  out: RealOutcome<unknown>,
): ModelOutcome<ModelRef | undefined> {
  const h = b.handle!;
  switch (b.spec.call) {
    case 'new': {
      // A refused new has no id; the model must refuse it too, or the two disagree anyway.
      const id = out.ok ? (out.value as { id: string }).id : '';
      return model.newRecord(id, { retain: b.spec.retain, ...(b.parent === undefined ? {} : { parent: b.parent }) });
    }
    case 'commit':
      return model.commit(h);
    case 'finalize':
      return model.finalize(h);
    case 'release':
      return model.release(h);
    case 'clone':
      return model.clone(h);
    case 'get':
      return model.get(b.id!);
    case 'getMutable':
      return model.getMutable(b.id!);
    case 'remove':
      return model.remove(b.id!);
  }
}

/** A bound call as a failure message names it: `commit(#3)`, `get(<id>)`, `new(parent #2)`. */
export function showBound(b: BoundCall): string {
  if (b.handle !== undefined) return `${b.spec.call}(#${b.handle})`;
  if (b.id !== undefined) return `${b.spec.call}(${b.id})`;
  return `new(${b.parent === undefined ? 'null' : `parent #${b.parent}`}, retain=${b.spec.retain})`;
}

/** A generated call as a counterexample shows it. */
export function showSpec(s: CallSpec): string {
  if (s.call === 'new') return `new(${s.parentPick === null ? 'null' : `parent#${s.parentPick}`}, retain=${s.retain})`;
  return `${s.call}(${REF_CALLS[s.call] ? '#' : 'record#'}${s.pick})`;
}

/** Generated calls; `weights` leaves calls out (0) or favours them. */
export function callSpecArbitrary(weights: Partial<Record<CallName, number>> = {}): fc.Arbitrary<CallSpec> {
  const names = CALL_NAMES.flatMap((name) => {
    const weight = weights[name] ?? (name === 'new' ? 2 : 1);
    return weight > 0 ? [{ arbitrary: fc.constant(name), weight }] : [];
  });
  if (names.length === 0) throw new RangeError('calls: every call has weight 0');
  return fc.record({
    call: fc.oneof(...names),
    pick: fc.nat({ max: 7 }),
    retain: fc.boolean(),
    parentPick: fc.option(fc.nat({ max: 7 }), { nil: null, freq: 2 }),
  });
}
