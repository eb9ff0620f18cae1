import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SizeItemError } from '../../src/size/errors.js';
import { ConcurrencyGate } from '../../src/size/gate.js';
import { SizeWorkerPool } from '../../src/size/pool.js';
import { SizeService, type SizeEvent, type SizeResultEvent } from '../../src/size/size-service.js';
import { sizeOf$ } from '../../src/size/size-stream.js';
import { WalkProbe } from '../../src/size/control-block.js';
import { duUsage, manySmallFiles, tempDir } from './fixtures.js';

const tmp = tempDir('service');
const pool = new SizeWorkerPool({ size: 2 });
let dirs: string[] = [];
beforeAll(() => {
  dirs = manySmallFiles(tmp.path, 24, 1000);
});
afterAll(async () => {
  await pool.close();
  tmp.remove();
});

async function waitFor(predicate: () => boolean): Promise<void> {
  while (!predicate()) await sleep(1);
}

const results = (events: SizeEvent[]): SizeResultEvent[] =>
  events.filter((e): e is SizeResultEvent => e.type === 'result');

describe('sizeOf$', () => {
  it('is cold: emits du usage once per subscription', async () => {
    const usage$ = sizeOf$(dirs[0]!, { pool });
    const before = pool.stats().started;
    expect(await firstValueFrom(usage$)).toEqual(duUsage(dirs[0]!));
    expect(await firstValueFrom(usage$)).toEqual(duUsage(dirs[0]!));
    expect(pool.stats().started - before).toBe(2);
  });

  it('stops the walk when unsubscribed, with no filesystem call afterwards', async () => {
    const probe = new WalkProbe({ timestamps: true });
    const emitted: unknown[] = [];
    const subscription = sizeOf$(tmp.path, { pool, probe }).subscribe({
      next: (u) => emitted.push(u),
      error: (e: unknown) => emitted.push(e),
    });
    await waitFor(() => probe.snapshot().fsCalls > 1000);
    subscription.unsubscribe();
    await waitFor(() => pool.stats().busy === 0);
    const stopped = probe.snapshot();
    expect(stopped.abortSeenAt).toBeGreaterThan(0);
    expect(stopped.lastFsCallAt).toBeLessThanOrEqual(stopped.abortSeenAt);
    await sleep(50);
    expect(probe.snapshot().fsCalls).toBe(stopped.fsCalls);
    expect(emitted).toEqual([]);
  });

  it('errors with the reason when its signal aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('enough');
    const result = firstValueFrom(sizeOf$(tmp.path, { pool, signal: controller.signal })).catch((e: unknown) => e);
    await sleep(5);
    controller.abort(reason);
    expect(await result).toBe(reason);
    await waitFor(() => pool.stats().busy === 0);
  });
});

describe('SizeService shared walks', () => {
  it('shares one walk between concurrent callers of the same key', async () => {
    const service = new SizeService({ pool });
    const [a, b, c] = await Promise.all([
      service.size('k', dirs[1]!),
      service.size('k', dirs[1]!),
      firstValueFrom(service.size$('k', () => dirs[1]!)),
    ]);
    expect(a).toEqual(duUsage(dirs[1]!));
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(service.stats()).toMatchObject({ walksStarted: 1, inFlight: 0, active: 0 });
    // Nothing is cached: a later call walks again.
    await service.size('k', dirs[1]!);
    expect(service.stats().walksStarted).toBe(2);
  });

  it('keeps the shared walk while any caller remains and cancels it when the last leaves', async () => {
    const service = new SizeService({ pool });
    const first = service.size$('tree', tmp.path).subscribe();
    const second = service.size$('tree', tmp.path).subscribe();
    await waitFor(() => (service.probeOf('tree')?.snapshot().fsCalls ?? 0) > 1000);
    const probe = service.probeOf('tree')!;
    first.unsubscribe();
    await sleep(5);
    expect(probe.snapshot().abortRequestedAt).toBe(0);
    second.unsubscribe();
    expect(probe.snapshot().abortRequestedAt).toBeGreaterThan(0);
    await waitFor(() => pool.stats().busy === 0);
    const stopped = probe.snapshot();
    expect(stopped.abortSeenAt).toBeGreaterThan(0);
    await sleep(20);
    expect(probe.snapshot().fsCalls).toBe(stopped.fsCalls);
    expect(service.stats()).toMatchObject({ walksStarted: 1, inFlight: 0, active: 0, waiting: 0 });
  });
});

describe('SizeService.sizeMany$', () => {
  it('respects the concurrency bound and emits every result with progress', async () => {
    const wide = new SizeWorkerPool({ size: 4 });
    try {
      const service = new SizeService({ pool: wide, concurrency: 2 });
      let maxActive = 0;
      let maxBusy = 0;
      const sample = setInterval(() => {
        maxActive = Math.max(maxActive, service.stats().active);
        maxBusy = Math.max(maxBusy, wide.stats().busy);
      }, 1);
      const items = dirs.slice(0, 8).map((path, i) => ({ key: `item-${i}`, path }));
      const events = await lastValueFrom(service.sizeMany$(items).pipe(toArray()));
      clearInterval(sample);
      expect(maxActive).toBeLessThanOrEqual(2);
      expect(maxBusy).toBeLessThanOrEqual(2);
      expect(service.stats().walksStarted).toBe(8);
      expect(events[0]).toEqual({ type: 'progress', progress: { done: 0, failed: 0, total: 8, bytes: 0, inodes: 0 } });
      const done = results(events);
      expect(done.map((r) => r.key).sort()).toEqual(items.map((i) => i.key).sort());
      const final = events.at(-1)!;
      expect(final.type).toBe('progress');
      const total = done.reduce((sum, r) => sum + r.usage.size, 0);
      expect(final.progress).toEqual({ done: 8, failed: 0, total: 8, bytes: total, inodes: 8 * 1001 });
    } finally {
      await wide.close();
    }
  });

  it('is tolerant by default: failed items report zero usage and an error', async () => {
    const service = new SizeService({ pool });
    const items = [
      { key: 'good', path: dirs[2]! },
      { key: 'vanished', path: join(tmp.path, 'gone') },
      { key: 'broken-resolver', path: () => Promise.reject(new Error('no such record')) },
      { key: 'bad-resolved', path: () => 'not/absolute' },
    ];
    const done = results(await lastValueFrom(service.sizeMany$(items).pipe(toArray())));
    const byKey = new Map(done.map((r) => [r.key, r]));
    expect(byKey.get('good')).toMatchObject({ usage: duUsage(dirs[2]!) });
    expect(byKey.get('good')!.error).toBeUndefined();
    expect(byKey.get('vanished')).toMatchObject({ usage: { size: 0, inodes: 0 }, error: { code: 'ENOENT' } });
    expect(byKey.get('broken-resolver')).toMatchObject({
      usage: { size: 0, inodes: 0 },
      error: { message: 'no such record' },
    });
    expect(byKey.get('bad-resolved')).toMatchObject({ error: { code: 'INVALID_PATH' } });
    expect(done.at(-1)!.progress).toMatchObject({ done: 4, failed: 3, total: 4 });
  });

  it('with strict, fails the stream with a SizeItemError naming the item', async () => {
    const service = new SizeService({ pool });
    const items = [
      { key: 'vanished', path: join(tmp.path, 'gone') },
      { key: 'good', path: dirs[3]! },
    ];
    const error = await lastValueFrom(service.sizeMany$(items, { strict: true })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SizeItemError);
    expect(error).toMatchObject({ code: 'ITEM_FAILED', key: 'vanished', cause: { code: 'ENOENT' } });
    expect((error as Error).message).toContain('"vanished"');
    await waitFor(() => pool.stats().busy === 0);
    expect(service.stats()).toMatchObject({ inFlight: 0, active: 0 });
  });

  it('reports bytes of walks still running in interval progress', async () => {
    const service = new SizeService({ pool });
    const events = await lastValueFrom(
      service.sizeMany$([{ key: 'all', path: tmp.path }], { progressIntervalMs: 2 }).pipe(toArray()),
    );
    const final = results(events)[0]!.usage.size;
    const ticks = events.filter((e) => e.type === 'progress' && e.progress.done === 0).map((e) => e.progress.bytes);
    // A tick may see the walk's final count before its result reaches this thread, never more.
    expect(ticks.every((bytes) => bytes <= final)).toBe(true);
    expect(ticks.some((bytes) => bytes > 0 && bytes < final)).toBe(true);
    expect(ticks).toEqual([...ticks].sort((a, b) => a - b));
  });
});

describe('SizeService bad input', () => {
  it('rejects bad keys, paths and options with typed errors before any walk', async () => {
    const service = new SizeService({ pool });
    await expect(firstValueFrom(service.size$('', dirs[0]!))).rejects.toMatchObject({
      code: 'INVALID_KEY',
      message: expect.stringContaining('""'),
    });
    await expect(service.size('k', 'relative')).rejects.toMatchObject({
      code: 'INVALID_PATH',
      message: expect.stringContaining('"relative"'),
    });
    const batch = [
      { key: 'fine', path: dirs[0]! },
      { key: 'x', path: '' },
    ];
    await expect(lastValueFrom(service.sizeMany$(batch))).rejects.toMatchObject({
      code: 'INVALID_PATH',
      message: expect.stringContaining('"x"'),
    });
    await expect(lastValueFrom(service.sizeMany$([], { progressIntervalMs: -1 }))).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
    expect(service.stats()).toMatchObject({ walksStarted: 0, inFlight: 0 });
    expect(() => new SizeService({ pool, concurrency: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('concurrency') }),
    );
    expect(() => new ConcurrencyGate(2.5)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('size() honours an abort signal', async () => {
    const service = new SizeService({ pool });
    const controller = new AbortController();
    const pending = service.size('big', tmp.path, { signal: controller.signal }).catch((e: unknown) => e);
    await sleep(5);
    controller.abort(new Error('cancelled by caller'));
    expect(await pending).toMatchObject({ message: 'cancelled by caller' });
    await waitFor(() => pool.stats().busy === 0);
    expect(service.stats()).toMatchObject({ inFlight: 0, active: 0 });
  });
});
