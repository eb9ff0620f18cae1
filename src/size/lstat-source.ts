import { lstatSync } from 'node:fs';

/** The lstat fields a du-compatible walk reads; fs.Stats satisfies it, so does a test's fault-injecting wrapper. */
export interface EntryStat {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  blocks: number;
}

/** lstat of one entry: undefined when it does not exist, Node-style errno errors otherwise. */
export type LstatEntry = (path: string | Buffer) => EntryStat | undefined;

// One frozen options object for every call: no per-entry allocation, and the public API's cheapest shape
// (number fields, no bigint, no exception object built for an entry deleted since readdir).
const OPTIONS = Object.freeze({ bigint: false, throwIfNoEntry: false }) as { bigint: false; throwIfNoEntry: false };

/** The public fs.lstatSync, returning its Stats as is (no copy: the walk reads five fields once). */
export const lstatEntry: LstatEntry = (path) => lstatSync(path, OPTIONS);

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

export function isDirectoryMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}
