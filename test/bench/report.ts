import { execFileSync } from 'node:child_process';

/** Shared printing for benchmarks: every figure is a ratio against a baseline measured in the same run. */

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Prints throughput of ours and the baseline, and the time ratio (baseline rate / our rate). */
export function printRow(label: string, ours: number, baseline: number, goal: string): void {
  const ratio = baseline / ours;
  console.log(
    `${label.padEnd(28)} cachekit ${ours.toFixed(0).padStart(8)}  baseline ${baseline.toFixed(0).padStart(8)}  time ratio ${ratio.toFixed(2)}x  (${goal})`,
  );
}

/** Empties the page cache so the next walk reads the disk; false when this process may not (not root). */
export function dropCaches(): boolean {
  try {
    execFileSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
    return true;
  } catch {
    return false;
  }
}
