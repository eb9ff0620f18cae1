import type { Snapshotter } from '../snapshot/types.js';

/** Opens a built-in snapshotter by name under `dir`. */
export async function openSnapshotter(kind: 'native' | 'overlay', dir: string): Promise<Snapshotter> {
  const { NativeSnapshotter, OverlaySnapshotter } = await import('../snapshot/index.js');
  return kind === 'native' ? NativeSnapshotter.open(dir) : OverlaySnapshotter.open(dir);
}
