import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CacheManager, ImmutableRef } from '../../src/index.js';
import { cacheFixture } from './helpers.js';

/** A committed record with `files` small files, so copying or walking it takes a while. */
async function bigLayer(cm: CacheManager, files: number): Promise<ImmutableRef> {
  const mut = await cm.new(null, { retain: true });
  const { path } = await mut.mount();
  for (let d = 0; d < files / 1000; d++) {
    mkdirSync(join(path, `d${d}`));
    for (let f = 0; f < 1000; f++) writeFileSync(join(path, `d${d}`, `f${f}`), 'data');
  }
  return mut.commit();
}

describe('the supervisor serializes decisions, not I/O', () => {
  const fx = cacheFixture('native');

  it('a slow copy does not stall get of another record', async () => {
    const cm = await fx.open();
    const big = await bigLayer(cm, 10_000);
    const other = await (await cm.new(null, { retain: true })).commit();
    await other.release();
    let copied = false;
    const slow = cm.new(big).then((ref) => {
      copied = true;
      return ref;
    });
    const quick = await cm.get(other.id);
    expect(copied).toBe(false);
    await quick.release();
    await (await slow).release();
    await big.release();
  });

  it('get is answered while a large tree is being sized', async () => {
    const cm = await fx.open();
    const big = await bigLayer(cm, 10_000);
    await big.release();
    const other = await (await cm.new(null, { retain: true })).commit();
    await other.release();
    let sized = false;
    const sizing = cm.diskUsage().then(() => (sized = true));
    await new Promise((r) => setTimeout(r, 5));
    const ref = await cm.get(other.id);
    expect(sized).toBe(false);
    await ref.release();
    await sizing;
  });
});
