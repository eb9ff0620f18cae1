/**
 * One record's life by BuildKit's rules, as a pure function: the reference the cache model steps
 * with. Written from how BuildKit's cache manager behaves for its callers (get, getMutable, commit,
 * release, finalize, remove; lazy commit; retained mutables; children pinning parents), not from
 * cachekit's record statechart, so a test can hold the two against each other.
 */

/** Where a record is: the same leaf names the cache reports in `describe(id).state`. */
export type ModelState =
  | 'creating'
  | 'mutable.held'
  | 'mutable.idle'
  | 'frozen.held'
  | 'frozen.released'
  | 'finalizing'
  | 'committed.held'
  | 'committed.released'
  | 'remote.held'
  | 'remote.released'
  | 'pulling'
  | 'removing'
  | 'removalFailed'
  | 'removed';

/** What the model knows of one record. */
export interface ModelRecord {
  readonly id: string;
  readonly state: ModelState;
  /** A retained mutable record survives the release of its mutable ref (BuildKit's cache mounts). */
  readonly retain: boolean;
  /** Open immutable refs, clones included. */
  readonly refs: number;
  /** Records built on this one that still exist. */
  readonly children: number;
  readonly parent?: string;
}

/** What a caller can do to one record, plus the end of the snapshot I/O a step started. */
export type ModelStep =
  | 'get'
  | 'clone'
  | 'getMutable'
  | 'commit'
  | 'release'
  | 'releaseMutable'
  | 'finalize'
  | 'childAdded'
  | 'childRemoved'
  | 'remove'
  | 'pull'
  | 'ioDone'
  | 'ioFailed';

export const MODEL_STEPS: readonly ModelStep[] = [
  'get',
  'clone',
  'getMutable',
  'commit',
  'release',
  'releaseMutable',
  'finalize',
  'childAdded',
  'childRemoved',
  'remove',
  'pull',
  'ioDone',
  'ioFailed',
];

/** LOCKED: may pass once someone lets go. INVALID: never in this state. NOT_FOUND: the record is gone. */
export type ModelRefusalCode = 'LOCKED' | 'INVALID' | 'NOT_FOUND';

export type StepResult =
  | { readonly ok: true; readonly record: ModelRecord }
  | { readonly ok: false; readonly code: ModelRefusalCode };

const ok = (record: ModelRecord): StepResult => ({ ok: true, record });
const no = (code: ModelRefusalCode): StepResult => ({ ok: false, code });

/** States whose snapshot I/O is in flight; only its end moves them on. */
export const IO_MODEL_STATES: ReadonlySet<ModelState> = new Set(['creating', 'finalizing', 'pulling', 'removing']);
/** States nothing holds: a prune may take such a record once no child stands on it. */
export const UNHELD_MODEL_STATES: ReadonlySet<ModelState> = new Set([
  'mutable.idle',
  'frozen.released',
  'committed.released',
  'remote.released',
  'removalFailed',
]);

/** States whose content is finalized (BuildKit's committed records): finalizing them again is a no-op. */
export const COMMITTED_MODEL_STATES: ReadonlySet<ModelState> = new Set(['committed.held', 'committed.released']);

/** Who holds the content now: refs held means `.held`, none means the unheld leaf of the phase. */
const heldOr = (phase: 'frozen' | 'committed' | 'remote', refs: number): ModelState =>
  refs > 0 ? `${phase}.held` : `${phase}.released`;

/** Steps any live record takes the same way: children come and go whatever the record is doing. */
function childStep(r: ModelRecord, step: ModelStep): StepResult | undefined {
  if (step === 'childAdded') return ok({ ...r, children: r.children + 1 });
  if (step === 'childRemoved') return ok({ ...r, children: Math.max(0, r.children - 1) });
  return undefined;
}

/** Remove takes only a record nobody holds and nothing is built on. */
const removeUnheld = (r: ModelRecord): StepResult => (r.children > 0 ? no('LOCKED') : ok({ ...r, state: 'removing' }));

/** The record after `step`, or the code the cache must refuse it with. */
export function stepRecord(r: ModelRecord, step: ModelStep): StepResult {
  if (r.state === 'removed') return no('NOT_FOUND');
  const child = childStep(r, step);
  if (child) return child;
  const isGet = step === 'get' || step === 'clone';
  switch (r.state) {
    case 'creating':
      // BuildKit's New holds the cache's lock until the snapshot exists: nobody can act on it yet.
      if (step === 'ioDone') return ok({ ...r, state: 'mutable.held' });
      if (step === 'ioFailed') return ok({ ...r, state: 'removed' });
      return no('LOCKED');
    case 'mutable.held':
      // One mutable ref at a time, and it is exclusive.
      if (step === 'commit') return ok({ ...r, state: 'frozen.held', refs: 1 });
      if (step === 'releaseMutable') return ok({ ...r, state: r.retain ? 'mutable.idle' : 'removing' });
      if (isGet || step === 'getMutable' || step === 'remove') return no('LOCKED');
      return no('INVALID');
    case 'mutable.idle':
      if (step === 'getMutable') return ok({ ...r, state: 'mutable.held' });
      // Getting an idle retained mutable record freezes its content and hands out an immutable ref.
      if (isGet) return ok({ ...r, state: 'frozen.held', refs: r.refs + 1 });
      if (step === 'remove') return removeUnheld(r);
      return no('INVALID');
    case 'frozen.held':
    case 'frozen.released':
      if (isGet) return ok({ ...r, state: 'frozen.held', refs: r.refs + 1 });
      if (r.state === 'frozen.held') {
        // Lazy commit: the snapshot is committed when finalize asks for it, which only a held ref can.
        if (step === 'finalize') return ok({ ...r, state: 'finalizing' });
        if (step === 'release') return ok({ ...r, state: heldOr('frozen', r.refs - 1), refs: r.refs - 1 });
        if (step === 'getMutable' || step === 'remove') return no('LOCKED');
        return no('INVALID');
      }
      // Nobody holds frozen content: it may be thawed back into a mutable record.
      if (step === 'getMutable') return ok({ ...r, state: 'mutable.held' });
      if (step === 'remove') return removeUnheld(r);
      return no('INVALID');
    case 'finalizing':
      if (step === 'ioDone') return ok({ ...r, state: heldOr('committed', r.refs) });
      // A failed commit leaves the content frozen, as it was.
      if (step === 'ioFailed') return ok({ ...r, state: heldOr('frozen', r.refs) });
      if (isGet) return ok({ ...r, refs: r.refs + 1 });
      if (step === 'release') return ok({ ...r, refs: Math.max(0, r.refs - 1) });
      if (step === 'getMutable') return no('INVALID');
      return no('LOCKED');
    case 'committed.held':
    case 'committed.released':
      if (isGet) return ok({ ...r, state: 'committed.held', refs: r.refs + 1 });
      if (step === 'release' && r.state === 'committed.held')
        return ok({ ...r, state: heldOr('committed', r.refs - 1), refs: r.refs - 1 });
      if (step === 'remove') return r.state === 'committed.held' ? no('LOCKED') : removeUnheld(r);
      return no('INVALID');
    case 'remote.held':
    case 'remote.released':
      // Imported, content still in the registry: refs work as on committed content; a pull fetches it.
      if (isGet) return ok({ ...r, state: 'remote.held', refs: r.refs + 1 });
      if (step === 'pull') return ok({ ...r, state: 'pulling' });
      if (step === 'release' && r.state === 'remote.held')
        return ok({ ...r, state: heldOr('remote', r.refs - 1), refs: r.refs - 1 });
      if (step === 'remove') return r.state === 'remote.held' ? no('LOCKED') : removeUnheld(r);
      return no('INVALID');
    case 'pulling':
      if (step === 'ioDone') return ok({ ...r, state: heldOr('committed', r.refs) });
      // A failed or cancelled pull keeps nothing: the record is lazy again.
      if (step === 'ioFailed') return ok({ ...r, state: heldOr('remote', r.refs) });
      if (isGet) return ok({ ...r, refs: r.refs + 1 });
      if (step === 'release') return ok({ ...r, refs: Math.max(0, r.refs - 1) });
      if (step === 'getMutable') return no('INVALID');
      return no('LOCKED');
    case 'removing':
      // Removal has begun: the record is dead to every caller. It goes once its snapshot is gone; a
      // snapshot that could not be removed keeps it, listed, so that disk is never lost from sight.
      if (step === 'ioDone') return ok({ ...r, state: 'removed' });
      if (step === 'ioFailed') return ok({ ...r, state: 'removalFailed' });
      return no('NOT_FOUND');
    case 'removalFailed':
      // Still dead to every caller; a remove (or the failed mutable release, again) retries the removal.
      if (step === 'remove' || step === 'releaseMutable') return ok({ ...r, state: 'removing' });
      return no('NOT_FOUND');
  }
}
