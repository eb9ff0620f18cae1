/** BuildKit's usage record types (client.UsageRecordType). Records without a stored type count as `regular`. */
export const RECORD_TYPES = [
  'regular',
  'internal',
  'frontend',
  'source.local',
  'source.git.checkout',
  'exec.cachemount',
] as const;

export type RecordType = (typeof RECORD_TYPES)[number];

/** Types a prune without `all` never touches: BuildKit keeps them because builds depend on them being present. */
export const PROTECTED_RECORD_TYPES: ReadonlySet<string> = new Set<RecordType>(['internal', 'frontend']);

/**
 * What the planner needs to know about one cache record. Times are milliseconds since the epoch.
 * A record is referenced while `inUse` (someone holds a ref) or while a remaining record names it as a parent.
 */
export interface RecordSummary {
  id: string;
  /** Single parent of a layer record. */
  parent?: string;
  /** All parents (merge and diff records have several); combined with `parent`. */
  parents?: readonly string[];
  size: number;
  createdAt: number;
  /** Absent when the record was never used. */
  lastUsedAt?: number;
  usageCount: number;
  /** Absent or empty means `regular`; unknown strings are treated like regular records. */
  recordType?: string;
  /** Held by something outside the cache (e.g. an image in the content store): kept unless `all`. */
  shared: boolean;
  inUse: boolean;
  mutable?: boolean;
  description?: string;
  /** The record's cache key, when it has one. */
  key?: string;
}

export function recordTypeOf(record: RecordSummary): string {
  return record.recordType === undefined || record.recordType === '' ? 'regular' : record.recordType;
}

export function parentsOf(record: RecordSummary): string[] {
  const out = record.parents === undefined ? [] : [...record.parents];
  if (record.parent !== undefined && !out.includes(record.parent)) out.unshift(record.parent);
  return out;
}
