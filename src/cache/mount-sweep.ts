import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { mountPointsUnder, unmount } from '../snapshot/mount.js';

/** What the sweep found and did, for the start-up report. */
export interface SweepResult {
  unmounted: string[];
  failed: { path: string; reason: string }[];
}

/**
 * Start-up, as owner: mounts a dead owner left under `<root>/mounts` are
 * unmounted and their directories removed before anything else, so a layer
 * they held can be mounted again. A mount that will not go is reported, and
 * its directory is left alone (removing through a mount would delete content).
 */
export async function sweepMounts(mountsDir: string): Promise<SweepResult> {
  const result: SweepResult = { unmounted: [], failed: [] };
  for (const point of await mountPointsUnder(mountsDir)) {
    try {
      await unmount(point);
      result.unmounted.push(point);
    } catch (err) {
      result.failed.push({ path: point, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  if (result.failed.length > 0) return result;
  let entries: string[];
  try {
    entries = await readdir(mountsDir);
  } catch {
    return result;
  }
  // Only empty directories go: one that still holds files was never a mount of ours, and is left alone.
  for (const name of entries) await rmdir(join(mountsDir, name)).catch(() => {});
  return result;
}
