import fc from 'fast-check';
import type { ImmutableRef, MutableRef } from '../cache/refs.js';
import { batchArbitrary } from './batch.js';
import { type CrashOptions, crashArbitrary } from './crash.js';
import { CALL_NAMES, type CacheModel, type CallName, type ModelOutcome, type ModelRef } from './model.js';
import { attempt, type CacheCommand, expectMatchesModel, expectSameOutcome, type RealCache } from './real-cache.js';

/**
 * fast-check commands over the cache: each runs one call on the real manager and the same call on
 * the model, and fails the run when they end differently. After every command (the user's own
 * included) the cache must settle and show the model's records, refs and children.
 */

export type { CacheCommand } from './real-cache.js';

/** The built-in commands, by the name their weight is given under. */
export type CacheCommandName = CallName | 'prune' | 'reopen' | 'batch' | 'crash';

/** Every call of the model, then the commands that act on the whole cache. */
export const CACHE_COMMAND_NAMES: readonly CacheCommandName[] = [...CALL_NAMES, 'prune', 'reopen', 'batch', 'crash'];

export interface CacheCommandsOptions {
  /**
   * Relative weight of each built-in command; 0 leaves it out. Default 1 each (new 3, release 2),
   * except `batch` and `crash`, which are 0 until asked for: a batch needs a scheduler to be worth
   * its cost, and each crash starts a process.
   */
  weights?: Partial<Record<CacheCommandName, number>>;
  /** Most commands in one run; default 12. */
  maxCommands?: number;
  /** `new` is skipped while this many records are live; default 6. */
  maxRecords?: number;
  /** Most calls in one concurrent batch (at least 2); default 3. */
  batchSize?: number;
  /** The crash command's limits: calls the child makes before it is killed, crashes per run. */
  crash?: CrashOptions;
  /** Your own commands, each with a weight (default 1); they are checked against the model like ours. */
  extra?: readonly (fc.Arbitrary<CacheCommand> | { arbitrary: fc.Arbitrary<CacheCommand>; weight: number })[];
}

const DEFAULT_WEIGHTS: Record<CacheCommandName, number> = {
  new: 3,
  commit: 1,
  finalize: 1,
  release: 2,
  get: 1,
  getMutable: 1,
  clone: 1,
  remove: 1,
  prune: 1,
  reopen: 1,
  batch: 0,
  crash: 0,
};

/** The `pick`-th of `items`, so a shrunk command still finds something to act on. */
export const pickOf = <T>(items: readonly T[], pick: number): T | undefined =>
  items.length === 0 ? undefined : items[pick % items.length];

const refsOf = (model: CacheModel, kind?: ModelRef['kind']) =>
  [...model.refs.values()].filter((r) => kind === undefined || r.kind === kind);

/** Keeps the ref a call handed out under the model's handle number. */
function keep(real: RealCache, out: ModelOutcome<ModelRef>, ref: MutableRef | ImmutableRef | undefined): void {
  if (out.ok && ref) real.refs.set(out.value.handle, ref);
}

abstract class RefCommand implements CacheCommand {
  constructor(
    readonly pick: number,
    readonly kind?: ModelRef['kind'],
  ) {}
  check(model: Readonly<CacheModel>): boolean {
    return refsOf(model as CacheModel, this.kind).length > 0;
  }
  protected target(model: CacheModel): ModelRef {
    return pickOf(refsOf(model, this.kind), this.pick)!;
  }
  abstract run(model: CacheModel, real: RealCache): Promise<void>;
  abstract toString(): string;
}

class NewCommand implements CacheCommand {
  constructor(
    readonly parentPick: number | null,
    readonly retain: boolean,
    readonly maxRecords: number,
  ) {}
  check(model: Readonly<CacheModel>): boolean {
    return model.live().length < this.maxRecords;
  }
  async run(model: CacheModel, real: RealCache): Promise<void> {
    const parent = this.parentPick === null ? undefined : pickOf(refsOf(model, 'immutable'), this.parentPick);
    const parentRef = parent ? (real.refs.get(parent.handle) as ImmutableRef) : null;
    const out = await attempt(real, () => real.cm.new(parentRef, { retain: this.retain }));
    if (!out.ok) throw new Error(`${this}: the cache refused a new record: ${String(out.error)}`);
    const made = model.newRecord(out.value.id, { ...(parent ? { parent: parent.handle } : {}), retain: this.retain });
    keep(real, made, out.value);
  }
  toString() {
    return `new(${this.parentPick === null ? 'null' : `parent#${this.parentPick}`}, retain=${this.retain})`;
  }
}

class CommitCommand extends RefCommand {
  async run(model: CacheModel, real: RealCache) {
    const ref = this.target(model);
    const out = await attempt(real, () => (real.refs.get(ref.handle) as MutableRef).commit());
    const expected = model.commit(ref.handle);
    expectSameOutcome(String(this), expected, out);
    real.refs.delete(ref.handle);
    keep(real, expected, out.ok ? out.value : undefined);
  }
  toString() {
    return `commit(#${this.pick})`;
  }
}

class FinalizeCommand extends RefCommand {
  async run(model: CacheModel, real: RealCache) {
    const ref = this.target(model);
    const out = await attempt(real, () => (real.refs.get(ref.handle) as ImmutableRef).finalize());
    expectSameOutcome(String(this), model.finalize(ref.handle), out);
  }
  toString() {
    return `finalize(#${this.pick})`;
  }
}

class ReleaseCommand extends RefCommand {
  async run(model: CacheModel, real: RealCache) {
    const ref = this.target(model);
    const out = await attempt(real, () => real.refs.get(ref.handle)!.release());
    expectSameOutcome(String(this), model.release(ref.handle), out);
    real.refs.delete(ref.handle);
  }
  toString() {
    return `release(#${this.pick})`;
  }
}

class CloneCommand extends RefCommand {
  async run(model: CacheModel, real: RealCache) {
    const ref = this.target(model);
    const out = await attempt(real, async () => (real.refs.get(ref.handle) as ImmutableRef).clone());
    const expected = model.clone(ref.handle);
    expectSameOutcome(String(this), expected, out);
    keep(real, expected, out.ok ? out.value : undefined);
  }
  toString() {
    return `clone(#${this.pick})`;
  }
}

/** A call by record id, on any record the run has seen (removed ones included). */
class IdCommand implements CacheCommand {
  constructor(
    readonly call: 'get' | 'getMutable' | 'remove',
    readonly pick: number,
  ) {}
  check(model: Readonly<CacheModel>): boolean {
    return model.records.size > 0;
  }
  async run(model: CacheModel, real: RealCache) {
    const id = pickOf(model.ids(), this.pick)!;
    if (this.call === 'remove') {
      const out = await attempt(real, () => real.cm.remove(id, 'model run'));
      expectSameOutcome(`${this} on ${id}`, model.remove(id), out);
      return;
    }
    const call = this.call;
    const out = await attempt(real, (): Promise<MutableRef | ImmutableRef> => real.cm[call](id));
    const expected = call === 'get' ? model.get(id) : model.getMutable(id);
    expectSameOutcome(`${this} on ${id}`, expected, out);
    keep(real, expected, out.ok ? out.value : undefined);
  }
  toString() {
    return `${this.call}(record#${this.pick})`;
  }
}

class PruneCommand implements CacheCommand {
  check() {
    return true;
  }
  async run(model: CacheModel, real: RealCache) {
    const removed: string[] = [];
    await real.drive(
      real.cm.prune({ all: true }).forEach((r) => {
        removed.push(r.id);
      }),
    );
    const expected = model.prune();
    const show = (ids: string[]) => JSON.stringify([...ids].sort());
    if (show(removed) !== show(expected))
      throw new Error(`prune: the cache removed ${show(removed)}, the model ${show(expected)}`);
  }
  toString() {
    return 'prune(all)';
  }
}

/** Close and open again; only when the run holds no ref, so the restart is a clean one. */
class ReopenCommand implements CacheCommand {
  check(model: Readonly<CacheModel>) {
    return model.refs.size === 0;
  }
  async run(model: CacheModel, real: RealCache) {
    await real.reopen();
    model.restart();
  }
  toString() {
    return 'close+reopen';
  }
}

/** Runs a command, then requires the cache to settle and to show what the model holds. */
class Checked implements CacheCommand {
  constructor(readonly inner: CacheCommand) {}
  check(model: Readonly<CacheModel>) {
    return this.inner.check(model);
  }
  async run(model: CacheModel, real: RealCache) {
    await this.inner.run(model, real);
    await real.settle(model);
    expectMatchesModel(real, model);
  }
  toString() {
    return this.inner.toString();
  }
}

/** Arbitraries of each built-in command, by name. */
export function cacheCommandArbitraries(
  maxRecords = 6,
  options: Pick<CacheCommandsOptions, 'batchSize' | 'crash'> = {},
): Record<CacheCommandName, fc.Arbitrary<CacheCommand>> {
  const pick = fc.nat({ max: 7 });
  return {
    new: fc
      .tuple(fc.option(pick, { nil: null, freq: 2 }), fc.boolean())
      .map(([parent, retain]) => new NewCommand(parent, retain, maxRecords)),
    commit: pick.map((p) => new CommitCommand(p, 'mutable')),
    finalize: pick.map((p) => new FinalizeCommand(p, 'immutable')),
    release: pick.map((p) => new ReleaseCommand(p)),
    clone: pick.map((p) => new CloneCommand(p, 'immutable')),
    get: pick.map((p) => new IdCommand('get', p)),
    getMutable: pick.map((p) => new IdCommand('getMutable', p)),
    remove: pick.map((p) => new IdCommand('remove', p)),
    prune: fc.constant(new PruneCommand()),
    reopen: fc.constant(new ReopenCommand()),
    batch: batchArbitrary(options.batchSize),
    crash: crashArbitrary(options.crash),
  };
}

/** Command sequences for `fc.asyncModelRun`, with the given weights, limits and extra commands. */
export function cacheCommands(options: CacheCommandsOptions = {}): fc.Arbitrary<Iterable<CacheCommand>> {
  const maxRecords = options.maxRecords ?? 6;
  const arbitraries = cacheCommandArbitraries(maxRecords, options);
  const weighted: { arbitrary: fc.Arbitrary<CacheCommand>; weight: number }[] = [];
  for (const name of CACHE_COMMAND_NAMES) {
    const weight = options.weights?.[name] ?? DEFAULT_WEIGHTS[name];
    if (!(Number.isInteger(weight) && weight >= 0))
      throw new RangeError(`cacheCommands: weight of ${name} (${String(weight)}) is not a non-negative integer`);
    if (weight > 0) weighted.push({ arbitrary: arbitraries[name], weight });
  }
  for (const extra of options.extra ?? []) weighted.push('weight' in extra ? extra : { arbitrary: extra, weight: 1 });
  if (weighted.length === 0) throw new RangeError('cacheCommands: every command has weight 0');
  const checked = fc.oneof(...weighted).map((c) => new Checked(c) as CacheCommand);
  return fc.commands([checked], { maxCommands: options.maxCommands ?? 12 });
}
