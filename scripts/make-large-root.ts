/**
 * Builds a valid cache root of N committed one-file records quickly, for benchmarks and scale tests:
 * the root is created by opening it once, then the snapshot metadata, the record metadata and the
 * snapshot directories are written directly in large transactions, as the snapshotter and the
 * cache would have left them after N rounds of new, write, commit, finalize and release.
 *
 *   npx tsx scripts/make-large-root.ts --root DIR --records N [--snapshotter native|overlay]
 *     [--stale K]   the first K records were last used 30 days ago (prune victims); the rest a minute ago
 *     [--sized]     store each record's size in its metadata too (as a disk usage run would have)
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { openCacheManager } from '../src/cache/manager.js';
import { newRecordId } from '../src/cache/keys.js';
import type { StoredRecord } from '../src/metadata/schema.js';
import { MetadataStore } from '../src/metadata/store.js';
import { type SnapshotRecord, SnapshotStore } from '../src/snapshot/store.js';

/** The label every record's snapshot carries, as the cache writes it. */
const RECORD_LABEL = 'cachekit.record';
/** Records per transaction: large enough to amortise each commit, small enough to bound memory. */
const BATCH = 20_000;
const DAY = 24 * 60 * 60 * 1000;

export interface LargeRootOptions {
  root: string;
  records: number;
  snapshotter: 'native' | 'overlay';
  stale?: number;
  sized?: boolean;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

/** What was written: the record ids in creation order. */
export interface LargeRoot {
  ids: string[];
}

/** One file of `bytes` bytes in a fresh snapshot directory laid out as the snapshotter lays it out. */
function makeSnapshotDir(snapshotsDir: string, id: number, kind: 'native' | 'overlay', content: string): void {
  const dir = join(snapshotsDir, String(id));
  if (kind === 'native') {
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'f'), content);
    return;
  }
  mkdirSync(dir, { mode: 0o700 });
  mkdirSync(join(dir, 'fs'));
  chmodSync(join(dir, 'fs'), 0o755);
  mkdirSync(join(dir, 'work'), { mode: 0o700 });
  writeFileSync(join(dir, 'fs', 'f'), content);
}

export async function makeLargeRoot(options: LargeRootOptions): Promise<LargeRoot> {
  const { root, records, snapshotter } = options;
  const stale = options.stale ?? 0;
  const log = options.log ?? (() => {});
  if (!Number.isSafeInteger(records) || records < 0) throw new Error(`--records ${records} is not a whole number`);
  // The cache creates the root, its settings and permissions; everything after is written directly.
  await (await openCacheManager({ root, snapshotter })).close();
  const snapshotsDir = join(root, 'snapshots', 'snapshots');
  const snapStore = SnapshotStore.open(join(root, 'snapshots', 'metadata.lmdb'));
  const meta = await MetadataStore.open(join(root, 'metadata'));
  const ids: string[] = [];
  const now = Date.now();
  try {
    let nextSnapshot = snapStore.lastId() + 1;
    for (let start = 0; start < records; start += BATCH) {
      const end = Math.min(records, start + BATCH);
      const snaps: SnapshotRecord[] = [];
      const stored: StoredRecord[] = [];
      for (let i = start; i < end; i++) {
        const id = newRecordId();
        const snapshotId = nextSnapshot++;
        const content = `record ${i}\n`;
        makeSnapshotDir(snapshotsDir, snapshotId, snapshotter, content);
        const usage = { size: Buffer.byteLength(content), inodes: 1 };
        const at = i < stale ? now - 30 * DAY - i : now - 60_000 + (i % 1000);
        snaps.push({
          id: snapshotId,
          name: `committed/${id}`,
          kind: 'committed',
          labels: { [RECORD_LABEL]: id },
          created: at,
          updated: at,
          usage,
        });
        stored.push({
          id,
          state: 'committed',
          retain: false,
          description: `generated record ${i}`,
          recordType: 'regular',
          createdAt: at,
          lastUsedAt: at,
          usageCount: 1,
          ...(options.sized ? { usage } : {}),
        });
        ids.push(id);
      }
      // Snapshots first: a record is only ever stored once its snapshot is.
      await snapStore.write((tx) => {
        for (const s of snaps) tx.put(s);
      });
      await meta.write(stored.map((put) => ({ put })));
      log(`${end} of ${records} records written`);
    }
  } finally {
    await meta.close();
    await snapStore.close();
  }
  return { ids };
}

const invokedDirectly = process.argv[1]?.endsWith('make-large-root.ts');
if (invokedDirectly) {
  const program = new Command()
    .requiredOption('--root <dir>', 'where to create the root (must not hold one yet)')
    .requiredOption('--records <n>', 'how many records', (v) => Number.parseInt(v, 10))
    .option('--snapshotter <kind>', 'native or overlay', 'native')
    .option('--stale <n>', 'records last used 30 days ago', (v) => Number.parseInt(v, 10), 0)
    .option('--sized', 'store sizes in the record metadata too')
    .parse();
  const o = program.opts<{ root: string; records: number; snapshotter: string; stale: number; sized?: boolean }>();
  if (o.snapshotter !== 'native' && o.snapshotter !== 'overlay')
    throw new Error(`--snapshotter ${o.snapshotter}: expected native or overlay`);
  const started = performance.now();
  await makeLargeRoot({
    root: o.root,
    records: o.records,
    snapshotter: o.snapshotter,
    stale: o.stale,
    sized: o.sized ?? false,
    log: (line) => console.log(line),
  });
  console.log(`made ${o.records} records at ${o.root} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
