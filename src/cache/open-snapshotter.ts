import type { MetadataStore } from '../metadata/store.js';
import { NativeSnapshotter } from '../snapshot/native/native-snapshotter.js';
import { OverlaySnapshotter } from '../snapshot/overlay/overlay-snapshotter.js';
import type { ContainerdSnapshotterOptions } from '../snapshot/containerd/options.js';
import type { Snapshotter } from '../snapshot/types.js';
import { CacheError } from './errors.js';
import type { ResolvedOpenOptions } from './options.js';

/** How a root's snapshots are kept; the root remembers it. */
export type SnapshotterKind = 'native' | 'overlay' | 'containerd' | 'custom';

/** Which snapshotter to open: a built-in one by kind, containerd with where it is, or the caller's own. */
export type SnapshotterChoice =
  | { kind: 'native' | 'overlay' }
  | { kind: 'containerd'; containerd: ContainerdSnapshotterOptions }
  | { kind: 'custom'; snapshotter: Snapshotter };

/** Opens the chosen snapshotter; a built-in one keeps its files under `dir`. A reader never probes. */
export async function openSnapshotter(
  choice: SnapshotterChoice,
  dir: string,
  options: { readOnly: boolean } = { readOnly: false },
): Promise<Snapshotter> {
  switch (choice.kind) {
    case 'native':
      return NativeSnapshotter.open(dir);
    case 'overlay':
      return OverlaySnapshotter.open(dir, { probe: !options.readOnly });
    case 'containerd': {
      // Loaded on demand: gRPC is a large CommonJS library that only containerd roots need.
      const { ContainerdSnapshotter } = await import('../snapshot/containerd/containerd-snapshotter.js');
      return ContainerdSnapshotter.open(choice.containerd);
    }
    case 'custom':
      return choice.snapshotter;
  }
}

const SNAPSHOTTER_SETTING = 'snapshotter';
/** Where the root's containerd is: address, namespace and containerd's snapshotter name. */
const CONTAINERD_SETTING = 'containerd';

const KINDS: readonly SnapshotterKind[] = ['native', 'overlay', 'containerd', 'custom'];

function requestedKind(requested: ResolvedOpenOptions['snapshotter']): SnapshotterKind | undefined {
  if (requested === undefined) return undefined;
  if (typeof requested === 'string') return requested;
  return 'containerd' in requested && typeof (requested as { stat?: unknown }).stat !== 'function'
    ? 'containerd'
    : 'custom';
}

/**
 * The root keeps the kind it was created with (and, for containerd, the
 * namespace and snapshotter): opening it as another would hide every record.
 */
export async function snapshotterChoice(
  store: MetadataStore,
  root: string,
  requested: ResolvedOpenOptions['snapshotter'],
): Promise<SnapshotterChoice> {
  const stored = store.setting(SNAPSHOTTER_SETTING);
  const wanted = requestedKind(requested);
  if (stored !== undefined && !KINDS.includes(stored as SnapshotterKind))
    throw new CacheError(
      'INVALID',
      `cache root ${root}: stored snapshotter kind ${JSON.stringify(stored)} is not native, overlay, containerd or custom`,
    );
  if (stored !== undefined && wanted !== undefined && stored !== wanted)
    throw new CacheError(
      'INVALID',
      `cache root ${root} was created with the ${String(stored)} snapshotter; it cannot be opened with ${wanted}`,
    );
  const kind = wanted ?? (stored as SnapshotterKind | undefined) ?? 'native';
  if (kind === 'custom' && (typeof requested !== 'object' || wanted !== 'custom'))
    throw new CacheError('INVALID', `cache root ${root} uses a custom snapshotter; pass it as the snapshotter option`);
  const write = async (key: string, value: unknown) => {
    if (!store.readOnly) await store.putSetting(key, value);
  };
  if (stored === undefined) await write(SNAPSHOTTER_SETTING, kind);
  if (kind === 'custom') return { kind, snapshotter: requested as Snapshotter };
  if (kind !== 'containerd') return { kind };
  return { kind, containerd: await containerdChoice(store, root, requested, write) };
}

async function containerdChoice(
  store: MetadataStore,
  root: string,
  requested: ResolvedOpenOptions['snapshotter'],
  write: (key: string, value: unknown) => Promise<void>,
): Promise<ContainerdSnapshotterOptions> {
  const remembered = store.setting(CONTAINERD_SETTING) as
    | { address: string; namespace: string; snapshotter: string }
    | undefined;
  const asked = typeof requested === 'object' && 'containerd' in requested ? requested.containerd : undefined;
  if (!asked) {
    if (!remembered) throw new CacheError('INVALID', `cache root ${root} uses containerd but does not say where`);
    return remembered;
  }
  if (remembered && (remembered.namespace !== asked.namespace || remembered.snapshotter !== asked.snapshotter))
    throw new CacheError(
      'INVALID',
      `cache root ${root} keeps its snapshots in containerd namespace ${remembered.namespace} ` +
        `(${remembered.snapshotter}); it cannot be opened with ${asked.namespace} (${asked.snapshotter})`,
    );
  if (!remembered)
    await write(CONTAINERD_SETTING, {
      address: asked.address,
      namespace: asked.namespace,
      snapshotter: asked.snapshotter,
    });
  return asked;
}
