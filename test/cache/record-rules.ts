/**
 * BuildKit's locking rules for one cache record, written down for the tests
 * from how BuildKit's cache manager behaves for its users (cache/manager.go and
 * cache/refs.go), not from this project's record machine.
 *
 * - get returns an immutable ref; on a record held by a mutable ref it is locked,
 *   on an unheld mutable record it commits the content (the record becomes frozen).
 * - getMutable of a committed record is invalid: it can never be mutable again.
 *   Of a record held by a mutable ref or by immutable refs it is locked.
 * - remove of a record that has refs or children is locked.
 * - Every call on a record whose snapshot is being created is locked (BuildKit's New holds the
 *   manager's lock until it returns, so no caller even knows the id yet).
 * - A record whose removal has begun is dead: getRecord answers not found, as for a removed one.
 */

/** How far the record has come: mutable, frozen (content fixed, lazily committed), finalized, removed. */
export type Phase = 'creating' | 'mutable' | 'frozen' | 'finalizing' | 'finalized' | 'removing' | 'removed';
/** What holds the record: the one mutable ref, immutable refs (clones included), or nothing. */
export type Holder = 'mutable ref' | 'immutable refs' | 'nothing';
export type Call = 'get' | 'getMutable' | 'remove';
export type Outcome = 'ok' | 'LOCKED' | 'INVALID' | 'NOT_FOUND';

export interface Situation {
  phase: Phase;
  holder: Holder;
  /** Another record was made on top of this one and is still there. */
  children: boolean;
}

export interface Rule {
  situation: Situation;
  outcome: Record<Call, Outcome>;
  why: string;
}

const row = (
  phase: Phase,
  holder: Holder,
  children: boolean,
  get: Outcome,
  getMutable: Outcome,
  remove: Outcome,
  why: string,
): Rule => ({ situation: { phase, holder, children }, outcome: { get, getMutable, remove }, why });

// biome-ignore format: a table reads best aligned
export const BUILDKIT_RULES: readonly Rule[] = [
  //   phase         holder            children  get          getMutable   remove
  row('creating',   'nothing',        false,    'LOCKED',    'LOCKED',    'LOCKED',    'snapshot being made'),
  row('mutable',    'mutable ref',    false,    'LOCKED',    'LOCKED',    'LOCKED',    'a mutable ref is exclusive'),
  row('mutable',    'nothing',        false,    'ok',        'ok',        'ok',        'retained and idle'),
  row('frozen',     'immutable refs', false,    'ok',        'LOCKED',    'LOCKED',    'refs share; thaw needs none'),
  row('frozen',     'nothing',        false,    'ok',        'ok',        'ok',        'unheld, may be thawed'),
  row('finalizing', 'immutable refs', false,    'ok',        'INVALID',   'LOCKED',    'being committed, held'),
  row('finalized',  'immutable refs', false,    'ok',        'INVALID',   'LOCKED',    'committed, held'),
  row('finalized',  'immutable refs', true,     'ok',        'INVALID',   'LOCKED',    'held, with a child'),
  row('finalized',  'nothing',        false,    'ok',        'INVALID',   'ok',        'committed and unused'),
  row('finalized',  'nothing',        true,     'ok',        'INVALID',   'LOCKED',    'a child stands on it'),
  row('removing',   'nothing',        false,    'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'dead: removal begun'),
  row('removed',    'nothing',        false,    'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'it is gone'),
];

const same = (a: Situation, b: Situation) => a.phase === b.phase && a.holder === b.holder && a.children === b.children;

/** The table's outcome of `call` in `situation`; a situation without a row is an error, never a guess. */
export function expectedOutcome(situation: Situation, call: Call): Outcome {
  const rule = BUILDKIT_RULES.find((r) => same(r.situation, situation));
  if (!rule) throw new Error(`no rule for ${JSON.stringify(situation)}: the test reached a situation BuildKit forbids`);
  return rule.outcome[call];
}
