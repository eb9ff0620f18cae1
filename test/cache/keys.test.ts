import { lastValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { isCacheError, openCacheManager } from '../../src/index.js';
import { MetadataStore } from '../../src/metadata/store.js';
import { cacheFixture } from './helpers.js';

describe('cache keys', () => {
  const fx = cacheFixture('native');

  it('find gives a ref to the committed record made under a key, and undefined for an unknown key', async () => {
    const cm = await fx.open();
    const m = await cm.new(null, { key: 'sha256:step-1', description: 'step 1' });
    const ref = await m.commit();
    await ref.release();
    const found = await cm.find('sha256:step-1');
    expect(found?.id).toBe(ref.id);
    expect(found?.key).toBe('sha256:step-1');
    await found?.release();
    expect(await cm.find('sha256:other')).toBeUndefined();
  });

  it('a record still mutable under its key is not found; once committed it is', async () => {
    const cm = await fx.open();
    const m = await cm.new(null, { key: 'k' });
    expect(await cm.find('k')).toBeUndefined();
    const ref = await m.commit();
    const found = await cm.find('k');
    expect(found?.id).toBe(ref.id);
    await found?.release();
    await ref.release();
  });

  it('new refuses a key another record holds, naming that record, and leaves the cache unchanged', async () => {
    const cm = await fx.open();
    const first = await cm.new(null, { key: 'taken' });
    const before = cm.status().records;
    const err = await cm.new(null, { key: 'taken' }).catch((e: unknown) => e);
    expect(isCacheError(err, 'INVALID')).toBe(true);
    expect(String((err as Error).message)).toContain(first.id);
    expect(cm.status().records).toBe(before);
    await first.release();
  });

  it('a key is free again once its record is removed', async () => {
    const cm = await fx.open();
    const ref = await (await cm.new(null, { key: 'again' })).commit();
    await ref.release();
    await cm.remove(ref.id);
    expect(await cm.find('again')).toBeUndefined();
    const next = await cm.new(null, { key: 'again' });
    await next.release();
  });

  it('keys are checked: empty and over 1024 bytes are INVALID (multi-byte characters count as bytes)', async () => {
    const cm = await fx.open();
    for (const key of ['', 'é'.repeat(513)]) {
      const err = await cm.new(null, { key }).catch((e: unknown) => e);
      expect(isCacheError(err, 'INVALID'), `key of ${Buffer.byteLength(key)} bytes`).toBe(true);
      expect(isCacheError(await cm.find(key).catch((e: unknown) => e), 'INVALID')).toBe(true);
    }
    const m = await cm.new(null, { key: 'é'.repeat(512) });
    await m.release();
  });

  it('keys survive a restart and are read from the LMDB key index', async () => {
    const root = fx.root();
    let cm = await openCacheManager({ root, snapshotter: 'native' });
    const ref = await (await cm.new(null, { key: 'persist' })).commit();
    await ref.release();
    await cm.close();
    const store = await MetadataStore.open(`${root}/metadata`, { readOnly: true });
    expect(store.findKey('persist')).toBe(ref.id);
    await store.close();
    cm = await openCacheManager({ root, snapshotter: 'native' });
    const found = await cm.find('persist');
    expect(found?.id).toBe(ref.id);
    await found?.release();
    await cm.remove(ref.id);
    await cm.close();
    const after = await MetadataStore.open(`${root}/metadata`, { readOnly: true });
    expect(after.findKey('persist')).toBeUndefined();
    await after.close();
  });

  it('diskUsage, filters, describe and records$ show the key', async () => {
    const cm = await fx.open();
    const a = await (await cm.new(null, { key: 'alpha' })).commit();
    const b = await (await cm.new(null, { key: 'beta' })).commit();
    const usage = await cm.diskUsage();
    expect(usage.find((u) => u.id === a.id)?.key).toBe('alpha');
    const filtered = await cm.diskUsage({ filter: ['key==beta'] });
    expect(filtered.map((u) => u.id)).toEqual([b.id]);
    expect(cm.describe(a.id).metadata.key).toBe('alpha');
    const delta = await lastValueFrom(cm.records$({ filter: ['key==alpha'] }).pipe(take(1), toArray()));
    expect(delta[0]?.type === 'snapshot' && delta[0].records.map((r) => r.id)).toEqual([a.id]);
    await a.release();
    await b.release();
  });
});
