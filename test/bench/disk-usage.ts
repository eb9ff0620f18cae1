/**
 * cachekit's disk usage of 100 records of 1,000 small files each (100k files),
 * cold, against GNU `du -s -B1` over the same snapshot directories, both in
 * this run; and how fast an abort stops the walks.
 * Run: npm run bench:du [-- --records 100 --files 1000 --rounds 3]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openCacheManager } from '../../src/index.js';
import { defaultSizePool } from '../../src/size/index.js';
import { dropCaches, median } from './report.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100' },
    files: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
  },
});
const RECORDS = Number(values.records);
const FILES = Number(values.files);
const ROUNDS = Number(values.rounds);
const root = mkdtempSync(join(tmpdir(), 'cachekit-du-bench-'));

try {
  const writer = await openCacheManager({ root });
  const dirs: string[] = [];
  for (let r = 0; r < RECORDS; r++) {
    const mut = await writer.new(null, { retain: true, description: `layer ${r}` });
    const { path } = await mut.mount();
    for (let f = 0; f < FILES; f++) {
      if (f % 100 === 0) mkdirSync(join(path, `d${f / 100}`));
      writeFileSync(join(path, `d${Math.floor(f / 100)}`, `f${f}`), 'x'.repeat(100 + (f % 13) * 300));
    }
    dirs.push(path);
    // Frozen, not finalized: its size is unknown until walked.
    await (await mut.commit()).release();
  }
  await writer.close();
  // Read-only: sizes are computed every round and never stored, so each round walks again.
  const cm = await openCacheManager({ root, readOnly: true });
  await defaultSizePool().warm();
  const cold = dropCaches();
  console.log(
    `disk usage: ${RECORDS} frozen records x ${FILES} files; caches ${cold ? 'dropped before each measurement' : 'NOT dropped (not root): warm numbers'}`,
  );
  const ours: number[] = [];
  const du: number[] = [];
  let agree = true;
  for (let round = 0; round < ROUNDS; round++) {
    const measureDu = () => {
      dropCaches();
      const t = performance.now();
      const out = execFileSync('du', ['-s', '-B1', ...dirs], { encoding: 'utf8', maxBuffer: 1 << 24 });
      du.push(performance.now() - t);
      return out
        .trim()
        .split('\n')
        .reduce((n, line) => n + Number(line.split('\t')[0]), 0);
    };
    const measureOurs = async () => {
      dropCaches();
      const t = performance.now();
      const rows = await cm.diskUsage();
      ours.push(performance.now() - t);
      return rows.reduce((n, u) => n + u.size, 0);
    };
    const [a, b] = round % 2 ? [await measureOurs(), measureDu()] : [measureDu(), await measureOurs()];
    agree &&= a === b;
  }
  console.log(
    `cachekit diskUsage median ${median(ours).toFixed(0)} ms, du -s -B1 median ${median(du).toFixed(0)} ms: ratio ${(median(ours) / median(du)).toFixed(2)}x (goal <= 1.0x); totals agree: ${agree}`,
  );

  const lags: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    dropCaches();
    const controller = new AbortController();
    const done = cm.diskUsage({ signal: controller.signal }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 30));
    const t = performance.now();
    controller.abort();
    await done;
    while (defaultSizePool().stats().busy > 0) await new Promise((r) => setTimeout(r, 1));
    lags.push(performance.now() - t);
  }
  console.log(
    `abort to every worker idle: median ${median(lags).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms (goal: within 50 ms)`,
  );
  await cm.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
