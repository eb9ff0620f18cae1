// A consumer's plain-node ESM program: one record through its whole life. Prints one JSON line.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openCacheManager } from 'cachekit';

const root = process.argv[2];
if (!root) throw new Error('usage: node lifecycle.mjs <root>');

const cm = await openCacheManager({ root });
const layer = await cm.new(null, { description: 'FROM scratch' });
const mount = await layer.mount();
await writeFile(join(mount.path, 'blob'), randomBytes(1 << 20));
await mount.release();
const committed = await layer.commit();
await committed.release();
const again = await cm.get(committed.id);
const state = cm.describe(committed.id).state;
await again.release();
const usage = await cm.diskUsage();
const pruned = [];
await cm.prune({ all: true }).forEach((record) => {
  pruned.push(record.id);
});
const after = await cm.diskUsage();
await cm.close();
console.log(JSON.stringify({ id: committed.id, state, usage, pruned, after: after.length }));
