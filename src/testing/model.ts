import {
  COMMITTED_MODEL_STATES,
  IO_MODEL_STATES,
  type ModelRecord,
  type ModelRefusalCode,
  type ModelStep,
  stepRecord,
  UNHELD_MODEL_STATES,
} from './record-rules.js';

/**
 * A pure reference model of a whole cache: records, the refs a caller holds, and what each call
 * must do by BuildKit's rules. Snapshot I/O completes within the call that started it, as the
 * cache's own calls await it. The model never touches a disk; tests run it beside a real manager.
 */

/** A ref the caller holds, by the handle number the model gave it. */
export interface ModelRef {
  readonly handle: number;
  readonly record: string;
  readonly kind: 'mutable' | 'immutable';
}

/** What a call gives: ok with what it made, or refused with the cache's error code. */
export type ModelOutcome<T = undefined> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: ModelRefusalCode };

export interface CacheModel {
  /** Every record the model knows of, removed ones included (their calls answer NOT_FOUND). */
  readonly records: ReadonlyMap<string, ModelRecord>;
  /** Refs held now. */
  readonly refs: ReadonlyMap<number, ModelRef>;
  /** Ids of every record ever made, in order of creation. */
  ids(): string[];
  /** Records not removed. */
  live(): ModelRecord[];
  /** A new mutable record (on `parent`, a held immutable ref), given the id the real cache chose. */
  newRecord(id: string, options?: { parent?: number; retain?: boolean }): ModelOutcome<ModelRef>;
  /** The creation of `id` failed in its snapshot: nothing is left of it. */
  newFailed(id: string, options?: { parent?: number }): void;
  get(id: string): ModelOutcome<ModelRef>;
  getMutable(id: string): ModelOutcome<ModelRef>;
  clone(handle: number): ModelOutcome<ModelRef>;
  commit(handle: number): ModelOutcome<ModelRef>;
  finalize(handle: number): ModelOutcome;
  release(handle: number): ModelOutcome;
  remove(id: string): ModelOutcome;
  /** What a prune of everything unused removes: unheld records, leaves first, until none is left. */
  pruneCandidates(): string[];
  /** Applies a prune of everything unused; returns the ids it removed. */
  prune(): string[];
  /**
   * A restart, clean (close and open) or after the owner was killed (BuildKit's rules after a crash):
   * every ref is gone, held records rest as their unheld kin, unretained mutables and failed removals
   * are gone, committed and frozen records are kept.
   */
  restart(): void;
  /** An independent copy of the model as it is now, to try calls on without changing this one. */
  copy(): CacheModel;
}

/** The calls a caller makes on the cache that the model answers one at a time. */
export type CallName = 'new' | 'commit' | 'finalize' | 'release' | 'get' | 'getMutable' | 'clone' | 'remove';

export const CALL_NAMES: readonly CallName[] = [
  'new',
  'commit',
  'finalize',
  'release',
  'get',
  'getMutable',
  'clone',
  'remove',
];

/** A released ref, or one whose hold passed to another (commit), acts on nothing. */
const GONE: ModelOutcome<never> = { ok: false, code: 'INVALID' };

export function cacheModel(): CacheModel {
  return modelOf(new Map(), new Map(), 1);
}

/** A model over these records and refs, handing out handles from `nextHandle` on. */
function modelOf(records: Map<string, ModelRecord>, refs: Map<number, ModelRef>, nextHandle: number): CacheModel {
  const hand = (record: string, kind: ModelRef['kind']): ModelRef => {
    const ref = { handle: nextHandle++, record, kind };
    refs.set(ref.handle, ref);
    return ref;
  };
  const recordOf = (id: string) => records.get(id);

  /** Steps a record, then runs the I/O the step started to its end, as the cache's calls await it. */
  const apply = (id: string, step: ModelStep): ModelOutcome => {
    const record = recordOf(id);
    if (!record) return { ok: false, code: 'NOT_FOUND' };
    const result = stepRecord(record, step);
    if (!result.ok) return result;
    let next = result.record;
    while (IO_MODEL_STATES.has(next.state)) {
      const done = stepRecord(next, 'ioDone');
      if (!done.ok) throw new Error(`model: ${next.state} did not take the end of its I/O`);
      next = done.record;
    }
    records.set(id, next);
    if (next.state === 'removed') childGone(next);
    return { ok: true, value: undefined };
  };
  /** A child that goes stops pinning its parent. */
  const childGone = (child: ModelRecord) => {
    if (child.parent !== undefined && recordOf(child.parent)) apply(child.parent, 'childRemoved');
  };
  const heldRef = (handle: number, kind?: ModelRef['kind']): ModelRef | undefined => {
    const ref = refs.get(handle);
    return ref && (kind === undefined || ref.kind === kind) ? ref : undefined;
  };
  const handing = (id: string, step: ModelStep, kind: ModelRef['kind']): ModelOutcome<ModelRef> => {
    const out = apply(id, step);
    return out.ok ? { ok: true, value: hand(id, kind) } : out;
  };

  const model: CacheModel = {
    records,
    refs,
    ids: () => [...records.keys()],
    live: () => [...records.values()].filter((r) => r.state !== 'removed'),
    newRecord(id, options = {}) {
      let parent: string | undefined;
      if (options.parent !== undefined) {
        const ref = heldRef(options.parent, 'immutable');
        if (!ref) return GONE;
        parent = ref.record;
        // BuildKit commits a lazily committed parent before anything is built on it.
        const p = recordOf(parent)!;
        if (p.state === 'frozen.held') apply(parent, 'finalize');
        apply(parent, 'childAdded');
      }
      records.set(id, {
        id,
        state: 'mutable.held',
        retain: options.retain ?? false,
        refs: 0,
        children: 0,
        ...(parent === undefined ? {} : { parent }),
      });
      return { ok: true, value: hand(id, 'mutable') };
    },
    newFailed(id, options = {}) {
      const parent = options.parent === undefined ? undefined : heldRef(options.parent)?.record;
      const p = parent === undefined ? undefined : recordOf(parent);
      if (p?.state === 'frozen.held') apply(p.id, 'finalize');
      records.set(id, { id, state: 'removed', retain: false, refs: 0, children: 0 });
    },
    get: (id) => handing(id, 'get', 'immutable'),
    getMutable: (id) => handing(id, 'getMutable', 'mutable'),
    clone(handle) {
      const ref = heldRef(handle, 'immutable');
      return ref ? handing(ref.record, 'clone', 'immutable') : GONE;
    },
    commit(handle) {
      const ref = heldRef(handle, 'mutable');
      if (!ref) return GONE;
      const out = apply(ref.record, 'commit');
      if (!out.ok) return out;
      refs.delete(handle);
      return { ok: true, value: hand(ref.record, 'immutable') };
    },
    finalize(handle) {
      const ref = heldRef(handle, 'immutable');
      if (!ref) return GONE;
      // Finalizing committed content is a no-op, not a refusal.
      if (COMMITTED_MODEL_STATES.has(recordOf(ref.record)!.state)) return { ok: true, value: undefined };
      return apply(ref.record, 'finalize');
    },
    release(handle) {
      const ref = heldRef(handle);
      if (!ref) return { ok: true, value: undefined };
      refs.delete(handle);
      return apply(ref.record, ref.kind === 'mutable' ? 'releaseMutable' : 'release');
    },
    remove: (id) => apply(id, 'remove'),
    pruneCandidates() {
      const gone = new Set<string>();
      const children = new Map([...records.values()].map((r) => [r.id, r.children]));
      for (let changed = true; changed; ) {
        changed = false;
        for (const r of records.values()) {
          if (gone.has(r.id) || !UNHELD_MODEL_STATES.has(r.state) || children.get(r.id)! > 0) continue;
          gone.add(r.id);
          changed = true;
          if (r.parent !== undefined) children.set(r.parent, children.get(r.parent)! - 1);
        }
      }
      return [...gone];
    },
    prune() {
      const removed: string[] = [];
      for (let batch = model.pruneCandidates(); batch.length > 0; batch = model.pruneCandidates()) {
        for (const id of batch) {
          if (apply(id, 'remove').ok) removed.push(id);
        }
      }
      return removed;
    },
    restart() {
      refs.clear();
      for (const r of [...records.values()]) {
        // Start-up finishes what was being removed, a removal that failed included.
        if ((r.state === 'mutable.held' && !r.retain) || r.state === 'removalFailed') {
          records.set(r.id, { ...r, state: 'removed' });
          childGone(r);
          continue;
        }
        const rest: Partial<Record<string, ModelRecord['state']>> = {
          'mutable.held': 'mutable.idle',
          'frozen.held': 'frozen.released',
          'committed.held': 'committed.released',
        };
        const state = rest[r.state];
        if (state) records.set(r.id, { ...r, state, refs: 0 });
      }
    },
    // Records and refs are immutable values: copying the maps is enough.
    copy: () => modelOf(new Map(records), new Map(refs), nextHandle),
  };
  return model;
}
