/**
 * Prune all of N committed one-file records (made by scripts/make-large-root.ts) against `rm -rf` of
 * the same directories in a twin root, with the latency of `get` from a concurrent client while the
 * prune runs. Each goal of issue 14 is printed beside its figure.
 * Run: npm run bench:prune [-- --records 10000] [-- --snapshotter overlay]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { makeLargeRoot } from '../../scripts/make-large-root.js';
import { openCacheManager } from '../../src/index.js';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '10000' }, snapshotter: { type: 'string', default: 'native' } },
});
const RECORDS = Number(values.records);
const KIND = values.snapshotter === 'overlay' ? 'overlay' : 'native';
const scratch = mkdtempSync(join(tmpdir(), 'cachekit-prune-bench-'));

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** `rm -rf` of every snapshot directory of a root made the same way. */
async function rmBaseline(): Promise<number> {
  const root = join(scratch, 'rm');
  await makeLargeRoot({ root, records: RECORDS, snapshotter: KIND });
  execFileSync('sync');
  const t = performance.now();
  execFileSync('rm', ['-rf', join(root, 'snapshots', 'snapshots')]);
  return performance.now() - t;
}

try {
  console.log(`bench:prune: prune all of ${RECORDS} one-file committed records (${KIND})`);
  const rmMs = await rmBaseline();
  const root = join(scratch, 'managed');
  await makeLargeRoot({ root, records: RECORDS, snapshotter: KIND });
  execFileSync('sync');
  const cm = await openCacheManager({ root, snapshotter: KIND });
  // Prune plans from disk usage: sizes unknown to the metadata are measured first, timed apart.
  const ts = performance.now();
  await cm.diskUsage();
  const sizingMs = performance.now() - ts;
  const hot = await (await cm.new(null, { retain: true })).commit();
  await hot.finalize();
  let holding = true;
  const gets: number[] = [];
  // A client that keeps its own record busy: the prune must skip it and must not make it wait.
  const client = (async () => {
    let ref = hot;
    while (holding) {
      const t = performance.now();
      const again = await cm.get(hot.id);
      gets.push(performance.now() - t);
      await ref.release();
      ref = again;
      await new Promise((r) => setTimeout(r, 1));
    }
    await ref.release();
  })();
  const t = performance.now();
  let lastDurable = 0;
  const removed = await lastValueFrom(
    cm.prune({ all: true }).pipe(
      tap(() => {
        lastDurable = performance.now();
      }),
      toArray(),
    ),
  );
  const doneMs = performance.now() - t;
  const durableMs = lastDurable - t;
  holding = false;
  await client;
  await cm.close();
  if (removed.length !== RECORDS) throw new Error(`pruned ${removed.length}, expected ${RECORDS}`);
  const sorted = [...gets].sort((a, b) => a - b);
  const row = (what: string, figure: string, goal: string) =>
    console.log(`${what.padEnd(46)} ${figure.padStart(14)}   goal: ${goal}`);
  row('rm -rf of the same directories', `${(rmMs / 1000).toFixed(2)} s`, '(baseline)');
  row('first disk usage (sizes the prune plans by)', `${(sizingMs / 1000).toFixed(2)} s`, '(not in the prune times)');
  row('prune, every removal durable', `${(durableMs / 1000).toFixed(2)} s`, '(reported)');
  row('prune, directories deleted too (stream done)', `${(doneMs / 1000).toFixed(2)} s`, '(reported)');
  row('records/s', `${(RECORDS / (doneMs / 1000)).toFixed(0)}`, '(reported)');
  row('time ratio against rm -rf', `${(doneMs / rmMs).toFixed(2)}x`, '≤ 1.5x');
  row(`concurrent get p99 (${gets.length} gets)`, `${percentile(sorted, 0.99).toFixed(1)} ms`, '< 5 ms');
  row('concurrent get worst', `${(sorted.at(-1) ?? 0).toFixed(1)} ms`, '< 20 ms');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
