/**
 * A cache of N records: heap bytes per idle record after opening it, and the
 * latency of the first diskUsage$ result when every size is known, against
 * reading the first stored record straight from LMDB in the same run.
 * Run: npm run bench:large [-- --records 100000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'lmdb';
import { firstValueFrom } from 'rxjs';
import { openCacheManager } from '../../src/index.js';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '100000' }, concurrency: { type: 'string', default: '256' } },
});
const RECORDS = Number(values.records);
const CONCURRENCY = Number(values.concurrency);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const settledHeap = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  return process.memoryUsage().heapUsed;
};

const root = mkdtempSync(join(tmpdir(), 'cachekit-heap-'));
try {
  const t0 = performance.now();
  const cm = await openCacheManager({ root });
  let made = 0;
  const worker = async () => {
    while (made < RECORDS) {
      made++;
      await (await (await cm.new(null, { retain: true })).commit()).release();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  // Size every record once so the reopened cache knows them all.
  await cm.diskUsage();
  await cm.close();
  console.log(`built ${RECORDS} frozen records in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const before = await settledHeap();
  const reopened = await openCacheManager({ root });
  const after = await settledHeap();
  const { records, liveActors } = reopened.status();
  console.log(
    `reopened: ${records} records, ${liveActors} live actors, start-up repairs ${reopened.startup.repairs.length}`,
  );
  console.log(`heap per idle record: ${((after - before) / records).toFixed(0)} bytes (goal: under 500)`);
  const started = performance.now();
  await firstValueFrom(reopened.diskUsage$());
  const firstResult = performance.now() - started;
  await reopened.close();
  const env = open({ path: join(root, 'metadata'), readOnly: true });
  const db = env.openDB({ name: 'records' });
  const t = performance.now();
  for (const _ of db.getRange({ limit: 1 })) break;
  const direct = performance.now() - t;
  await env.close();
  console.log(
    `first diskUsage$ result with ${records} known sizes: ${firstResult.toFixed(1)} ms (goal: under 100 ms); first LMDB read: ${direct.toFixed(2)} ms`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
