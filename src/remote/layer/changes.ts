import type { BigIntStats } from 'node:fs';

/**
 * One change a layer records, in tar order. Paths are relative and '/'-separated, with no leading
 * slash. `entry` is a file, directory, symlink or special file to write from `source` (its
 * lstat is `stat`); `whiteout` deletes `path` from the lower layers; `opaque` hides every lower
 * entry inside the directory `path`.
 */
export type LayerChange =
  | { kind: 'entry'; path: string; source: string; stat: BigIntStats }
  | { kind: 'whiteout'; path: string }
  | { kind: 'opaque'; path: string };

/** OCI whiteout names (image-spec layer.md). */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

export type EntryType = 'file' | 'directory' | 'symlink' | 'fifo' | 'character-device' | 'block-device' | 'socket';

export function entryType(st: BigIntStats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'socket';
}

/** Names in a directory in byte order, so layers are reproducible. */
export function sortNames(names: string[]): string[] {
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
