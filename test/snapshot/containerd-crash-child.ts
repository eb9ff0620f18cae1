/**
 * Run by containerd-failures.test.ts and killed with SIGKILL mid-work: prepares and commits
 * snapshots in a loop and prints the name of each one it finished.
 * argv: address namespace snapshotter transientLeaseTtlMs
 */
import { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';

const [address, namespace, snapshotter, ttl] = process.argv.slice(2);
const sn = await ContainerdSnapshotter.open({
  address: address!,
  namespace: namespace!,
  snapshotter: snapshotter!,
  transientLeaseTtlMs: Number(ttl),
});
let parent: string | undefined;
for (let i = 0; ; i++) {
  await sn.prepare(`work-${i}`, parent);
  await sn.commit(`layer-${i}`, `work-${i}`);
  process.stdout.write(`layer-${i}\n`);
  parent = `layer-${i}`;
  // Keep two prepares in flight so the kill often lands inside one.
  void sn.prepare(`extra-${i}`, parent).then(() => process.stdout.write(`extra-${i}\n`));
}
