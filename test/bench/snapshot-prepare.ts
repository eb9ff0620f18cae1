/**
 * Benchmarks snapshot prepare:
 *  1. NativeSnapshotter.prepare on a parent of 10k small files against `cp -a`
 *     of the same tree, measured alternately in the same run (goal ≤ 1.2×).
 *  2. OverlaySnapshotter.prepare on a parent of 100 vs 10k files: the time
 *     must not grow with the parent's size.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NativeSnapshotter } from '../../src/snapshot/native/native-snapshotter.js';
import { OverlaySnapshotter, probeOverlay } from '../../src/snapshot/overlay/overlay-snapshotter.js';
import type { Snapshotter } from '../../src/snapshot/types.js';

const execFileAsync = promisify(execFile);
const RUNS = 7;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const ms = (x: number): string => `${x.toFixed(1)} ms`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** `files` small files spread over directories of 100. */
async function fillTree(root: string, files: number): Promise<void> {
  for (let d = 0; d < Math.ceil(files / 100); d++) {
    const dir = join(root, `dir-${d}`);
    await mkdir(dir);
    const writes: Promise<void>[] = [];
    for (let f = 0; f < Math.min(100, files - d * 100); f++)
      writes.push(writeFile(join(dir, `file-${f}`), `file ${d}/${f}\n`.repeat(8)));
    await Promise.all(writes);
  }
}

/** Commits a parent snapshot called `name` holding `files` files; returns its root directory. */
async function parentWith(sn: Snapshotter, name: string, files: number): Promise<string> {
  const [m] = await sn.prepare(`${name}-build`);
  await fillTree(m!.source, files);
  await sn.commit(name, `${name}-build`);
  return m!.source;
}

async function nativeVsCp(work: string): Promise<void> {
  const sn = await NativeSnapshotter.open(join(work, 'native'));
  const parentDir = await parentWith(sn, 'parent-10k', 10_000);
  const prepare: number[] = [];
  const cp: number[] = [];
  // Warm the page cache once for both paths.
  await execFileAsync('cp', ['-a', parentDir, join(work, 'warm')]);
  // Each measurement starts after a sync so it does not pay for the previous run's writeback,
  // and the order alternates so neither side always runs on a warmer system.
  const measureCp = async (i: number) => {
    await execFileAsync('sync');
    cp.push(await timed(() => execFileAsync('cp', ['-a', parentDir, join(work, `cp-${i}`)])));
  };
  const measurePrepare = async (i: number) => {
    await execFileAsync('sync');
    prepare.push(await timed(() => sn.prepare(`child-${i}`, 'parent-10k')));
  };
  for (let i = 0; i < RUNS; i++) {
    if (i % 2 === 0) {
      await measureCp(i);
      await measurePrepare(i);
    } else {
      await measurePrepare(i);
      await measureCp(i);
    }
    await rm(join(work, `cp-${i}`), { recursive: true, force: true });
    await sn.remove(`child-${i}`);
  }
  await sn.close();
  const ratio = median(prepare) / median(cp);
  console.log(
    `native prepare, parent of 10000 files: median ${ms(median(prepare))} over ${RUNS} runs [${prepare.map(ms).join(', ')}]`,
  );
  console.log(
    `cp -a of the same tree (baseline):     median ${ms(median(cp))} over ${RUNS} runs [${cp.map(ms).join(', ')}]`,
  );
  const paired = median(prepare.map((p, i) => p / cp[i]!));
  console.log(
    `native prepare / cp -a ratio: ${ratio.toFixed(2)}x (goal <= 1.20x) ${ratio <= 1.2 ? 'OK' : 'OVER GOAL'}`,
  );
  console.log(`native prepare / cp -a median of per-run ratios: ${paired.toFixed(2)}x`);
}

async function overlayScaling(work: string): Promise<void> {
  const reason = await probeOverlay(join(work, 'probe'));
  if (reason !== undefined) {
    console.log(`overlay prepare: skipped, overlayfs unavailable: ${reason}`);
    return;
  }
  const sn = await OverlaySnapshotter.open(join(work, 'overlay'));
  await parentWith(sn, 'small', 100);
  await parentWith(sn, 'large', 10_000);
  const times: Record<'small' | 'large', number[]> = { small: [], large: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const p of ['small', 'large'] as const) {
      times[p].push(await timed(() => sn.prepare(`${p}-child-${i}`, p)));
      await sn.remove(`${p}-child-${i}`);
    }
  }
  await sn.close();
  const small = median(times.small);
  const large = median(times.large);
  console.log(
    `overlay prepare, parent of 100 files:   median ${ms(small)} over ${RUNS} runs [${times.small.map(ms).join(', ')}]`,
  );
  console.log(
    `overlay prepare, parent of 10000 files: median ${ms(large)} over ${RUNS} runs [${times.large.map(ms).join(', ')}]`,
  );
  console.log(`overlay prepare 10000 / 100 files ratio: ${(large / small).toFixed(2)}x (flat when ~1.0x)`);
}

const work = await mkdtemp(join(tmpdir(), 'cachekit-bench-'));
try {
  await nativeVsCp(work);
  await overlayScaling(work);
} finally {
  await rm(work, { recursive: true, force: true });
}
