import { ContainerdRpc } from '../src/snapshot/containerd/rpc.js';
import { startContainerd } from '../test/snapshot/containerd-daemon.js';
const d = await startContainerd();
const rpc = new ContainerdRpc(d.address);
const o = (lease?: string) => ({ namespace: 'x', timeoutMs: 10000, ...(lease ? { lease } : {}) });
const res = async (id: string) => (await rpc.lease('ListResources', { id }, o())).resources.map((r: any) => `${r.type}:${r.id}`);
try {
  await rpc.lease('Create', { id: 'h-a', labels: { 'containerd.io/gc.flat': 'x' } }, o());
  await rpc.snapshot('Prepare', { snapshotter: 'overlayfs', key: 'a', parent: '', labels: {} }, o('h-a'));
  console.log('after prepare h-a', await res('h-a'));
  await rpc.lease('Create', { id: 'h-c', labels: { 'containerd.io/gc.flat': 'x' } }, o());
  await rpc.snapshot('Commit', { snapshotter: 'overlayfs', name: 'c', key: 'a', labels: {} }, o('h-c'));
  console.log('after commit h-a', await res('h-a'), 'h-c', await res('h-c'));
  // GC now: does c survive (held by h-c)?
  await rpc.lease('Create', { id: 'tmp', labels: {} }, o());
  await rpc.lease('Delete', { id: 'tmp', sync: true }, o());
  console.log('list after gc', (await rpc.listSnapshots('overlayfs', [], o())).map((s: any) => s.name));
  await rpc.snapshot('Remove', { snapshotter: 'overlayfs', key: 'c' }, o());
  console.log('after remove h-c', await res('h-c'));
  // commit without lease in context: is the new snapshot in any lease?
  await rpc.snapshot('Prepare', { snapshotter: 'overlayfs', key: 'b', parent: '', labels: {} }, o('h-a'));
  await rpc.snapshot('Commit', { snapshotter: 'overlayfs', name: 'bc', key: 'b', labels: {} }, o());
  console.log('commit without lease: h-a', await res('h-a'));
  await rpc.lease('Delete', { id: 'h-a', sync: true }, o());
  console.log('list after gc2', (await rpc.listSnapshots('overlayfs', [], o())).map((s: any) => s.name));
} finally { rpc.close(); await d.dispose(); }
