import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Usage } from '../../src/snapshot/types.js';

/** GNU du's view of a tree: the numbers our walker must reproduce. */
export function duUsage(path: string): Usage {
  const read = (flag: string) => Number(execFileSync('du', ['-s', flag, path], { encoding: 'utf8' }).split('\t')[0]);
  return { size: read('-B1'), inodes: read('--inodes') };
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `cachekit-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Writes `dirs` directories of `files` small files each. */
export function manySmallFiles(root: string, dirs: number, files: number): string[] {
  const made: string[] = [];
  for (let d = 0; d < dirs; d++) {
    const dir = join(root, `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < files; f++) writeFileSync(join(dir, `f${f}`), 'x'.repeat(1 + ((f * 37) % 3000)));
    made.push(dir);
  }
  return made;
}

/** A file with `bytes` of apparent size but a single written page at the end. */
export function sparseFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, 'end', bytes - 3);
  } finally {
    closeSync(fd);
  }
}
