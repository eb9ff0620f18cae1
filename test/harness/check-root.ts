/**
 * What a cache root must look like after its owner was killed: reopen it, and list every broken
 * promise as a readable problem (an empty list is a pass).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCacheManager, type CacheManager } from '../../src/index.js';
import { NativeSnapshotter, OverlaySnapshotter, type Info } from '../../src/snapshot/index.js';
import type { Expectations } from './acks.js';
import { treeHash } from './tree-hash.js';

export interface CheckResult {
  problems: string[];
  /** Repairs the first open made (expected after a kill: unretained mutables, half-done work). */
  repairs: number;
  records: number;
  verified: number;
  /** Ids of the records the reopen found, with their states. */
  present: Map<string, string>;
}

/** Mount points at or under `root` in this mount namespace. */
export function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === root || point.startsWith(`${root}/`));
}

interface Seen {
  state: string;
  parent: string | undefined;
  children: number;
}

export async function checkRoot(root: string, kind: 'native' | 'overlay', exp: Expectations): Promise<CheckResult> {
  const problems: string[] = [];
  let cm: CacheManager;
  try {
    cm = await openCacheManager({ root, snapshotter: kind });
  } catch (err) {
    return {
      problems: [`reopen failed: ${describeError(err)}`],
      repairs: 0,
      records: 0,
      verified: 0,
      present: new Map(),
    };
  }
  const repairs = cm.startup.repairs.length;
  const seen = new Map<string, Seen>();
  let verified = 0;
  try {
    for (const u of await cm.diskUsage()) {
      const v = cm.describe(u.id);
      seen.set(u.id, { state: v.state, parent: v.parent, children: v.children });
    }
    const hashOf = async (id: string) => {
      const ref = await cm.get(id);
      try {
        const m = await ref.mount({ readonly: true });
        try {
          return treeHash(m.path);
        } finally {
          await m.release();
        }
      } finally {
        await ref.release();
      }
    };
    const verify = async (id: string, hash: string, must: boolean) => {
      const s = seen.get(id);
      if (!s) {
        // The repair that took it, if start-up made one, says why.
        const why = cm.startup.repairs.filter((r) => r.id === id).map((r) => `${r.action}: ${r.detail}`);
        if (must) problems.push(`acknowledged commit ${id} is gone${why.length > 0 ? ` (${why.join('; ')})` : ''}`);
        return;
      }
      if (!s.state.startsWith('frozen') && !s.state.startsWith('committed')) {
        if (must) problems.push(`acknowledged commit ${id} is in state ${s.state}`);
        return;
      }
      try {
        const got = await hashOf(id);
        verified++;
        if (got !== hash) problems.push(`acknowledged commit ${id} changed content (${got} != ${hash})`);
      } catch (err) {
        problems.push(`acknowledged commit ${id} cannot be mounted: ${describeError(err)}`);
      }
    };
    for (const [id, hash] of exp.content) await verify(id, hash, true);
    for (const [id, hash] of exp.maybeGone) await verify(id, hash, false);

    const childCount = new Map<string, number>();
    for (const [id, s] of seen) {
      if (s.parent === undefined) continue;
      childCount.set(s.parent, (childCount.get(s.parent) ?? 0) + 1);
      if (!seen.has(s.parent)) problems.push(`record ${id} has parent ${s.parent}, which has no record`);
      const acked = exp.parents.get(id);
      if (acked !== undefined && acked !== s.parent)
        problems.push(`record ${id} was created on ${acked}, not ${s.parent}`);
    }
    for (const [id, s] of seen) {
      const acked = exp.parents.get(id);
      if (acked === null && s.parent !== undefined) problems.push(`record ${id} was created without a parent`);
      if (s.children !== (childCount.get(id) ?? 0))
        problems.push(`record ${id} counts ${s.children} children, records name ${childCount.get(id) ?? 0}`);
    }
    // States again: mounting for the hash can freeze nothing, but read them after it anyway.
    for (const id of seen.keys()) seen.get(id)!.state = cm.describe(id).state;
  } catch (err) {
    problems.push(`checking failed: ${describeError(err)}`);
  } finally {
    await cm.close().catch((err) => problems.push(`close failed: ${describeError(err)}`));
  }

  problems.push(...(await compareSnapshots(root, kind, seen)));
  for (const point of mountsUnder(root)) problems.push(`still mounted after close: ${point}`);

  try {
    const again = await openCacheManager({ root, snapshotter: kind });
    for (const r of again.startup.repairs) problems.push(`second open repaired: ${r.action} ${r.id ?? ''} ${r.detail}`);
    await again.close();
  } catch (err) {
    problems.push(`second open failed: ${describeError(err)}`);
  }
  return {
    problems,
    repairs,
    records: seen.size,
    verified,
    present: new Map([...seen].map(([id, s]) => [id, s.state])),
  };
}

/** Walks the snapshotter itself: one snapshot per record, of the record's kind, on its parent's. */
async function compareSnapshots(root: string, kind: 'native' | 'overlay', seen: Map<string, Seen>): Promise<string[]> {
  const problems: string[] = [];
  const dir = join(root, 'snapshots');
  const sn = kind === 'native' ? await NativeSnapshotter.open(dir) : await OverlaySnapshotter.open(dir);
  const snapshots = new Map<string, Info>();
  try {
    await sn.walk((info) => void snapshots.set(info.name, info));
  } finally {
    await sn.close();
  }
  for (const [name, info] of snapshots) {
    const [role, id] = name.split('/');
    const record = id === undefined ? undefined : seen.get(id);
    if ((role !== 'active' && role !== 'committed') || !record) {
      problems.push(`snapshot ${name} has no record`);
      continue;
    }
    const wantsCommitted = record.state.startsWith('committed');
    if (wantsCommitted !== (role === 'committed'))
      problems.push(`snapshot ${name} does not fit record state ${record.state}`);
    const wantParent = record.parent === undefined ? undefined : `committed/${record.parent}`;
    if (info.parent !== wantParent)
      problems.push(`snapshot ${name} has parent ${info.parent}, record wants ${wantParent}`);
  }
  for (const [id, s] of seen)
    if (!snapshots.has(`active/${id}`) && !snapshots.has(`committed/${id}`))
      problems.push(`record ${id} (${s.state}) has no snapshot`);
  return problems;
}

/** The message and every cause under it, so a report shows where an error came from. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 6; e = (e as { cause?: unknown }).cause) {
    const name = (e as { name?: string }).name ?? 'Error';
    const code = (e as { code?: string }).code;
    parts.push(`${name}${code ? ` ${code}` : ''}: ${(e as { message?: string }).message ?? String(e)}`);
    if (typeof e !== 'object' || e === null) break;
  }
  return parts.join(' <- ');
}
