/**
 * Manager overhead against the same snapshotter and LMDB calls made directly.
 * Run: npm run bench:manager [-- --records 2000 --ops 3000 --lifecycles 300 --idle 100000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'lmdb';
import { NativeSnapshotter, openCacheManager } from '../../src/index.js';
import { median, printRow } from './report.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '2000' },
    ops: { type: 'string', default: '3000' },
    lifecycles: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '3' },
    callers: { type: 'string', default: '64' },
  },
});
const RECORDS = Number(values.records);
const OPS = Number(values.ops);
const LIFECYCLES = Number(values.lifecycles);
const ROUNDS = Number(values.rounds);
const CALLERS = Number(values.callers);

const scratch = mkdtempSync(join(tmpdir(), 'cachekit-bench-'));
const fresh = (name: string) => mkdtempSync(join(scratch, `${name}-`));

/** Direct calls: what a hand-written manager without actors would do for the same work. */
async function directBaseline() {
  const root = fresh('direct');
  const snap = await NativeSnapshotter.open(join(root, 'snapshots'));
  const env = open({ path: join(root, 'metadata'), overlappingSync: false });
  const db = env.openDB<Record<string, unknown>, string>({ name: 'records' });
  const ids: string[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const id = `r${i}`;
    await snap.prepare(`active/${id}`);
    await db.put(id, { id, state: 'mutable', createdAt: Date.now(), usageCount: 0 });
    await snap.commit(`committed/${id}`, `active/${id}`);
    await db.put(id, { id, state: 'committed', createdAt: Date.now(), usageCount: 0 });
    ids.push(id);
  }
  const getRelease = async () => {
    const t = performance.now();
    for (let i = 0; i < OPS; i++) {
      const id = ids[(i * 7919) % ids.length]!;
      const meta = db.get(id)!;
      await db.put(id, { ...meta, lastUsedAt: Date.now(), usageCount: (meta.usageCount as number) + 1 });
    }
    return OPS / ((performance.now() - t) / 1000);
  };
  let n = 0;
  const lifecycles = async () => {
    const t = performance.now();
    for (let i = 0; i < LIFECYCLES; i++) {
      const id = `l${n++}`;
      await snap.prepare(`active/${id}`);
      await db.put(id, { id, state: 'mutable', createdAt: Date.now(), usageCount: 0 });
      await db.put(id, { id, state: 'frozen', createdAt: Date.now(), usageCount: 0 });
      await db.put(id, { id, state: 'frozen', createdAt: Date.now(), usageCount: 1, lastUsedAt: Date.now() });
    }
    return LIFECYCLES / ((performance.now() - t) / 1000);
  };
  return {
    getRelease,
    lifecycles,
    close: async () => {
      await env.close();
      await snap.close();
    },
  };
}

async function managerRun() {
  const cm = await openCacheManager({ root: fresh('manager') });
  const ids: string[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const imm = await (await cm.new(null, { retain: true })).commit();
    await imm.finalize();
    await imm.release();
    ids.push(imm.id);
  }
  const getRelease = async () => {
    const t = performance.now();
    for (let i = 0; i < OPS; i++) await (await cm.get(ids[(i * 7919) % ids.length]!)).release();
    return OPS / ((performance.now() - t) / 1000);
  };
  const lifecycles = async () => {
    const t = performance.now();
    for (let i = 0; i < LIFECYCLES; i++) await (await (await cm.new(null)).commit()).release();
    return LIFECYCLES / ((performance.now() - t) / 1000);
  };
  /** The same lifecycles from CALLERS concurrent callers: each still resolves only once its writes are durable. */
  const concurrentLifecycles = async () => {
    let left = LIFECYCLES;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (left > 0) {
          left--;
          await (await (await cm.new(null)).commit()).release();
        }
      }),
    );
    return LIFECYCLES / ((performance.now() - t) / 1000);
  };
  return { getRelease, lifecycles, concurrentLifecycles, close: () => cm.close() };
}

try {
  console.log(
    `manager overhead: ${RECORDS} committed records, ${OPS} get+release, ${LIFECYCLES} new+commit+release per round, ${ROUNDS} rounds`,
  );
  const direct = await directBaseline();
  const managed = await managerRun();
  const samples = {
    dg: [] as number[],
    mg: [] as number[],
    dl: [] as number[],
    ml: [] as number[],
    mc: [] as number[],
  };
  for (let r = 0; r < ROUNDS; r++) {
    samples.mc.push(await managed.concurrentLifecycles());
    // Alternate who goes first so cache warmth and machine noise fall on both sides.
    if (r % 2 === 0) {
      samples.dg.push(await direct.getRelease());
      samples.mg.push(await managed.getRelease());
      samples.dl.push(await direct.lifecycles());
      samples.ml.push(await managed.lifecycles());
    } else {
      samples.mg.push(await managed.getRelease());
      samples.dg.push(await direct.getRelease());
      samples.ml.push(await managed.lifecycles());
      samples.dl.push(await direct.lifecycles());
    }
  }
  printRow('get+release ops/s', median(samples.mg), median(samples.dg), 'goal: time ratio <= 1.3x');
  printRow('new+commit+release ops/s', median(samples.ml), median(samples.dl), 'goal: time ratio <= 1.3x');
  const speedup = median(samples.mc) / median(samples.dl);
  console.log(
    `${CALLERS} concurrent callers new+commit+release: ${median(samples.mc).toFixed(0)} ops/s, ` +
      `${speedup.toFixed(2)}x the sequential direct ${median(samples.dl).toFixed(0)} ops/s (goal: >= 5x)`,
  );
  await direct.close();
  await managed.close();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
