import type { RecordSummary } from './policy/index.js';
import type { RecordIndex } from './records/record-index.js';

/** One record in a disk-usage report, shaped like BuildKit's UsageInfo. */
export interface UsageInfo {
  id: string;
  mutable: boolean;
  /** Held by a ref, or parent of a record that is in use. */
  inUse: boolean;
  /** Bytes; 0 when the record could not be sized, which `sizeError` then says. */
  size: number;
  /**
   * Why the size could not be measured (the snapshotter's reason), when it could not: the row
   * stays, counted as 0 bytes, and says so instead of passing 0 off as a measured size.
   */
  sizeError?: string;
  createdAt: Date;
  lastUsedAt?: Date;
  usageCount: number;
  parents: string[];
  description?: string;
  recordType: string;
  shared: boolean;
  /** The cache key the record was made or imported under. */
  key?: string;
  /** A lazy record's layer size in the registry (compressed); its local `size` is 0 until pulled. */
  remoteSize?: number;
}

/** Records held right now by a ref of their own (children do not count here). */
export function heldDirectly(table: RecordIndex, id: string): boolean {
  // Held by a ref of its own, or doing snapshot I/O (which holds it too), as the machine's tags say.
  if (table.is(id, 'held') || table.is(id, 'busy')) return true;
  return (table.contextOf(id)?.refs ?? 0) > 0;
}

/** Ids in use: directly held ones and every ancestor of them. Only live records can be held, so only they are visited. */
export function inUseSet(table: RecordIndex): Set<string> {
  const inUse = new Set<string>();
  for (const id of [...table.liveIds()]) {
    if (!heldDirectly(table, id)) continue;
    let cursor: string | undefined = id;
    while (cursor !== undefined && !inUse.has(cursor)) {
      inUse.add(cursor);
      cursor = table.meta(cursor)?.parent;
    }
  }
  return inUse;
}

/** A usage record as the policy code sees it: times in ms. */
export function usageSummary(u: UsageInfo): RecordSummary {
  return {
    id: u.id,
    ...(u.parents.length ? { parents: u.parents } : {}),
    size: u.size,
    createdAt: u.createdAt.getTime(),
    ...(u.lastUsedAt ? { lastUsedAt: u.lastUsedAt.getTime() } : {}),
    usageCount: u.usageCount,
    recordType: u.recordType,
    shared: u.shared,
    inUse: u.inUse,
    mutable: u.mutable,
    ...(u.description === undefined ? {} : { description: u.description }),
    ...(u.key === undefined ? {} : { key: u.key }),
  };
}
