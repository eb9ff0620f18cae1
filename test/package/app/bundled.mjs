// Bundled with esbuild by the consumer test: sizes one record of a known size. Prints one JSON line.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openCacheManager } from 'cachekit';

const root = process.argv[2];
if (!root) throw new Error('usage: node bundle/app.mjs <root>');

const cm = await openCacheManager({ root });
const layer = await cm.new(null, { description: 'sized from a bundle' });
const mount = await layer.mount();
await writeFile(join(mount.path, 'blob'), Buffer.alloc(3 << 20, 1));
await mount.release();
const committed = await layer.commit();
const [usage] = await cm.diskUsage({ strict: true });
const size = await committed.size();
await committed.release();
await cm.close();
console.log(JSON.stringify({ path: mount.path, listed: usage?.size, size }));
