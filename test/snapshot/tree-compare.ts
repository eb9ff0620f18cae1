import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'other';

/** What matters about one path when two trees must be equal. */
export interface TreeEntry {
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Regular files: st_size, content digest and whether the file has holes. */
  size?: number;
  sha256?: string;
  sparse?: boolean;
  /** Symlinks: the link text. */
  target?: string;
}

export interface TreeManifest {
  /** Keyed by path relative to the root; the root itself is ".". */
  entries: Record<string, TreeEntry>;
  /** Sorted groups of regular-file paths that share an inode (only groups of two or more). */
  hardlinks: string[][];
}

/** Reads everything the tree comparison looks at. */
export async function readTree(root: string): Promise<TreeManifest> {
  const entries: Record<string, TreeEntry> = {};
  const byInode = new Map<string, string[]>();
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = await lstat(abs, { bigint: true });
    const base = { mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
    if (st.isDirectory()) {
      entries[rel] = { type: 'dir', ...base };
      for (const name of (await readdir(abs)).sort()) await visit(rel === '.' ? name : `${rel}/${name}`);
    } else if (st.isSymbolicLink()) {
      entries[rel] = { type: 'symlink', ...base, mode: 0, target: await readlink(abs) };
    } else if (st.isFile()) {
      const sha256 = createHash('sha256')
        .update(await readFile(abs))
        .digest('hex');
      entries[rel] = { type: 'file', ...base, size: Number(st.size), sha256, sparse: st.blocks * 512n < st.size };
      const id = `${st.ino}`;
      byInode.set(id, [...(byInode.get(id) ?? []), rel]);
    } else {
      entries[rel] = { type: st.isFIFO() ? 'fifo' : 'other', ...base };
    }
  };
  await visit('.');
  const hardlinks = [...byInode.values()]
    .filter((g) => g.length > 1)
    .map((g) => g.sort())
    .sort((a, b) => a[0]!.localeCompare(b[0]!));
  return { entries, hardlinks };
}

/** Human-readable differences between two trees; empty when they are the same. */
export function diffTrees(actual: TreeManifest, expected: TreeManifest): string[] {
  const out: string[] = [];
  const paths = new Set([...Object.keys(actual.entries), ...Object.keys(expected.entries)]);
  for (const p of [...paths].sort()) {
    const a = actual.entries[p];
    const e = expected.entries[p];
    if (!a) out.push(`missing ${p}`);
    else if (!e) out.push(`unexpected ${p}`);
    else {
      for (const k of Object.keys({ ...a, ...e }) as (keyof TreeEntry)[]) {
        if (a[k] !== e[k]) out.push(`${p}: ${k} is ${JSON.stringify(a[k])}, expected ${JSON.stringify(e[k])}`);
      }
    }
  }
  const ha = JSON.stringify(actual.hardlinks);
  const he = JSON.stringify(expected.hardlinks);
  if (ha !== he) out.push(`hardlink groups are ${ha}, expected ${he}`);
  return out;
}

export async function diffDirs(actual: string, expected: string): Promise<string[]> {
  return diffTrees(await readTree(actual), await readTree(expected));
}
