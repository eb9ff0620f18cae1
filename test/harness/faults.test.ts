/**
 * Snapshot I/O that fails with ENOSPC or EIO, before or after the real call: every manager
 * operation that meets the fault rejects with a CacheError whose cause chain reaches the injected
 * error, unless the call took effect after all (a commit or removal that happened but reported
 * failure), or the operation tells the caller in its result (a disk usage row that could not be
 * sized). What describe/diskUsage show agrees with what the operations reported, the manager keeps
 * working once the fault is gone, and the next open repairs what is left so a second finds nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  isCacheError,
  isSnapshotError,
  openCacheManager,
  type CacheManager,
  type ImmutableRef,
  type UsageInfo,
} from '../../src/index.js';
import { NativeSnapshotter, OverlaySnapshotter } from '../../src/snapshot/index.js';
import { LOCAL_SNAPSHOTTERS as SNAPSHOTTERS } from '../cache/helpers.js';
import { describeError } from './check-root.js';
import { FaultySnapshotter, type InjectedFault, type FaultCode, type FaultMethod, type FaultWhen } from './faulty.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

async function open(root: string, kind: 'native' | 'overlay'): Promise<{ cm: CacheManager; sn: FaultySnapshotter }> {
  const dir = join(root, 'snapshots');
  const sn = new FaultySnapshotter(
    kind === 'native' ? await NativeSnapshotter.open(dir) : await OverlaySnapshotter.open(dir),
  );
  return { cm: await openCacheManager({ root, snapshotter: sn }), sn };
}

const causes = (err: unknown): unknown[] => {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
};

interface Outcome {
  op: string;
  ok: boolean;
  /** Faults thrown while the operation ran. */
  faults: InjectedFault[];
  error?: unknown;
}

/** Known records an operation touched, and whether the operations say each one exists. */
type Claims = Map<string, boolean>;

async function scenario(kind: 'native' | 'overlay', method: FaultMethod, when: FaultWhen, code: FaultCode) {
  const root = join(mkdtempSync(join(tmpdir(), `cachekit-fault-${kind}-`)), 'cache');
  roots.push(root);
  const { cm, sn } = await open(root, kind);
  const claims: Claims = new Map();
  const outcomes: Outcome[] = [];
  const attempt = async (op: string, run: () => Promise<void>) => {
    const before = sn.thrown.length;
    try {
      await run();
      outcomes.push({ op, ok: true, faults: sn.thrown.slice(before) });
    } catch (error) {
      outcomes.push({ op, ok: false, faults: sn.thrown.slice(before), error });
    }
  };

  // Set-up without faults: a committed base, a released committed record, a held mutable one.
  const base = await cm.new(null);
  writeFileSync(join((await base.mount()).path, 'base'), 'base\n');
  const baseRef = await base.commit();
  await baseRef.finalize();
  claims.set(baseRef.id, true);
  const spare = await (await cm.new(baseRef)).commit();
  await spare.finalize();
  await spare.release();
  claims.set(spare.id, true);
  const held = await cm.new(null, { retain: true });
  claims.set(held.id, true);

  sn.fault = { method, when, code };
  await attempt('new on a parent', async () => {
    const child = await cm.new(baseRef);
    claims.set(child.id, true);
    await child.release();
    claims.set(child.id, false);
  });
  let committed: ImmutableRef | undefined;
  await attempt('commit and finalize', async () => {
    sn.fault = undefined;
    const mut = await cm.new(null);
    claims.set(mut.id, true);
    sn.fault = { method, when, code };
    committed = await mut.commit();
    await committed.finalize();
  });
  await attempt('mount a mutable ref', async () => {
    const m = await held.mount();
    writeFileSync(join(m.path, 'held'), 'held\n');
    await m.release();
  });
  await attempt('mount a committed ref read-only', async () => {
    const m = await baseRef.mount({ readonly: true });
    await m.release();
  });
  await attempt('size of a record', async () => {
    await baseRef.size();
  });
  let usageRows: UsageInfo[] = [];
  await attempt('disk usage', async () => {
    usageRows = await cm.diskUsage();
  });
  await attempt('remove a released record', async () => {
    await cm.remove(spare.id);
    claims.set(spare.id, false);
  });
  sn.fault = undefined;

  /**
   * Whether an operation that succeeded despite fault `f` was right to: the faulted call took effect
   * (the snapshotter shows it), or the result says what failed. Checked against the real snapshotter.
   */
  const settled = async (op: string, f: InjectedFault): Promise<boolean> => {
    const id = f.key.split('/')[1]!;
    if (f.method === 'usage' && op === 'disk usage')
      return usageRows.find((u) => u.id === id)?.sizeError?.includes(f.message) === true;
    if (f.when !== 'after') return false;
    if (f.method === 'commit')
      return (
        (await sn.inner.stat(`committed/${id}`)).kind === 'committed' && cm.describe(id).state === 'committed.held'
      );
    if (f.method === 'remove')
      return sn.inner.stat(f.key).then(
        () => false,
        (err: unknown) => isSnapshotError(err, 'NOT_FOUND'),
      );
    return false;
  };
  const problems: string[] = [];
  for (const o of outcomes) {
    if (o.ok) {
      const unsettled: InjectedFault[] = [];
      for (const f of o.faults) if (!(await settled(o.op, f))) unsettled.push(f);
      if (unsettled.length > 0)
        problems.push(`${o.op} succeeded although ${unsettled.map((f) => f.message).join(', ')}`);
      continue;
    }
    if (!isCacheError(o.error)) problems.push(`${o.op} rejected with a non-CacheError: ${describeError(o.error)}`);
    else if (o.faults.length > 0 && !causes(o.error).some((e) => o.faults.includes(e as InjectedFault)))
      problems.push(`${o.op}: the cause chain misses the injected fault: ${describeError(o.error)}`);
    if (o.faults.length === 0) problems.push(`${o.op} failed with no fault injected: ${describeError(o.error)}`);
  }

  // What the manager shows must agree with what the operations said.
  const listed = new Set((await cm.diskUsage()).map((u) => u.id));
  for (const [id, exists] of claims) {
    let described = true;
    try {
      cm.describe(id);
    } catch (err) {
      if (!isCacheError(err, 'NOT_FOUND')) problems.push(`describe(${id}) threw ${describeError(err)}`);
      described = false;
    }
    if (described !== exists || listed.has(id) !== exists)
      problems.push(
        `record ${id}: operations say ${exists ? 'present' : 'gone'}, describe ${described}, diskUsage ${listed.has(id)}`,
      );
  }
  // With the fault gone the manager works again, on the records the faults touched too.
  try {
    await (committed ?? baseRef).finalize();
    const again = await cm.new(baseRef);
    writeFileSync(join((await again.mount()).path, 'again'), 'again\n');
    await (await again.commit()).finalize();
    await (await held.mount()).release();
  } catch (err) {
    problems.push(`after the fault the manager fails: ${describeError(err)}`);
  }
  await cm.close();
  await sn.close();

  const reopened = await open(root, kind);
  const present = new Set((await reopened.cm.diskUsage()).map((u) => u.id));
  // The reopen repairs only what a failed operation left behind, never what one reported done.
  const leftBehind = new Set(outcomes.flatMap((o) => (o.ok ? [] : o.faults.map((f) => f.key.split('/')[1]!))));
  for (const r of reopened.cm.startup.repairs)
    if (r.id === undefined || !leftBehind.has(r.id))
      problems.push(`reopen repaired what no failed operation left: ${r.action} ${r.id ?? ''} ${r.detail}`);
  for (const id of [baseRef.id, held.id]) if (!present.has(id)) problems.push(`reopen lost record ${id}`);
  await reopened.cm.close();
  await reopened.sn.close();
  const second = await open(root, kind);
  for (const r of second.cm.startup.repairs)
    problems.push(`second open repaired: ${r.action} ${r.id ?? ''} ${r.detail}`);
  await second.cm.close();
  await second.sn.close();
  return { problems, outcomes, injected: sn.thrown.length };
}

const METHODS: FaultMethod[] = ['prepare', 'commit', 'remove', 'mounts', 'view', 'usage'];
const CASES = METHODS.flatMap((method) =>
  (['before', 'after'] as const).flatMap((when) =>
    (['ENOSPC', 'EIO'] as const).map((code) => ({ method, when, code })),
  ),
);

for (const { kind, skip } of SNAPSHOTTERS)
  describe.skipIf(skip !== undefined)(`${kind}: snapshot faults`, () => {
    for (const { method, when, code } of CASES) {
      it(`${code} ${when} ${method}: typed errors, consistent state, clean repair`, async () => {
        const { problems, injected } = await scenario(kind, method, when, code);
        if (problems.length) console.warn(`${kind} ${code} ${when} ${method}:\n  ${problems.join('\n  ')}`);
        expect(injected).toBeGreaterThan(0);
        expect(problems).toEqual([]);
      }, 60_000);
    }
  });
