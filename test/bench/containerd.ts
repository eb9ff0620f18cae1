/**
 * Benchmarks ContainerdSnapshotter against a private containerd (needs root and containerd):
 * prepare, commit and remove latency through cachekit against the same gRPC calls (the same lease
 * steps, see src/snapshot/containerd/leases.ts) made directly with @grpc/grpc-js. Runs alternate
 * between the two paths; the ratio of medians is printed (goal <= 1.2x). The bare snapshot calls
 * without leases are printed too, to show what holding each snapshot costs.
 */
import { randomBytes } from 'node:crypto';
import { credentials, loadPackageDefinition, Metadata, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';
import {
  heldLeaseId,
  heldLeaseLabels,
  snapshotResourceType,
  transientLeaseLabels,
} from '../../src/snapshot/containerd/leases.js';
import { PROTO_DIR } from '../../src/snapshot/containerd/rpc.js';
import { containerdSkipReason, startContainerd } from '../snapshot/containerd-daemon.js';

const RUNS = 60;
const NS = 'bench';
const SNAPSHOTTER = process.env.SNAPSHOTTER ?? 'overlayfs';
const TTL = 10 * 60 * 1000;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const ms = (x: number): string => `${x.toFixed(2)} ms`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

type Unary = (
  req: unknown,
  md: Metadata,
  opts: { deadline: Date },
  cb: (e: ServiceError | null, r: unknown) => void,
) => void;

/** Plain grpc-js clients, built here without any cachekit code in the call path. */
function directClients(address: string) {
  const def = loadSync(['services/snapshots/v1/snapshots.proto', 'services/leases/v1/leases.proto'], {
    includeDirs: [PROTO_DIR],
    longs: Number,
    enums: String,
    defaults: true,
  });
  // biome-ignore lint/suspicious/noExplicitAny: walking the loaded package tree
  const pkg = loadPackageDefinition(def) as any;
  const target = `unix://${address}`;
  const snapshots = new pkg.containerd.services.snapshots.v1.Snapshots(target, credentials.createInsecure());
  const leases = new pkg.containerd.services.leases.v1.Leases(target, credentials.createInsecure());
  const call =
    (client: Record<string, Unary>) =>
    (method: string, req: unknown, lease?: string): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const md = new Metadata();
        md.set('containerd-namespace', NS);
        if (lease) md.set('containerd-lease', lease);
        client[method]!.call(client, req, md, { deadline: new Date(Date.now() + 30_000) }, (e, r) =>
          e ? reject(e) : resolve(r),
        );
      });
  return {
    snap: call(snapshots),
    lease: call(leases),
    close: () => {
      snapshots.close();
      leases.close();
    },
  };
}

const skip = containerdSkipReason();
if (skip !== undefined) {
  console.log(`containerd benchmark skipped: ${skip}`);
  process.exit(0);
}

const daemon = await startContainerd();
try {
  const sn = await ContainerdSnapshotter.open({ address: daemon.address, namespace: NS, snapshotter: SNAPSHOTTER });
  const direct = directClients(daemon.address);
  const type = snapshotResourceType(SNAPSHOTTER);
  await sn.prepare('base-work');
  await sn.commit('base', 'base-work');

  const directPrepare = async (key: string) => {
    const t = `cachekit.tmp.${randomBytes(12).toString('hex')}`;
    await direct.lease('Create', { id: t, labels: transientLeaseLabels(SNAPSHOTTER, 'prepare', new Date(), TTL) });
    await direct.snap('Prepare', { snapshotter: SNAPSHOTTER, key, parent: 'base', labels: {} }, t);
    const p = heldLeaseId(SNAPSHOTTER, key);
    await direct.lease('Create', { id: p, labels: heldLeaseLabels(SNAPSHOTTER, new Date()) });
    await direct.lease('AddResource', { id: p, resource: { id: key, type } });
    await direct.lease('Delete', { id: t, sync: false });
  };
  const directCommit = async (name: string, key: string) => {
    const t = `cachekit.tmp.${randomBytes(12).toString('hex')}`;
    await direct.lease('Create', { id: t, labels: transientLeaseLabels(SNAPSHOTTER, 'commit', new Date(), TTL) });
    await direct.snap('Commit', { snapshotter: SNAPSHOTTER, name, key, labels: {} }, t);
    const p = heldLeaseId(SNAPSHOTTER, name);
    await direct.lease('Create', { id: p, labels: heldLeaseLabels(SNAPSHOTTER, new Date()) });
    await direct.lease('AddResource', { id: p, resource: { id: name, type } });
    await direct.lease('Delete', { id: heldLeaseId(SNAPSHOTTER, key), sync: false });
    await direct.lease('Delete', { id: t, sync: false });
  };
  const directRemove = async (key: string) => {
    await direct.snap('Remove', { snapshotter: SNAPSHOTTER, key });
    await direct.lease('Delete', { id: heldLeaseId(SNAPSHOTTER, key), sync: true });
  };

  const t = {
    ours: { prepare: [] as number[], commit: [] as number[], remove: [] as number[] },
    direct: { prepare: [] as number[], commit: [] as number[], remove: [] as number[] },
    bare: { prepare: [] as number[], commit: [] as number[], remove: [] as number[] },
  };
  const ours = async (i: number) => {
    t.ours.prepare.push(await timed(() => sn.prepare(`o-${i}`, 'base')));
    t.ours.commit.push(await timed(() => sn.commit(`oc-${i}`, `o-${i}`)));
    t.ours.remove.push(await timed(() => sn.remove(`oc-${i}`)));
  };
  const viaGrpc = async (i: number) => {
    t.direct.prepare.push(await timed(() => directPrepare(`d-${i}`)));
    t.direct.commit.push(await timed(() => directCommit(`dc-${i}`, `d-${i}`)));
    t.direct.remove.push(await timed(() => directRemove(`dc-${i}`)));
  };
  const bare = async (i: number) => {
    const key = `b-${i}`;
    t.bare.prepare.push(
      await timed(() => direct.snap('Prepare', { snapshotter: SNAPSHOTTER, key, parent: 'base', labels: {} })),
    );
    const name = `bc-${i}`;
    t.bare.commit.push(await timed(() => direct.snap('Commit', { snapshotter: SNAPSHOTTER, name, key, labels: {} })));
    t.bare.remove.push(await timed(() => direct.snap('Remove', { snapshotter: SNAPSHOTTER, key: name })));
  };
  // Warm up both paths (connections, containerd's caches), then measure alternately.
  for (let i = 0; i < 5; i++) {
    await ours(-1 - i);
    await viaGrpc(-1 - i);
  }
  for (const k of Object.keys(t) as (keyof typeof t)[]) for (const op of Object.keys(t[k])) t[k][op as 'prepare'] = [];
  for (let i = 0; i < RUNS; i++) {
    if (i % 2 === 0) {
      await ours(i);
      await viaGrpc(i);
    } else {
      await viaGrpc(i);
      await ours(i);
    }
    await bare(i);
  }
  console.log(`containerd ${SNAPSHOTTER} snapshotter, ${RUNS} runs each, medians:`);
  for (const op of ['prepare', 'commit', 'remove'] as const) {
    const o = median(t.ours[op]);
    const dm = median(t.direct[op]);
    const ratio = o / dm;
    console.log(
      `${op.padEnd(8)} cachekit ${ms(o).padStart(9)}  direct gRPC (same calls) ${ms(dm).padStart(9)}  ` +
        `ratio ${ratio.toFixed(2)}x (goal <= 1.20x) ${ratio <= 1.2 ? 'OK' : 'OVER GOAL'}  ` +
        `bare ${op} call without leases ${ms(median(t.bare[op]))}`,
    );
  }
  direct.close();
  await sn.close();
} finally {
  await daemon.dispose();
}
