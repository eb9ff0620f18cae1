import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WalkProbe } from '../../src/size/control-block.js';
import { SizeError, SizeWalkError } from '../../src/size/errors.js';
import { SizeWorkerPool } from '../../src/size/pool.js';
import { manySmallFiles, tempDir } from './fixtures.js';

const tmp = tempDir('pool');
let dirs: string[] = [];
const ENTRIES = 40 * 1000 + 40 + 1;
/** Making and deleting 40,000 files on a loaded shared disk can take minutes: a deadline, not a measurement. */
const FILE_WORK = 300_000;
beforeAll(() => {
  dirs = manySmallFiles(tmp.path, 40, 1000);
}, FILE_WORK);
afterAll(() => tmp.remove(), FILE_WORK);

async function waitFor(predicate: () => boolean): Promise<void> {
  while (!predicate()) await sleep(1);
}

describe('SizeWorkerPool cancellation', () => {
  it('stops a walk mid-tree with no filesystem call after the abort is seen, and leaves no worker busy', async () => {
    const pool = new SizeWorkerPool({ size: 2 });
    try {
      const probe = new WalkProbe({ timestamps: true });
      const controller = new AbortController();
      const walk = pool.run(tmp.path, { signal: controller.signal, probe });
      await waitFor(() => probe.snapshot().fsCalls > 2000);
      const reason = new Error('stop now');
      controller.abort(reason);
      await expect(walk).rejects.toBe(reason);

      const atSettle = probe.snapshot();
      expect(atSettle.abortSeenAt).toBeGreaterThan(0);
      expect(atSettle.abortRequestedAt).toBeGreaterThan(0);
      expect(atSettle.abortSeenAt).toBeGreaterThanOrEqual(atSettle.abortRequestedAt);
      expect(atSettle.lastFsCallAt).toBeLessThanOrEqual(atSettle.abortSeenAt);
      expect(atSettle.fsCalls).toBeLessThan(ENTRIES);
      expect(pool.stats()).toMatchObject({ busy: 0, queued: 0 });

      await sleep(100);
      const later = probe.snapshot();
      expect(later.fsCalls).toBe(atSettle.fsCalls);
      expect(later.lastFsCallAt).toBe(atSettle.lastFsCallAt);

      // The same workers keep serving.
      expect((await pool.run(dirs[0]!)).inodes).toBe(1001);
    } finally {
      await pool.close();
    }
  });

  it('drops a walk still queued in the pool on abort without ever starting it', async () => {
    const pool = new SizeWorkerPool({ size: 1, pipelineDepth: 1 });
    try {
      const first = pool.run(tmp.path);
      const controller = new AbortController();
      const probe = new WalkProbe();
      const second = pool.run(dirs[1]!, { signal: controller.signal, probe });
      expect(pool.stats()).toMatchObject({ busy: 1, queued: 1, started: 1 });
      controller.abort();
      await expect(second).rejects.toMatchObject({ name: 'AbortError' });
      expect(pool.stats()).toMatchObject({ queued: 0, started: 1 });
      await first;
      expect(probe.snapshot().fsCalls).toBe(0);
      expect(pool.stats()).toMatchObject({ busy: 0, started: 1 });
    } finally {
      await pool.close();
    }
  });

  it('rejects a walk waiting inside a busy worker at once, and the worker never starts it', async () => {
    const pool = new SizeWorkerPool({ size: 1 });
    try {
      const firstProbe = new WalkProbe();
      const first = pool.run(tmp.path, { probe: firstProbe });
      const controller = new AbortController();
      const probe = new WalkProbe();
      const second = pool.run(dirs[1]!, { signal: controller.signal, probe });
      const third = pool.run(dirs[2]!);
      expect(pool.stats()).toMatchObject({ busy: 1, queued: 1, started: 2 });
      controller.abort();
      await expect(second).rejects.toMatchObject({ name: 'AbortError' });
      expect(firstProbe.snapshot().inodesSoFar).toBeLessThan(ENTRIES);
      expect((await first).inodes).toBe(ENTRIES);
      expect((await third).inodes).toBe(1001);
      expect(probe.snapshot().fsCalls).toBe(0);
      expect(probe.snapshot().abortSeenAt).toBeGreaterThan(0);
      expect(pool.stats()).toMatchObject({ busy: 0, queued: 0, started: 3 });
    } finally {
      await pool.close();
    }
  });

  it('rejects at once with the reason of an already-aborted signal', async () => {
    const pool = new SizeWorkerPool({ size: 1 });
    const reason = new Error('too late');
    await expect(pool.run(tmp.path, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(pool.stats()).toMatchObject({ workers: 0, started: 0 });
    await pool.close();
  });
});

describe('SizeWorkerPool scheduling', () => {
  it('never runs more walks than its size and queues the rest', async () => {
    const pool = new SizeWorkerPool({ size: 2 });
    try {
      const walks = dirs.slice(0, 6).map((d) => pool.run(d));
      let maxBusy = 0;
      let maxWorkers = 0;
      const sample = setInterval(() => {
        maxBusy = Math.max(maxBusy, pool.stats().busy);
        maxWorkers = Math.max(maxWorkers, pool.stats().workers);
      }, 1);
      expect(pool.stats()).toMatchObject({ busy: 2, queued: 2, workers: 2, started: 4 });
      const results = await Promise.all(walks);
      clearInterval(sample);
      expect(maxBusy).toBeLessThanOrEqual(2);
      expect(maxWorkers).toBeLessThanOrEqual(2);
      expect(results.every((u) => u.inodes === 1001)).toBe(true);
      expect(pool.stats()).toMatchObject({ busy: 0, queued: 0, started: 6 });
    } finally {
      await pool.close();
    }
  });

  it('does not block the event loop: timers observe the walk in progress', async () => {
    const pool = new SizeWorkerPool({ size: 1 });
    try {
      await pool.warm();
      const probe = new WalkProbe();
      const midWalkTicks: number[] = [];
      const tick = setInterval(() => {
        const calls = probe.snapshot().fsCalls;
        if (calls > 0 && calls < ENTRIES) midWalkTicks.push(calls);
      }, 1);
      const usage = await pool.run(tmp.path, { probe });
      clearInterval(tick);
      expect(usage.inodes).toBe(ENTRIES);
      expect(midWalkTicks.length).toBeGreaterThanOrEqual(2);
      expect(new Set(midWalkTicks).size).toBeGreaterThanOrEqual(2);
    } finally {
      await pool.close();
    }
  });
});

describe('SizeWorkerPool bad input and failures', () => {
  it('rejects bad paths with INVALID_PATH naming the path, and starts nothing', async () => {
    const pool = new SizeWorkerPool({ size: 1 });
    for (const bad of ['', 'relative/dir', '/a\0b', 42 as unknown as string]) {
      const error = await pool.run(bad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SizeError);
      expect(error).toMatchObject({ code: 'INVALID_PATH' });
      expect((error as Error).message).toContain(JSON.stringify(bad));
    }
    expect(pool.stats()).toMatchObject({ workers: 0, started: 0, queued: 0 });
    await pool.close();
  });

  it('rejects bad pool options with INVALID_OPTION', () => {
    expect(() => new SizeWorkerPool({ pipelineDepth: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('pipelineDepth') }),
    );
    for (const size of [0, -1, 1.5, Number.NaN]) {
      expect(() => new SizeWorkerPool({ size })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('size') }),
      );
    }
    expect(() => new SizeWorkerPool({ abortGraceMs: -5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('abortGraceMs') }),
    );
  });

  it('reports filesystem failures with the errno code and the path', async () => {
    const pool = new SizeWorkerPool({ size: 1 });
    try {
      const missing = `${tmp.path}/does-not-exist`;
      const error = await pool.run(missing).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SizeWalkError);
      expect(error).toMatchObject({ code: 'ENOENT', path: missing });
      expect((error as Error).message).toContain(missing);
      await expect(pool.run(`${dirs[0]}/f1/below-a-file`)).rejects.toMatchObject({ code: 'ENOTDIR' });
      expect(pool.stats()).toMatchObject({ busy: 0 });
    } finally {
      await pool.close();
    }
  });

  it('refuses work after close with POOL_CLOSED and fails pending walks the same way', async () => {
    const pool = new SizeWorkerPool({ size: 1 });
    const running = pool.run(tmp.path).catch((e: unknown) => e);
    const queued = pool.run(dirs[0]!).catch((e: unknown) => e);
    await pool.close();
    expect(await running).toMatchObject({ code: 'POOL_CLOSED' });
    expect(await queued).toMatchObject({ code: 'POOL_CLOSED' });
    await expect(pool.run(dirs[0]!)).rejects.toMatchObject({ code: 'POOL_CLOSED' });
  });
});
