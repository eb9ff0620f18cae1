import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { openCacheManager, type CacheManager, type CacheManagerOptions, type OpenOptions } from '../../src/index.js';
import { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';
import { NativeSnapshotter, OverlaySnapshotter, probeOverlay, type Snapshotter } from '../../src/snapshot/index.js';
import { type ContainerdDaemon, containerdSkipReason, startContainerd } from '../snapshot/containerd-daemon.js';

/** The snapshotters that keep their files under the cache root. */
export type LocalSnapshotterKind = 'native' | 'overlay';
/** Every snapshotter the cache suites run on; `containerd` is a test daemon's overlayfs. */
export type SnapshotterKind = LocalSnapshotterKind | 'containerd';

/** Why overlay cannot run here, or undefined when it can; printed by skipped suites. */
export const overlaySkipReason: string | undefined = await probeOverlay(mkdtempSync(join(tmpdir(), 'cachekit-probe-')));
if (overlaySkipReason) console.warn(`overlay suites skipped: ${overlaySkipReason}`);

/** Why the containerd suites cannot run here (no binary, not root), or undefined when they can. */
export const containerdSkip: string | undefined = containerdSkipReason();
if (containerdSkip) console.warn(`containerd suites skipped: ${containerdSkip}`);

export const LOCAL_SNAPSHOTTERS: { kind: LocalSnapshotterKind; skip: string | undefined }[] = [
  { kind: 'native', skip: undefined },
  { kind: 'overlay', skip: overlaySkipReason },
];

export const SNAPSHOTTERS: { kind: SnapshotterKind; skip: string | undefined }[] = [
  ...LOCAL_SNAPSHOTTERS,
  { kind: 'containerd', skip: containerdSkip },
];

/** containerd's snapshotter the `containerd` kind uses. */
export const CONTAINERD_SNAPSHOTTER = 'overlayfs';

let daemon: Promise<ContainerdDaemon> | undefined;

/**
 * The test file's own containerd, started on first use (so a skipped suite starts nothing) and
 * stopped after the suite that asked for it; its config, root, state and socket are in a temp dir.
 */
export function sharedContainerd(): Promise<ContainerdDaemon> {
  daemon ??= startContainerd();
  return daemon;
}

async function stopSharedContainerd(): Promise<void> {
  const d = daemon;
  daemon = undefined;
  if (d) await (await d).dispose();
}

/**
 * Every root gets a containerd namespace of its own, named after its path: roots of one daemon
 * never see each other's snapshots, and a reopen of the same path finds its namespace again.
 */
export function namespaceFor(root: string): string {
  return `ck-${createHash('sha256').update(root).digest('hex').slice(0, 16)}`;
}

/** What `snapshotter` to pass to openCacheManager for a root of this kind. */
export async function snapshotterFor(kind: SnapshotterKind, root: string): Promise<OpenOptions['snapshotter']> {
  if (kind !== 'containerd') return kind;
  const d = await sharedContainerd();
  return { containerd: { address: d.address, namespace: namespaceFor(root), snapshotter: CONTAINERD_SNAPSHOTTER } };
}

/** A ContainerdSnapshotter on the shared daemon in `root`'s namespace, for looking behind the manager. */
export async function containerdSnapshotter(root: string): Promise<ContainerdSnapshotter> {
  const d = await sharedContainerd();
  return ContainerdSnapshotter.open({
    address: d.address,
    namespace: namespaceFor(root),
    snapshotter: CONTAINERD_SNAPSHOTTER,
  });
}

/**
 * Where containerd's overlayfs keeps what snapshot `key` of `root` itself adds: the upper
 * directory of its overlay, or the directory a parentless snapshot is bind-mounted from.
 */
export async function containerdContentDir(root: string, key: string): Promise<string> {
  const sn = await containerdSnapshotter(root);
  try {
    const [mount] = await sn.mounts(key);
    const upper = mount?.options.find((o) => o.startsWith('upperdir='));
    if (upper) return upper.slice('upperdir='.length);
    if (mount?.type === 'bind') return mount.source;
    throw new Error(`snapshot ${key} has no directory of its own: ${JSON.stringify(mount)}`);
  } finally {
    await sn.close();
  }
}

/** A temp cache root per test, with every manager opened on it closed afterwards. */
export function cacheFixture(kind: SnapshotterKind) {
  const roots: string[] = [];
  const managers: CacheManager[] = [];
  afterEach(async () => {
    for (const m of managers.splice(0)) await m.close().catch(() => {});
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });
  if (kind === 'containerd') afterAll(stopSharedContainerd);
  return {
    kind,
    root(): string {
      const r = mkdtempSync(join(tmpdir(), `cachekit-${kind}-`));
      roots.push(r);
      return r;
    },
    /** The snapshotter option for `root` (containerd: the shared daemon and the root's namespace). */
    snapshotter(root: string): Promise<OpenOptions['snapshotter']> {
      return snapshotterFor(kind, root);
    },
    /**
     * What is left of the root's snapshots: the snapshot directories of a local kind; for containerd
     * the snapshots in the root's namespace and every lease cachekit made there.
     */
    async leftovers(root: string): Promise<string[]> {
      if (kind !== 'containerd') return readdirSync(join(root, 'snapshots', 'snapshots'));
      const sn = await containerdSnapshotter(root);
      try {
        const names: string[] = [];
        await sn.walk((info) => void names.push(info.name));
        for (const lease of await sn.listLeases()) names.push(`lease ${lease.id}`);
        return names;
      } finally {
        await sn.close();
      }
    },
    /** The snapshotter the root's snapshots live in, opened beside the manager to stage what a crash leaves. */
    snapshots(root: string): Promise<Snapshotter> {
      const dir = join(root, 'snapshots');
      if (kind === 'native') return NativeSnapshotter.open(dir);
      if (kind === 'overlay') return OverlaySnapshotter.open(dir);
      return containerdSnapshotter(root);
    },
    async open(root?: string, options: Omit<CacheManagerOptions, 'root' | 'snapshotter'> = {}): Promise<CacheManager> {
      const r = root ?? this.root();
      const cm = await openCacheManager({ ...options, root: r, snapshotter: await snapshotterFor(kind, r) });
      managers.push(cm);
      return cm;
    },
  };
}
