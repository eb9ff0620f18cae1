import type { MetadataStore } from '../metadata/store.js';
import { NativeSnapshotter, OverlaySnapshotter } from '../snapshot/index.js';
import type { Snapshotter } from '../snapshot/types.js';
import { CacheError } from './errors.js';
import type { ResolvedOpenOptions } from './options.js';

/** Opens a built-in snapshotter by name under `dir`. */
export async function openSnapshotter(kind: 'native' | 'overlay', dir: string): Promise<Snapshotter> {
  return kind === 'native' ? NativeSnapshotter.open(dir) : OverlaySnapshotter.open(dir);
}

const SNAPSHOTTER_SETTING = 'snapshotter';

/** The root keeps the kind it was created with; opening it as another kind would hide every record. */
export async function snapshotterKind(
  store: MetadataStore,
  root: string,
  requested: ResolvedOpenOptions['snapshotter'],
): Promise<'native' | 'overlay' | 'custom'> {
  const stored = store.setting(SNAPSHOTTER_SETTING);
  const wanted = requested === undefined ? undefined : typeof requested === 'string' ? requested : 'custom';
  if (stored !== undefined && stored !== 'native' && stored !== 'overlay' && stored !== 'custom')
    throw new CacheError(
      'INVALID',
      `cache root ${root}: stored snapshotter kind ${JSON.stringify(stored)} is not native, overlay or custom`,
    );
  if (stored !== undefined && wanted !== undefined && stored !== wanted)
    throw new CacheError(
      'INVALID',
      `cache root ${root} was created with the ${stored} snapshotter; it cannot be opened with ${wanted}`,
    );
  const kind = wanted ?? (stored as 'native' | 'overlay' | 'custom' | undefined) ?? 'native';
  if (kind === 'custom' && typeof requested !== 'object')
    throw new CacheError('INVALID', `cache root ${root} uses a custom snapshotter; pass it as the snapshotter option`);
  if (stored === undefined && !store.readOnly) await store.putSetting(SNAPSHOTTER_SETTING, kind);
  return kind;
}
