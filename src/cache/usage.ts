import type { RecordState } from '../../machines/record.machine.js';
import type { Usage } from '../snapshot/types.js';
import type { RecordTable } from './record-table.js';

/** One record in a disk-usage report, shaped like BuildKit's UsageInfo. */
export interface UsageInfo {
  id: string;
  mutable: boolean;
  /** Held by a ref, or parent of a record that is in use. */
  inUse: boolean;
  size: number;
  createdAt: Date;
  lastUsedAt?: Date;
  usageCount: number;
  parents: string[];
  description?: string;
  recordType: string;
  shared: boolean;
}

export type SizeFn = (id: string, state: RecordState, signal?: AbortSignal) => Promise<Usage>;

/** Records held right now by a ref of their own (children do not count here). */
export function heldDirectly(table: RecordTable, id: string): boolean {
  const state = table.stateOf(id);
  if (state === undefined) return false;
  if (state === 'mutable.held' || state === 'creating' || state === 'removing') return true;
  return (table.contextOf(id)?.refs ?? 0) > 0;
}

/** Ids in use: directly held ones and every ancestor of them. */
export function inUseSet(table: RecordTable): Set<string> {
  const inUse = new Set<string>();
  for (const id of table.ids()) {
    if (!heldDirectly(table, id)) continue;
    let cursor: string | undefined = id;
    while (cursor !== undefined && !inUse.has(cursor)) {
      inUse.add(cursor);
      cursor = table.meta(cursor)?.parent;
    }
  }
  return inUse;
}

export async function collectUsage(table: RecordTable, size: SizeFn): Promise<UsageInfo[]> {
  const inUse = inUseSet(table);
  const out: UsageInfo[] = [];
  for (const id of [...table.ids()]) {
    const meta = table.meta(id);
    const state = table.stateOf(id);
    if (!meta || !state || state === 'removed') continue;
    const mutable = state.startsWith('mutable') || state === 'creating';
    // BuildKit reports a mutable record in use as size 0: its content is still changing.
    const bytes = mutable && inUse.has(id) ? 0 : (await size(id, state).catch(() => ({ size: 0, inodes: 0 }))).size;
    out.push({
      id,
      mutable,
      inUse: inUse.has(id),
      size: bytes,
      createdAt: new Date(meta.createdAt),
      ...(meta.lastUsedAt === undefined ? {} : { lastUsedAt: new Date(meta.lastUsedAt) }),
      usageCount: meta.usageCount,
      parents: meta.parent === undefined ? [] : [meta.parent],
      ...(meta.description === undefined ? {} : { description: meta.description }),
      recordType: meta.recordType,
      shared: false,
    });
  }
  return out;
}
