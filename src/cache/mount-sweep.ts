import { readFile, readdir, rmdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { unmount } from '../snapshot/mount.js';

/** Mount points at or below `dir`, deepest first, from the kernel's table (octal escapes decoded). */
export async function mountPointsUnder(dir: string): Promise<string[]> {
  let table: string;
  try {
    table = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const decode = (field: string) =>
    field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
  const points = table
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => field !== undefined)
    .map(decode)
    .filter((point) => point === dir || point.startsWith(dir + sep));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

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
