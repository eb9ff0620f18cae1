/**
 * Engine operations per second with events off, with no subscriber, with one
 * subscriber and with one slow subscriber, all in this run on the same workload:
 * get + release of a record another ref keeps held (decided in memory, no disk write).
 * Run: npm run bench:events [-- --ops 20000 --rounds 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openCacheManager, type CacheManager } from '../../src/index.js';
import { median } from './report.js';

const { values } = parseArgs({
  options: { ops: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } },
});
const OPS = Number(values.ops);
const ROUNDS = Number(values.rounds);
const scratch = mkdtempSync(join(tmpdir(), 'cachekit-events-bench-'));

interface Setup {
  name: string;
  cm: CacheManager;
  id: string;
  subscribe(): () => void;
}

async function setup(name: string, events: boolean, subscribe: (cm: CacheManager) => () => void): Promise<Setup> {
  const cm = await openCacheManager({ root: mkdtempSync(join(scratch, `${name.replace(/\W+/g, '-')}-`)), events });
  const holder = await (await cm.new(null, { retain: true })).commit();
  return { name, cm, id: holder.id, subscribe: () => subscribe(cm) };
}

async function opsPerSecond(s: Setup): Promise<number> {
  const unsubscribe = s.subscribe();
  const t = performance.now();
  for (let i = 0; i < OPS; i++) await (await s.cm.get(s.id)).release();
  const rate = (OPS * 2) / ((performance.now() - t) / 1000);
  unsubscribe();
  return rate;
}

try {
  const setups = [
    await setup('events off', false, () => () => {}),
    await setup('no subscriber', true, () => () => {}),
    await setup('one subscriber', true, (cm) => {
      let n = 0;
      const sub = cm.events$.subscribe(() => n++);
      return () => sub.unsubscribe();
    }),
    await setup('one slow subscriber', true, (cm) => {
      const sub = cm.events$.subscribe(() => {
        const until = performance.now() + 0.2;
        while (performance.now() < until);
      });
      return () => sub.unsubscribe();
    }),
  ];
  const rates = new Map(setups.map((s) => [s.name, [] as number[]]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...setups].reverse() : setups;
    for (const s of order) rates.get(s.name)!.push(await opsPerSecond(s));
  }
  const off = median(rates.get('events off')!);
  console.log(`engine ops/s (get + release of a held record, ${OPS} pairs, median of ${ROUNDS} rounds)`);
  for (const s of setups) {
    const rate = median(rates.get(s.name)!);
    console.log(
      `${s.name.padEnd(22)} ${rate.toFixed(0).padStart(8)} ops/s  ${((rate / off) * 100).toFixed(1).padStart(6)}% of events off`,
    );
  }
  console.log('goals: no subscriber within 5% of events off; one subscriber within 20%');
  for (const s of setups) await s.cm.close();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
