import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { defaultGcPolicy, isCacheError, openCacheManager, type CacheEvent } from '../../src/index.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/cachekit.mjs');

describe('garbage collection', () => {
  it('runs the policies in the background after releases, reports what it freed, and stops on close', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-gc-'));
    const cm = await openCacheManager({ root, gcPolicy: [{ all: true }], gcInitialDelay: 50, gcInterval: 200 });
    try {
      const events: CacheEvent[] = [];
      cm.events$.subscribe((e) => events.push(e));
      const kept = await (await cm.new(null)).commit();
      const dropped = await (await cm.new(null)).commit();
      await dropped.release();
      const deadline = Date.now() + 5000;
      while (!events.some((e) => e.type === 'gc.done' && e.removed > 0) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(events).toContainEqual(expect.objectContaining({ type: 'gc.done', removed: 1 }));
      expect(events).toContainEqual(expect.objectContaining({ type: 'prune.removed', id: dropped.id }));
      expect(cm.describe(kept.id).state).toBe('frozen.held');
      await kept.release();
    } finally {
      await cm.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('rejects a bad gcPolicy at open, naming the field', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-gc-'));
    const err = await openCacheManager({ root, gcPolicy: [{ keepDuration: -5 }] }).catch((e: unknown) => e);
    expect(isCacheError(err, 'INVALID')).toBe(true);
    expect((err as Error).message).toContain('keepDuration');
    rmSync(root, { recursive: true, force: true });
  });

  it('exports a default policy list modelled on BuildKit', () => {
    const policies = defaultGcPolicy(500e9);
    expect(policies).toHaveLength(4);
    expect(policies[0]).toMatchObject({
      keepDuration: 48 * 3_600_000,
      filter: expect.arrayContaining([expect.stringContaining('source.local')]),
    });
    expect(policies.at(-1)).toMatchObject({ all: true });
  });

  it('cachekit prune --dry-run lists what prune then removes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-prune-cli-'));
    try {
      const cm = await openCacheManager({ root });
      const imm = await (await cm.new(null, { description: 'old layer' })).commit();
      await imm.release();
      await cm.close();
      const dry = (
        await run('node', [BIN, 'prune', '--root', root, '--dry-run', '--format', 'json'], { encoding: 'utf8' })
      ).stdout;
      expect(JSON.parse(dry.trim())).toMatchObject({ id: imm.id, dryRun: true });
      const real = (
        await run(
          'node',
          [BIN, 'prune', '--root', root, '--keep-duration', '0s', '--max-used-space', '1B', '--force'],
          {
            encoding: 'utf8',
          },
        )
      ).stdout;
      expect(real).toContain(imm.id);
      expect(real).toMatch(/Total:/);
      const du = JSON.parse(
        (await run('node', [BIN, 'du', '--root', root, '--format', 'json'], { encoding: 'utf8' })).stdout,
      ) as unknown[];
      expect(du).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
