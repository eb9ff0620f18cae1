import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { OverlaySnapshotter, probeOverlay } from '../../src/snapshot/overlay.js';
import { snapshotterConformance } from './conformance.js';

const probeDir = await mkdtemp(join(tmpdir(), 'cachekit-overlay-probe-'));
const unavailable = await probeOverlay(probeDir);
await rm(probeDir, { recursive: true, force: true });

if (unavailable === undefined) {
  snapshotterConformance('OverlaySnapshotter', (root) => OverlaySnapshotter.open(root));
} else {
  console.warn(`OverlaySnapshotter tests skipped: ${unavailable}`);
  describe('OverlaySnapshotter conformance', () => {
    it.skip(`skipped: overlayfs unavailable (${unavailable})`, () => undefined);
  });
}
