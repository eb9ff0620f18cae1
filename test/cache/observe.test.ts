import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { InspectionEvent } from 'xstate';
import {
  CacheEventSchema,
  isCacheError,
  openCacheManager,
  type CacheEvent,
  type CacheManager,
  type RecordView,
  type RecordsDelta,
} from '../../src/index.js';
import { settleWithin } from './bounded-wait.js';
import { cacheFixture } from './helpers.js';

const tick = () => new Promise((r) => setImmediate(r));
async function settle() {
  for (let i = 0; i < 5; i++) await tick();
}

/** A small workload touching every kind of transition. */
async function workload(cm: CacheManager) {
  const base = await (await cm.new(null, { retain: true })).commit();
  const child = await cm.new(base);
  await base.release();
  const frozenChild = await child.commit();
  await frozenChild.release();
  const thawed = await cm.getMutable(frozenChild.id);
  await thawed.release();
  const temp = await cm.new(null);
  await temp.release();
  await lastValueFrom(cm.prune({ all: true }).pipe(toArray()));
  return { base: base.id, child: frozenChild.id };
}

describe('observable state', () => {
  const fx = cacheFixture('native');

  it('events$ replays to the states that describe and status report, one transition per change', async () => {
    const cm = await fx.open();
    const events: CacheEvent[] = [];
    const sub = cm.events$.subscribe((e) => events.push(e));
    const kept = await (await cm.new(null, { retain: true, description: 'kept' })).commit();
    await workload(cm);
    await settle();
    sub.unsubscribe();
    for (const e of events) expect(CacheEventSchema.safeParse(e).success, JSON.stringify(e)).toBe(true);
    const replayed = new Map<string, string>();
    for (const e of events) {
      if (e.type !== 'record.transition') continue;
      const before = replayed.get(e.id) ?? 'creating';
      expect(e.from, `${e.id} ${e.event}`).toBe(before);
      replayed.set(e.id, e.to);
    }
    for (const e of events) if (e.type === 'record.removed') expect(replayed.get(e.id)).toBe('removed');
    const live = [...replayed].filter(([, s]) => s !== 'removed');
    expect(live).toEqual([[kept.id, cm.describe(kept.id).state]]);
    expect(cm.status().states).toEqual({ 'frozen.held': 1 });
    expect(events.some((e) => e.type === 'op' && e.op === 'NEW' && e.outcome === 'ok')).toBe(true);
    expect(events.some((e) => e.type === 'record.created')).toBe(true);
    expect(events.some((e) => e.type === 'record.removed' && e.reason === 'mutable ref released without commit')).toBe(
      true,
    );
  });

  it('watch starts with the current view, follows changes and completes on removal', async () => {
    const cm = await fx.open();
    const mut = await cm.new(null, { retain: true });
    const seen: RecordView[] = [];
    const done = new Promise<'completed'>((resolve, reject) =>
      cm.watch(mut.id).subscribe({ next: (v) => seen.push(v), complete: () => resolve('completed'), error: reject }),
    );
    const imm = await mut.commit();
    await imm.release();
    await cm.remove(mut.id);
    expect(await settleWithin(done), 'watch after removal').toEqual({ status: 'fulfilled', value: 'completed' });
    expect(seen[0]!.state).toBe('mutable.held');
    expect(seen.map((v) => v.state)).toContain('frozen.held');
    expect(seen.at(-1)!.state).toBe('removing');
    const err = await lastValueFrom(cm.watch('missing')).catch((e: unknown) => e);
    expect(isCacheError(err, 'NOT_FOUND')).toBe(true);
  });

  it('records$ gives one snapshot then deltas', async () => {
    const cm = await fx.open();
    const first = await (await cm.new(null, { retain: true })).commit();
    const deltas: RecordsDelta[] = [];
    const sub = cm.records$().subscribe((d) => deltas.push(d));
    const second = await cm.new(null);
    await second.release();
    await first.release();
    sub.unsubscribe();
    expect(deltas[0]).toEqual({
      type: 'snapshot',
      records: [expect.objectContaining({ id: first.id, state: 'frozen.held' })],
    });
    expect(deltas.some((d) => d.type === 'upsert' && d.record.id === second.id)).toBe(true);
    expect(deltas).toContainEqual({ type: 'remove', id: second.id });
    expect(deltas.at(-1)).toEqual({
      type: 'upsert',
      record: expect.objectContaining({ id: first.id, state: 'frozen.released' }),
    });
  });

  it('records$ takes containerd-syntax filters and rejects bad ones', async () => {
    const cm = await fx.open();
    const kept = await (await cm.new(null, { retain: true, description: 'keep' })).commit();
    await (await cm.new(null, { retain: true, description: 'other' })).commit();
    const first = await firstValueFrom(cm.records$({ filter: ['state~=^frozen,description==keep'] }));
    expect(first).toEqual({ type: 'snapshot', records: [expect.objectContaining({ id: kept.id })] });
    expect(() => cm.records$({ filter: ['colour==red'] })).toThrow(/colour/);
  });

  it('history keeps the last transitions of a used record, bounded', async () => {
    const cm = await fx.open();
    const imm = await (await cm.new(null, { retain: true })).commit();
    await imm.release();
    for (let i = 0; i < 20; i++) await (await cm.get(imm.id)).release();
    const history = cm.history(imm.id);
    expect(history).toHaveLength(32);
    expect(history.at(-1)).toMatchObject({ from: 'frozen.held', to: 'frozen.released', event: 'RELEASE' });
  });

  it('a stuck subscriber does not stall 200 lifecycles and is told how many events it lost', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-stuck-'));
    const cm = await openCacheManager({ root, eventBufferSize: 64 });
    let received = 0;
    let emitted = 0;
    const dropped: number[] = [];
    const counter = cm.events$.subscribe(() => emitted++);
    const stuck = cm.events$.subscribe((e) => {
      received++;
      if (e.type === 'events.dropped') dropped.push(e.count);
      // Stuck: every event costs this subscriber 20 ms of synchronous work.
      const until = performance.now() + 20;
      while (performance.now() < until);
    });
    try {
      for (let i = 0; i < 200; i++) await (await (await cm.new(null)).commit()).release();
      const receivedByEnd = received;
      await settle();
      await new Promise((r) => setTimeout(r, 50));
      expect(emitted).toBeGreaterThan(1000);
      // The lifecycles finished long before the stuck subscriber could have seen every event.
      expect(receivedByEnd).toBeLessThan(emitted / 2);
      expect(dropped.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    } finally {
      stuck.unsubscribe();
      counter.unsubscribe();
      await cm.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('hands XState inspection events from the supervisor and record actors to the inspect observer', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-inspect-'));
    const seen: InspectionEvent[] = [];
    const cm = await openCacheManager({ root, inspect: (e) => seen.push(e) });
    try {
      const imm = await (await cm.new(null)).commit();
      await imm.release();
      const idOf = (e: InspectionEvent) => (e.actorRef as unknown as { id: string }).id;
      const ids = new Set(seen.map(idOf));
      expect(ids).toContain('supervisor');
      expect(ids).toContain(`record:${imm.id}`);
      expect(seen.some((e) => e.type === '@xstate.snapshot' && idOf(e) === `record:${imm.id}`)).toBe(true);
    } finally {
      await cm.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('events$ completes on close, after delivering the events before it', async () => {
    const cm = await fx.open();
    const all = lastValueFrom(cm.events$.pipe(toArray()));
    const mut = await cm.new(null);
    await mut.release();
    await cm.close();
    const outcome = await settleWithin(all);
    expect(outcome.status, 'events$ after close').toBe('fulfilled');
    const events = (outcome as { value: CacheEvent[] }).value;
    expect(events).toContainEqual(expect.objectContaining({ type: 'record.removed', id: mut.id }));
  });
});
