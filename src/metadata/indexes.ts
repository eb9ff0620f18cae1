import { StoredState } from './schema.js';

/**
 * The secondary indexes kept beside the records, each in its own LMDB database and written in the
 * same transaction as the record it points to:
 *  - `byLastUse`: last use time, then id, so keepDuration and LRU policies read their victims first
 *    and never visit a record used since the cutoff;
 *  - `byParent`: parent, then id, so a record's children are one prefix range;
 *  - `byState`: stored state, then id, so a start-up after a clean shutdown reads keys, not records.
 *
 * Keys are strings `<field> <id>`. Ids are printable ASCII from `!` up, so the space sorts below
 * every id character: one field's entries form one contiguous range that no longer field value
 * can reach into. Times are zero-padded to a fixed width so that text order is time order.
 * An entry holds no data (its value is `true`): readers check the record it names, as they do
 * for the cache key index, so an entry left behind by a corrupt record can never mislead them.
 */
export type IndexName = 'byLastUse' | 'byParent' | 'byState';
export const INDEX_NAMES: readonly IndexName[] = ['byLastUse', 'byParent', 'byState'];

/** Bump when an index's key shape changes: every store then rebuilds its indexes at its next open. */
export const INDEX_VERSION = 1;

const SEP = ' ';
/** Wide enough for any millisecond time a schema-valid record holds (Number.MAX_SAFE_INTEGER has 16 digits). */
const TIME_WIDTH = 16;

/** The index entries of one record, one key per index (byParent only for a record with a parent). */
export type IndexKeys = Partial<Record<IndexName, string>>;

export function timeKey(at: number): string {
  return String(at).padStart(TIME_WIDTH, '0');
}

/** A record's index keys, read leniently: a field of the wrong type is simply not indexed. */
export function indexKeysOf(value: unknown): IndexKeys {
  if (typeof value !== 'object' || value === null) return {};
  const { id, parent, state, lastUsedAt } = value as Record<string, unknown>;
  if (typeof id !== 'string') return {};
  const keys: IndexKeys = {};
  // A record never used sorts first, at time 0: BuildKit's keepDuration treats it as a candidate.
  const used = typeof lastUsedAt === 'number' && Number.isSafeInteger(lastUsedAt) && lastUsedAt >= 0 ? lastUsedAt : 0;
  keys.byLastUse = `${timeKey(used)}${SEP}${id}`;
  if (typeof parent === 'string') keys.byParent = `${parent}${SEP}${id}`;
  if (typeof state === 'string' && StoredState.safeParse(state).success) keys.byState = `${state}${SEP}${id}`;
  return keys;
}

/** The id an index key points to (everything after the last separator: ids hold no space). */
export function idOfIndexKey(key: string): string {
  return key.slice(key.lastIndexOf(SEP) + 1);
}

/** The field part of an index key (a time, a parent id or a state). */
export function fieldOfIndexKey(key: string): string {
  return key.slice(0, key.lastIndexOf(SEP));
}

/** The range of one field value's entries: [start, end). */
export function fieldRange(field: string): { start: string; end: string } {
  // '!' is the first character after the separator: every `<field> <id>` key lies below `<field>!`.
  return { start: `${field}${SEP}`, end: `${field}!` };
}

/** Entries of records last used at or before `at` (and never-used ones): [start, end). */
export function usedUpToRange(at: number): { start: string; end: string } {
  return { start: '', end: `${timeKey(Math.max(0, Math.floor(at)) + 1)}${SEP}` };
}
