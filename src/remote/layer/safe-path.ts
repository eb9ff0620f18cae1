import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LayerError } from './errors.js';

/**
 * The components of a tar entry name inside the layer root. Leading '/' and './' are dropped (OCI
 * tars are written either way); '.' and empty components are ignored; a '..' component, a NUL or
 * a backslash-free path that would leave the root is refused.
 */
export function entryComponents(name: string): string[] {
  if (name.includes('\0')) throw new LayerError('PATH_ESCAPE', name, 'contains a NUL byte');
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new LayerError('PATH_ESCAPE', name, "has a '..' component");
  return parts;
}

/**
 * Whether a relative symlink target, resolved from the link's own directory, stays inside the root.
 * An absolute target is rooted at the layer root (as inside a container) and never followed here.
 */
export function symlinkStaysInside(linkDir: string[], target: string): boolean {
  if (target.startsWith('/')) return true;
  let depth = linkDir.length;
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      depth--;
      if (depth < 0) return false;
    } else depth++;
  }
  return true;
}

/**
 * Makes sure every directory on the way to `parts` exists as a real directory under `root`, checking
 * each with lstat: a symlink on the way is refused (never followed), a missing one is created (0755).
 * Returns the absolute path of the parent directory, or undefined when one is missing and `create` is false.
 */
export async function ensureParents(
  root: string,
  parts: string[],
  name: string,
  create = true,
): Promise<string | undefined> {
  let cur = root;
  for (const c of parts.slice(0, -1)) {
    cur = join(cur, c);
    let st: Awaited<ReturnType<typeof lstat>> | undefined;
    try {
      st = await lstat(cur);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st === undefined) {
      if (!create) return undefined;
      await mkdir(cur, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink()) {
      throw new LayerError('THROUGH_SYMLINK', name, `parent ${JSON.stringify(c)} is a symlink; refusing to follow it`);
    }
    if (!st.isDirectory())
      throw new LayerError('NOT_A_DIRECTORY', name, `parent ${JSON.stringify(c)} is not a directory`);
  }
  return cur;
}

/** lstat that answers undefined for a missing path. */
export async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
