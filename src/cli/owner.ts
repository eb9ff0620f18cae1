import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Who owns a cache root, from its lock file: the pid and whether that process is alive. */
export function ownerOf(root: string): { pid: number; alive: boolean } | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(root, 'LOCK'), 'utf8').trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return { pid, alive: true };
  } catch (err) {
    return { pid, alive: (err as NodeJS.ErrnoException).code === 'EPERM' };
  }
}
