import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoredRecord } from '../../src/metadata/schema.js';
import { MetadataStore } from '../../src/metadata/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function storePath(): string {
  const d = mkdtempSync(join(tmpdir(), 'cachekit-indexes-'));
  dirs.push(d);
  return join(d, 'metadata');
}

function record(id: string, fields: Partial<StoredRecord> = {}): StoredRecord {
  return { id, state: 'committed', retain: false, recordType: 'regular', createdAt: 1, usageCount: 1, ...fields };
}

describe('metadata indexes (last use, parent, state)', () => {
  it('answer by last use, parent and state, and follow every change in the same transactions', async () => {
    const store = await MetadataStore.open(storePath());
    await store.write([
      { put: record('never', { lastUsedAt: undefined, usageCount: 0 }) },
      { put: record('old', { lastUsedAt: 1_000 }) },
      { put: record('edge', { lastUsedAt: 5_000 }) },
      { put: record('new', { lastUsedAt: 5_001, parent: 'old' }) },
      // An id that extends another id must not fall into the shorter one's parent range.
      { put: record('old!x', { lastUsedAt: 9_000 }) },
      { put: record('child-of-old!x', { lastUsedAt: 9_000, parent: 'old!x', state: 'mutable' }) },
    ]);
    // At or before the time, oldest first; a record never used counts as used at time 0.
    expect([...store.idsUsedUpTo(5_000)]).toEqual(['never', 'old', 'edge']);
    expect([...store.idsUsedUpTo(0)]).toEqual(['never']);
    expect(store.childIds('old')).toEqual(['new']);
    expect(store.childIds('old!x')).toEqual(['child-of-old!x']);
    expect(store.indexesInStep()).toBe(true);
    expect([...store.idsInState('mutable')]).toEqual(['child-of-old!x']);
    expect([...store.idsInState('committed')].sort()).toEqual(['edge', 'never', 'new', 'old', 'old!x']);
    expect(Object.fromEntries(store.childCounts())).toEqual({ old: 1, 'old!x': 1 });

    // A use moves the record in the last-use index; two writes in one turn leave only the last one's entries.
    void store.write([{ put: record('old', { lastUsedAt: 7_000 }) }]);
    await store.write([{ put: record('old', { lastUsedAt: 8_000, state: 'removing' }) }]);
    expect([...store.idsUsedUpTo(7_500)]).toEqual(['never', 'edge', 'new']);
    expect([...store.idsUsedUpTo(8_000)]).toEqual(['never', 'edge', 'new', 'old']);
    expect([...store.idsInState('removing')]).toEqual(['old']);
    expect([...store.idsInState('committed')]).not.toContain('old');
    await store.write([{ delete: 'new' }, { put: record('edge', { lastUsedAt: 5_000, parent: 'old!x' }) }]);
    expect(store.childIds('old')).toEqual([]);
    expect(store.childIds('old!x').sort()).toEqual(['child-of-old!x', 'edge']);
    expect(store.indexesInStep()).toBe(true);
    await store.close();
  });

  it('a store written before the indexes existed gets them built at its first open', async () => {
    const path = storePath();
    let store = await MetadataStore.open(path);
    await store.write([
      { put: record('a', { lastUsedAt: 10 }) },
      { put: record('b', { lastUsedAt: 20, parent: 'a' }) },
    ]);
    await store.close();
    // What an earlier cachekit left: records and no index databases at all.
    const env = open({ path, maxDbs: 8 });
    for (const name of ['byLastUse', 'byParent', 'byState']) await env.openDB({ name }).drop();
    await env.openDB({ name: 'meta' }).remove('indexVersion');
    await env.close();
    store = await MetadataStore.open(path, { readOnly: true });
    // A reader may not write, so it only learns there is no index.
    expect(store.indexed).toBe(false);
    await store.close();
    store = await MetadataStore.open(path);
    expect(store.indexesInStep()).toBe(true);
    expect([...store.idsUsedUpTo(15)]).toEqual(['a']);
    expect(store.childIds('a')).toEqual(['b']);
    await store.close();
  });

  it('counts out of step (a record stored behind the indexes) are seen, and a rebuild mends them', async () => {
    const store = await MetadataStore.open(storePath());
    await store.write([{ put: record('a') }]);
    await store.putRaw('b', record('b', { lastUsedAt: 3 }));
    expect(store.indexesInStep()).toBe(false);
    store.rebuildIndexes();
    expect(store.indexesInStep()).toBe(true);
    expect([...store.idsUsedUpTo(3)]).toEqual(['a', 'b']);
    await store.close();
  });
});
