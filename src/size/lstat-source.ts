import { lstatSync } from 'node:fs';

/**
 * The five lstat fields a du-compatible walk needs, as numbers in a reused
 * Float64Array (index constants below). Returns undefined when the entry does
 * not exist; throws Node-style errno errors otherwise.
 */
export type LstatFields = (path: string | Buffer) => Float64Array | undefined;

export const DEV = 0;
export const MODE = 1;
export const NLINK = 2;
export const INO = 7;
export const BLOCKS = 9;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

export function isDirectoryMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}

/** Portable source: fs.lstatSync, copying the needed fields. */
export function publicLstat(): LstatFields {
  const out = new Float64Array(10);
  return (path) => {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    out[DEV] = st.dev;
    out[MODE] = st.mode;
    out[NLINK] = st.nlink;
    out[INO] = st.ino;
    out[BLOCKS] = st.blocks;
    return out;
  };
}

interface FsBinding {
  lstat(path: string | Buffer, bigint: false, req: undefined, throwIfNoEntry: false): Float64Array | undefined;
}

/**
 * Fast source: the fs binding that fs.lstatSync itself calls, skipping argument
 * validation and the Stats object (about a third of the per-entry CPU in Node
 * 20). It is internal, so it is used only if it exists and returns exactly what
 * fs.lstatSync returns for a few known paths; otherwise the public source is used.
 */
export function fastLstat(): LstatFields | undefined {
  try {
    const legacy = (process as unknown as { binding?: (name: string) => unknown }).binding;
    if (typeof legacy !== 'function') return undefined;
    const binding = legacy.call(process, 'fs') as Partial<FsBinding>;
    if (typeof binding.lstat !== 'function') return undefined;
    const raw = binding.lstat.bind(binding) as FsBinding['lstat'];
    const fast: LstatFields = (path) => raw(path, false, undefined, false);
    const reference = publicLstat();
    for (const path of ['/', process.execPath, Buffer.from(process.execPath)]) {
      const want = Array.from(reference(path) ?? []);
      const got = fast(path);
      if (got === undefined || [DEV, MODE, NLINK, INO, BLOCKS].some((i) => got[i] !== want[i])) return undefined;
    }
    if (fast('/nonexistent-cachekit-probe/x') !== undefined) return undefined;
    return fast;
  } catch {
    return undefined;
  }
}
