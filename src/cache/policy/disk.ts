import { statfs } from 'node:fs/promises';
import type { DiskStats } from './keep-bytes.js';

/**
 * Capacity of the filesystem holding `path`, computed like BuildKit's disk.GetDiskStat: total = bsize*blocks,
 * free = bsize*bfree, available = bsize*bavail. Uses bigint statfs so multi-terabyte filesystems stay exact.
 */
export async function diskStats(path: string): Promise<Required<DiskStats>> {
  const st = await statfs(path, { bigint: true });
  return {
    total: Number(st.bsize * st.blocks),
    free: Number(st.bsize * st.bfree),
    available: Number(st.bsize * st.bavail),
  };
}
