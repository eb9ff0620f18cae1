/**
 * Prune throughput against direct snapshotter and LMDB removals of the same
 * number of records, and the longest `get` latency while the prune runs.
 * Run: npm run bench:prune [-- --records 10000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'lmdb';
import { lastValueFrom, toArray } from 'rxjs';
import { NativeSnapshotter, openCacheManager } from '../../src/index.js';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '10000' }, concurrency: { type: 'string', default: '128' } },
});
const RECORDS = Number(values.records);
const CONCURRENCY = Number(values.concurrency);
const scratch = mkdtempSync(join(tmpdir(), 'cachekit-prune-bench-'));

async function inParallel(n: number, job: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

/** The same removals without the manager: snapshot remove and metadata delete per record. */
async function direct(): Promise<number> {
  const snap = await NativeSnapshotter.open(join(scratch, 'direct-snapshots'));
  const env = open({ path: join(scratch, 'direct-metadata'), overlappingSync: false });
  const db = env.openDB<object, string>({ name: 'records' });
  await inParallel(RECORDS, async (i) => {
    await snap.prepare(`active/r${i}`);
    await snap.commit(`committed/r${i}`, `active/r${i}`);
    await db.put(`r${i}`, { state: 'committed' });
  });
  const t = performance.now();
  for (let i = 0; i < RECORDS; i++) {
    await db.put(`r${i}`, { state: 'removing' });
    await snap.remove(`committed/r${i}`);
    await db.remove(`r${i}`);
  }
  const rate = RECORDS / ((performance.now() - t) / 1000);
  await env.close();
  await snap.close();
  return rate;
}

async function managed(): Promise<{ rate: number; maxGet: number; gets: number }> {
  const cm = await openCacheManager({ root: join(scratch, 'managed') });
  await inParallel(RECORDS, async () => {
    const imm = await (await cm.new(null)).commit();
    await imm.finalize();
    await imm.release();
  });
  const hot = await (await cm.new(null, { retain: true })).commit();
  await hot.finalize();
  let holding = true;
  let maxGet = 0;
  let gets = 0;
  // A client that keeps its own record busy: the prune must skip it and must not make it wait.
  const client = (async () => {
    let ref = hot;
    while (holding) {
      const t = performance.now();
      const again = await cm.get(hot.id);
      maxGet = Math.max(maxGet, performance.now() - t);
      gets++;
      await ref.release();
      ref = again;
      await new Promise((r) => setTimeout(r, 1));
    }
    await ref.release();
  })();
  const t = performance.now();
  const removed = await lastValueFrom(cm.prune({}).pipe(toArray()));
  const rate = removed.length / ((performance.now() - t) / 1000);
  holding = false;
  await client;
  if (removed.length !== RECORDS) throw new Error(`pruned ${removed.length}, expected ${RECORDS}`);
  await cm.close();
  return { rate, maxGet, gets };
}

try {
  console.log(`prune: ${RECORDS} unreferenced committed records (native snapshotter)`);
  const baseline = await direct();
  const ours = await managed();
  console.log(
    `records/s                    cachekit ${ours.rate.toFixed(0).padStart(7)}  direct ${baseline.toFixed(0).padStart(7)}  time ratio ${(baseline / ours.rate).toFixed(2)}x`,
  );
  console.log(`longest get during prune     ${ours.maxGet.toFixed(1)} ms over ${ours.gets} gets (goal: under 20 ms)`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
