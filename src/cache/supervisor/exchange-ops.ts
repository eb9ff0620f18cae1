import { waitFor } from 'xstate';
import type { ImportedRecord } from '../../../machines/supervisor.machine.js';
import { StoredRecord } from '../../metadata/schema.js';
import { isLayerError } from '../../remote/layer/index.js';
import { isRegistryError } from '../../remote/registry/index.js';
import { CacheError } from '../errors.js';
import { newRecordId } from '../keys.js';
import type { RecordIndex } from '../records/record-index.js';
import { dormantStateOf } from '../records/rules.js';

/** What an import decided: the record each entry is now (made lazy, or a local one that had its key). */
export interface ImportOutcome {
  ids: (string | undefined)[];
  created: string[];
  kept: string[];
}

/**
 * Makes lazy records for an imported cache, all or none. A key that already has a record here keeps
 * that record (local content wins, and is what children made here stand on); an entry without a key
 * is made only when a new record stands on it.
 */
export async function importRecords(index: RecordIndex, records: readonly ImportedRecord[]): Promise<ImportOutcome> {
  const local = records.map((r) => (r.key === undefined ? undefined : index.findKey(r.key)));
  const needed = records.map((r, i) => r.key !== undefined && local[i] === undefined);
  for (let i = records.length - 1; i >= 0; i--) {
    const parent = records[i]!.parent;
    if (needed[i] && parent !== undefined && 'index' in parent && local[parent.index] === undefined)
      needed[parent.index] = true;
  }
  // Everything is checked before anything is made: a bad entry leaves the cache as it was.
  const ids: (string | undefined)[] = [...local];
  const made: StoredRecord[] = [];
  records.forEach((r, i) => {
    if (!needed[i]) return;
    const parent = r.parent === undefined ? undefined : 'index' in r.parent ? ids[r.parent.index] : r.parent.id;
    const madeHere = made.some((m) => m.id === parent);
    if (r.parent !== undefined && (parent === undefined || !(madeHere || index.has(parent))))
      throw new CacheError('INVALID', `import: entry ${i} stands on a record that is not here`);
    const meta = {
      id: newRecordId(),
      ...(parent === undefined ? {} : { parent }),
      state: 'remote',
      retain: false,
      ...(r.description === undefined ? {} : { description: r.description }),
      recordType: r.recordType,
      createdAt: r.createdAt,
      ...(r.lastUsedAt === undefined ? {} : { lastUsedAt: r.lastUsedAt }),
      usageCount: 0,
      ...(r.key === undefined ? {} : { key: r.key }),
      layer: r.layer,
    };
    const parsed = StoredRecord.safeParse(meta);
    if (!parsed.success)
      throw new CacheError('INVALID', `import: entry ${i}: ${parsed.error.issues.map((x) => x.message).join('; ')}`);
    ids[i] = meta.id;
    made.push(parsed.data);
  });
  for (const meta of made) {
    void index.writer.put(meta);
    // The machine says which state a stored lazy record no one holds is in.
    index.addDormant(meta.id, dormantStateOf('remote')!, 0);
    if (meta.parent !== undefined) index.adjustChildren(meta.parent, 1);
    index.changes.next(meta.id);
  }
  await Promise.all(made.map((m) => index.durable(m.id)));
  return { ids, created: made.map((m) => m.id), kept: [...new Set(local.filter((id) => id !== undefined))] };
}

/**
 * Starts the pull of every lazy record from the first one with local content down to `id` (each waits
 * for its parent before it applies, but downloads at once), and resolves when `id` has its content.
 * A pull in flight is joined, not started again.
 */
export function pullChain(index: RecordIndex, id: string): Promise<void> | undefined {
  if (!index.has(id)) throw new CacheError('NOT_FOUND', `pull: record ${id} not found`);
  const chain: string[] = [];
  for (let cursor: string | undefined = id; cursor !== undefined && index.is(cursor, 'lazy'); ) {
    chain.push(cursor);
    cursor = index.meta(cursor)?.parent;
  }
  if (chain.length === 0) return undefined;
  for (const lazy of chain.reverse()) {
    const record = index.revive(lazy);
    if (record.actor.getSnapshot().can({ type: 'PULL' })) index.send(record, { type: 'PULL' });
  }
  return pulled(index, id);
}

async function pulled(index: RecordIndex, id: string): Promise<void> {
  const record = index.liveRecord(id);
  if (!record) throw new CacheError('NOT_FOUND', `pull: record ${id} is gone`);
  const settled = await waitFor(record.actor, (s) => !s.hasTag('busy'), { timeout: Infinity });
  if (!settled.hasTag('committedContent')) {
    const cause = settled.context.ioError?.error;
    // A registry or layer failure is already typed and names the blob: it reaches the caller as it is.
    if (isRegistryError(cause) || isLayerError(cause) || cause instanceof CacheError) throw cause;
    throw new CacheError('INVALID', `pull: record ${id} could not be pulled`, { cause });
  }
  await index.durable(id);
}
