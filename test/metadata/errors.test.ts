import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { isCacheError, openCacheManager } from '../../src/index.js';
import { MetadataError, isMetadataError } from '../../src/metadata/errors.js';
import { MetadataStore } from '../../src/metadata/store.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});
function tempRoot(): string {
  const r = mkdtempSync(join(tmpdir(), 'cachekit-metadata-'));
  roots.push(r);
  return r;
}

async function rejection(run: () => Promise<unknown>): Promise<unknown> {
  return run().then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

/** Writes a schema version the way a future cachekit would, with lmdb itself rather than the store. */
async function storeSchemaVersion(path: string, version: unknown): Promise<void> {
  const env = open({ path, maxDbs: 4 });
  await env.openDB({ name: 'meta' }).put('schemaVersion', version);
  await env.close();
}

describe('metadata errors', () => {
  it('a read-only open of a path with no metadata is NOT_FOUND naming the path, and creates nothing', async () => {
    const path = join(tempRoot(), 'metadata');
    const err = await rejection(() => MetadataStore.open(path, { readOnly: true }));
    expect(err).toBeInstanceOf(MetadataError);
    expect(isMetadataError(err, 'NOT_FOUND')).toBe(true);
    expect((err as MetadataError).path).toBe(path);
    expect((err as Error).message).toContain(path);
    await expect(rejection(() => MetadataStore.open(path, { readOnly: true }))).resolves.toBeInstanceOf(MetadataError);
  });

  it.each([
    [999, /newer than this cachekit understands/],
    ['two', /not a positive integer/],
  ])('a stored schema version %j is UNSUPPORTED_VERSION', async (version, reason) => {
    const path = join(tempRoot(), 'metadata');
    await storeSchemaVersion(path, version);
    const err = await rejection(() => MetadataStore.open(path));
    expect(isMetadataError(err, 'UNSUPPORTED_VERSION')).toBe(true);
    expect((err as MetadataError).path).toBe(path);
    expect((err as Error).message).toMatch(reason);
  });

  it('a corrupt stored record is CORRUPT naming the record; writes to a read-only store are READ_ONLY', async () => {
    const path = join(tempRoot(), 'metadata');
    const store = await MetadataStore.open(path);
    await store.putRaw('r1', { id: 'r1', state: 'exploded' });
    let err: unknown;
    try {
      store.get('r1');
    } catch (e) {
      err = e;
    }
    expect(isMetadataError(err, 'CORRUPT')).toBe(true);
    expect((err as MetadataError).id).toBe('r1');
    expect((err as Error).message).toMatch(/record r1: stored metadata is corrupt/);
    await store.close();
    const readOnly = await MetadataStore.open(path, { readOnly: true });
    const write = await rejection(() => readOnly.write([{ delete: 'r1' }]));
    expect(isMetadataError(write, 'READ_ONLY')).toBe(true);
    const setting = await rejection(() => readOnly.putSetting('snapshotter', 'native'));
    expect(isMetadataError(setting, 'READ_ONLY')).toBe(true);
    await readOnly.close();
  });
});

describe('the cache engine translates metadata errors when opening', () => {
  it('a read-only open of a root that was never a cache is CacheError NOT_FOUND, caused by the MetadataError', async () => {
    const root = tempRoot();
    const err = await rejection(() => openCacheManager({ root, readOnly: true }));
    expect(isCacheError(err, 'NOT_FOUND')).toBe(true);
    expect((err as Error).message).toMatch(/not a cachekit root/);
    expect(isMetadataError((err as Error).cause, 'NOT_FOUND')).toBe(true);
  });

  it('a root whose metadata is from a newer cachekit is CacheError INVALID, and can be opened once it is not', async () => {
    const root = tempRoot();
    await storeSchemaVersion(join(root, 'metadata'), 999);
    const err = await rejection(() => openCacheManager({ root }));
    expect(isCacheError(err, 'INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/schema version 999 is newer/);
    expect(isMetadataError((err as Error).cause, 'UNSUPPORTED_VERSION')).toBe(true);
    // The failed open released the owner lock: after putting the version back, the root opens.
    await storeSchemaVersion(join(root, 'metadata'), 1);
    const cm = await openCacheManager({ root });
    await cm.close();
  });
});
