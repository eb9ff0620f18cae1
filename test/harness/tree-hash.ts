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

/** The project's seeded generator (mulberry32), so a run replays from its seed. */
export { seededRandom as rng } from '../../src/testing/seeded.js';
