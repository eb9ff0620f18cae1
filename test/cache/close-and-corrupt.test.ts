import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataStore } from '../../src/metadata/store.js';
import { type CacheEvent, isCacheError, openCacheManager } from '../../src/index.js';
import { cacheFixture } from './helpers.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

/** How an Observable ended: its CacheError code, 'complete', or still running. */
function ending(source: { subscribe: (o: object) => unknown }) {
  const state: { end: string } = { end: 'running' };
  source.subscribe({
    error: (e: unknown) => {
      state.end = isCacheError(e) ? e.code : `untyped: ${String(e)}`;
    },
    complete: () => {
      state.end = 'complete';
    },
  });
  return state;
}

describe('close() ends every stream in flight', () => {
  const fx = cacheFixture('native');

  it('disk usage and prune end with CLOSED, live views complete, and nothing is left unhandled', async () => {
    const cm = await fx.open();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const mut = await cm.new(null);
      const m = await mut.mount();
      for (let f = 0; f < 50; f++) writeFileSync(join(m.path, `f${f}`), 'x'.repeat(f));
      await m.release();
      await (await mut.commit()).release();
      ids.push(mut.id);
    }
    const usage = ending(cm.diskUsage$());
    const pruning = ending(cm.prune({ all: true }));
    const records = ending(cm.records$());
    const watching = ending(cm.watch(ids[0]!));
    const collected = cm.diskUsage().catch((e: unknown) => (isCacheError(e) ? e.code : 'untyped'));
    await cm.close();
    expect(usage.end).toBe('CLOSED');
    expect(['CLOSED', 'complete']).toContain(pruning.end);
    expect(records.end).toBe('complete');
    expect(watching.end).toBe('complete');
    expect(await collected).toBe('CLOSED');
    // Anything asked for after close is refused the same way.
    expect(() => cm.diskUsage$()).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    await new Promise((r) => setTimeout(r, 100));
    expect(unhandled).toEqual([]);
  });
});

describe('a corrupt record is skipped, per record, everywhere', () => {
  const fx = cacheFixture('native');

  it('disk usage, records$, prune and a held child of it keep working, and the record is reported', async () => {
    const root = fx.root();
    const first = await openCacheManager({ root });
    const parentMut = await first.new(null, { description: 'parent' });
    const parent = await parentMut.commit();
    const child = await (await first.new(parent, { description: 'child' })).commit();
    const other = await (await first.new(null, { description: 'other' })).commit();
    for (const r of [child, other, parent]) await r.release();
    await first.close();
    const store = await MetadataStore.open(join(root, 'metadata'));
    await store.putRaw(parent.id, { id: parent.id, state: 'exploded' });
    await store.close();

    const cm = await fx.open(root);
    const events: CacheEvent[] = [];
    cm.events$.subscribe((e) => events.push(e));
    expect(cm.startup.repairs).toContainEqual(
      expect.objectContaining({ action: 'kept-corrupt-record', id: parent.id }),
    );
    // Holding the child makes every reader walk up to the corrupt parent.
    const held = await cm.get(child.id);
    const usage = await cm.diskUsage();
    expect(usage.map((u) => u.description).sort()).toEqual(['child', 'other']);
    expect(usage.find((u) => u.id === child.id)?.inUse).toBe(true);
    const first$ = await firstValueFrom(cm.records$());
    expect(first$.type === 'snapshot' && first$.records.map((r) => r.metadata.description).sort()).toEqual([
      'child',
      'other',
    ]);
    const pruned = await lastValueFrom(cm.prune({ all: true }).pipe(toArray()));
    expect(pruned.map((r) => r.description)).toEqual(['other']);
    await held.release();
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toContainEqual(expect.objectContaining({ type: 'record.corrupt', id: parent.id }));
    expect(unhandled).toEqual([]);
  });
});
