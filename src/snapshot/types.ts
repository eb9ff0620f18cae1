/**
 * The Snapshotter contract, promise-based, with containerd's semantics.
 * Active, view and committed snapshots share one key space.
 */

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface Info {
  kind: SnapshotKind;
  /** The key (active, view) or the name (committed). */
  name: string;
  /** The committed parent's name; absent when the snapshot has none. */
  parent?: string;
  labels: Record<string, string>;
  created: Date;
  updated: Date;
}

/** Allocated bytes (st_blocks × 512) and distinct inodes, each (dev, inode) counted once. */
export interface Usage {
  size: number;
  inodes: number;
}

export interface Mount {
  type: string;
  source: string;
  options: string[];
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
}

export interface UsageOptions {
  signal?: AbortSignal;
}

export type WalkFn = (info: Info) => void | Promise<void>;

export interface Snapshotter {
  stat(key: string): Promise<Info>;
  /**
   * Updates labels. Field paths: `labels` (replace all) or `labels.<k>` (one label);
   * no paths replaces labels. The parent never changes; other paths are INVALID_ARGUMENT.
   */
  update(info: Pick<Info, 'name'> & Partial<Pick<Info, 'labels'>>, ...fieldpaths: string[]): Promise<Info>;
  usage(key: string, options?: UsageOptions): Promise<Usage>;
  mounts(key: string): Promise<Mount[]>;
  prepare(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]>;
  view(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]>;
  commit(name: string, key: string, options?: SnapshotOptions): Promise<void>;
  remove(key: string): Promise<void>;
  /** Calls fn for every snapshot matching any of the filters (each a comma-joined AND). */
  walk(fn: WalkFn, ...filters: string[]): Promise<void>;
  close(): Promise<void>;
  /** Deletes leftovers (half-made or half-removed snapshot directories). */
  cleanup?(): Promise<void>;
  /** Resolves once the directories of every removal so far are deleted (removals return after a rename). */
  deleted?(): Promise<void>;
  /** Removed snapshots' directories still on disk because deleting them failed (retried by `cleanup`). */
  undeleted?(): UndeletedDirectory[];
  /**
   * A value that changes whenever the snapshots' metadata changes, by this process or any other; a
   * clean-shutdown mark keeps it so the next open can tell nothing changed meanwhile. Without one,
   * every open checks every record.
   */
  fingerprint?(): Promise<string>;
  /**
   * The usage a committed snapshot's metadata recorded at commit (containerd's snapshotters keep one too),
   * read without touching its directory; undefined when there is none, or for an active snapshot. A disk
   * usage of many records reads this first and walks only what it cannot answer.
   */
  recordedUsage?(key: string): Usage | undefined;
}

/** A removed snapshot's directory that could not be deleted, and why (a mount inside it, a failing disk). */
export interface UndeletedDirectory {
  path: string;
  reason: string;
}
