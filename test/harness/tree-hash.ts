/** A content hash of a directory tree: every path, its kind and its bytes, in sorted order. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

export function treeHash(dir: string): string {
  const hash = createHash('sha256');
  const visit = (rel: string) => {
    const abs = join(dir, rel);
    for (const name of readdirSync(abs).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, path));
      if (st.isDirectory()) {
        hash.update(`d ${path}\n`);
        visit(path);
      } else if (st.isSymbolicLink()) hash.update(`l ${path} ${readlinkSync(join(dir, path))}\n`);
      else {
        hash.update(`f ${path} ${st.size}\n`);
        hash.update(readFileSync(join(dir, path)));
      }
    }
  };
  visit('');
  return hash.digest('hex');
}

/** A small seeded generator (mulberry32), so a run replays from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
