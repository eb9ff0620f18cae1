import { afterEach, describe } from 'vitest';
import { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';
import { type SnapshotterQuirks, snapshotterConformance } from './conformance.js';
import { type ContainerdDaemon, containerdSkipReason, startContainerd } from './containerd-daemon.js';

const skip = containerdSkipReason();
if (skip !== undefined) console.warn(`ContainerdSnapshotter tests skipped: ${skip}`);

/** Where containerd's snapshotters differ from ours (each quirk says why, in conformance-quirks.ts). */
const QUIRKS: Record<string, SnapshotterQuirks> = {
  overlayfs: { copyUpBreaksHardlinks: true },
  native: { copyFillsHoles: true, keepsLeftovers: true },
};

for (const snapshotter of ['overlayfs', 'native']) {
  describe.skipIf(skip !== undefined)(
    `ContainerdSnapshotter on ${snapshotter}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      // One daemon per test root: the snapshotter plugin's root_path is the harness root, so the
      // suite's on-disk checks (sources under the root, numeric snapshot directories) apply unchanged.
      const daemons = new Map<string, ContainerdDaemon>();
      afterEach(async () => {
        for (const d of daemons.values()) await d.dispose();
        daemons.clear();
      });
      snapshotterConformance(
        `ContainerdSnapshotter(${snapshotter})`,
        async (root) => {
          let d = daemons.get(root);
          if (!d) {
            d = await startContainerd({ snapshotterRoot: { snapshotter, root } });
            daemons.set(root, d);
          }
          return ContainerdSnapshotter.open({ address: d.address, namespace: 'conformance', snapshotter });
        },
        QUIRKS[snapshotter],
      );
    },
  );
}
