import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { openCacheManager, type CacheManager } from '../../src/index.js';
import { probeOverlay } from '../../src/snapshot/index.js';

export type SnapshotterKind = 'native' | 'overlay';

/** Why overlay cannot run here, or undefined when it can; printed by skipped suites. */
export const overlaySkipReason: string | undefined = await probeOverlay(mkdtempSync(join(tmpdir(), 'cachekit-probe-')));
if (overlaySkipReason) console.warn(`overlay suites skipped: ${overlaySkipReason}`);

export const SNAPSHOTTERS: { kind: SnapshotterKind; skip: string | undefined }[] = [
  { kind: 'native', skip: undefined },
  { kind: 'overlay', skip: overlaySkipReason },
];

/** A temp cache root per test, with every manager opened on it closed afterwards. */
export function cacheFixture(kind: SnapshotterKind) {
  const roots: string[] = [];
  const managers: CacheManager[] = [];
  afterEach(async () => {
    for (const m of managers.splice(0)) await m.close().catch(() => {});
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });
  return {
    root(): string {
      const r = mkdtempSync(join(tmpdir(), `cachekit-${kind}-`));
      roots.push(r);
      return r;
    },
    async open(root?: string): Promise<CacheManager> {
      const cm = await openCacheManager({ root: root ?? this.root(), snapshotter: kind });
      managers.push(cm);
      return cm;
    },
  };
}
