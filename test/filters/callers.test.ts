import { firstValueFrom, toArray, lastValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { isCacheError, isSnapshotError, type CacheManager } from '../../src/index.js';
import { NativeSnapshotter } from '../../src/snapshot/index.js';
import { cacheFixture } from '../cache/helpers.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REDOS = 'description~=(a+)+$';
const LONG = `description~=${'a'.repeat(40_000)}`;
const NO_LOOKAHEAD = 'description~=(?=x)';
/** 41 characters was enough to hang `cachekit du` for good with a backtracking engine. */
const EVIL_DESCRIPTION = `${'a'.repeat(40)}!`;

async function refusal(run: () => Promise<unknown>): Promise<Error> {
  const err = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(Error);
  return err as Error;
}

describe('filters in the cache engine', () => {
  const fx = cacheFixture('native');

  async function cacheWithEvilDescription(): Promise<CacheManager> {
    const cm = await fx.open();
    const mut = await cm.new(null, { description: EVIL_DESCRIPTION });
    await (await mut.commit()).release();
    const other = await cm.new(null, { description: 'aaa' });
    await (await other.commit()).release();
    return cm;
  }

  it('diskUsage and records$ answer a catastrophic-backtracking pattern with the right records', async () => {
    const cm = await cacheWithEvilDescription();
    expect((await cm.diskUsage({ filter: [REDOS] })).map((u) => u.description)).toEqual(['aaa']);
    const first = await firstValueFrom(cm.records$({ filter: [REDOS] }));
    expect(first.type === 'snapshot' && first.records.map((r) => r.metadata.description)).toEqual(['aaa']);
    const pruned = await lastValueFrom(cm.prune({ all: true, filter: [REDOS], dryRun: true }).pipe(toArray()));
    expect(pruned.map((r) => r.description)).toEqual(['aaa']);
  });

  it.each([
    [LONG, /at most 1024/],
    [NO_LOOKAHEAD, /invalid regular expression/],
  ])('diskUsage, records$ and prune refuse %s as INVALID naming the filter', async (filter, reason) => {
    const cm = await cacheWithEvilDescription();
    const shown = filter.slice(0, 20);
    const du = await refusal(() => cm.diskUsage({ filter: [filter] }));
    expect(isCacheError(du, 'INVALID')).toBe(true);
    expect(du.message).toContain(shown);
    expect(du.message).toMatch(reason);
    const records = await refusal(async () => cm.records$({ filter: [filter] }));
    expect(isCacheError(records, 'INVALID')).toBe(true);
    expect(records.message).toContain(shown);
    expect(records.message).toMatch(reason);
    const prune = await refusal(async () => cm.prune({ filter: [filter] }));
    expect(isCacheError(prune, 'INVALID')).toBe(true);
    expect(prune.message).toContain(shown);
    expect(prune.message).toMatch(reason);
  });
});

describe('filters in snapshot walks', () => {
  it('a walk refuses a bad pattern as INVALID_ARGUMENT and matches a backtracking one correctly', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-walk-'));
    const sn = await NativeSnapshotter.open(root);
    try {
      await sn.prepare('evil', '', { labels: { note: EVIL_DESCRIPTION } });
      await sn.prepare('plain', '', { labels: { note: 'aaa' } });
      const names: string[] = [];
      await sn.walk((info) => void names.push(info.name), 'labels.note~=(a+)+$');
      expect(names).toEqual(['plain']);
      const err = await refusal(() => sn.walk(() => {}, `labels.note~=${'a'.repeat(40_000)}`));
      expect(isSnapshotError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect(err.message).toMatch(/at most 1024/);
    } finally {
      await sn.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
