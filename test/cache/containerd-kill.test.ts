/**
 * kill -9 of a cache owner on containerd, then containerd's GC, then the next open. A child process
 * owns the root and works until SIGKILL; once the transient leases it left have expired, a lease is
 * deleted with sync so GC runs; then the root is reopened. No acknowledged commit may be lost or
 * changed, what the dead owner abandoned is either collected by GC or reconciled by the open, and
 * afterwards records, snapshots and leases agree and a second open repairs nothing.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';
import { ContainerdRpc } from '../../src/snapshot/containerd/rpc.js';
import { isSnapshotError } from '../../src/snapshot/errors.js';
import { namespaceProblems } from './containerd-consistency.js';
import type { OwnerAck } from './fixtures/containerd-owner.js';
import { CONTAINERD_SNAPSHOTTER, cacheFixture, containerdSkip, namespaceFor, sharedContainerd } from './helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/containerd-owner.ts');
const KILLS = 4;
/** Short, so the test need not wait ten minutes for GC to be allowed to collect abandoned work. */
const TRANSIENT_TTL_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the owner and SIGKILLs it `delayMs` after its first commit; resolves once it is dead. (A
 * kill before any record of a brand-new root is stored leaves snapshots and no records, which
 * start-up refuses to guess about: NEEDS_RECOVERY, as on every snapshotter.)
 */
function runAndKill(args: string[], delayMs: number): Promise<void> {
  const child = spawn('node', ['--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('committed')) setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.once('exit', (code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`owner exited by itself (${code}): ${stderr}`)),
    );
  });
}

/** What the acknowledgements promise: content of every commit no removal was started for. */
function expectations(log: string): { content: Map<string, string>; maybeGone: Set<string> } {
  const content = new Map<string, string>();
  const maybeGone = new Set<string>();
  for (const line of log.split('\n')) {
    let ack: OwnerAck;
    try {
      ack = JSON.parse(line) as OwnerAck;
    } catch {
      continue; // the kill landed mid-line, or the end
    }
    if (ack.op === 'commit') content.set(ack.id, ack.content);
    else maybeGone.add(ack.id);
  }
  return { content, maybeGone };
}

describe.skipIf(containerdSkip !== undefined)(
  `kill -9 of a cache owner on containerd, then GC${containerdSkip ? ` (skipped: ${containerdSkip})` : ''}`,
  () => {
    const fx = cacheFixture('containerd');

    it(`${KILLS} kills: no acknowledged commit lost, abandoned work collected or reconciled`, async () => {
      const d = await sharedContainerd();
      const root = fx.root();
      const namespace = namespaceFor(root);
      const acks = join(fx.root(), 'acks.jsonl');
      const sn = await ContainerdSnapshotter.open({
        address: d.address,
        namespace,
        snapshotter: CONTAINERD_SNAPSHOTTER,
      });
      const rpc = new ContainerdRpc(d.address);
      let collected = 0;
      let reconciled = 0;
      try {
        for (let kill = 0; kill < KILLS; kill++) {
          await runAndKill([root, d.address, namespace, String(TRANSIENT_TTL_MS), acks], 100 + kill * 200);
          // Every transient lease the dead owner left must have expired before GC runs.
          const transient = (await sn.listLeases()).filter((l) => l.kind === 'transient');
          const latest = Math.max(0, ...transient.map((l) => l.expires?.getTime() ?? 0));
          while (Date.now() <= latest + 1_000) await sleep(100);
          const before = new Set<string>();
          await sn.walk((i) => void before.add(i.name));
          const gcLease = `gc-trigger-${kill}`;
          await rpc.lease('Create', { id: gcLease, labels: {} }, { namespace, timeoutMs: 30_000 });
          await rpc.lease('Delete', { id: gcLease, sync: true }, { namespace, timeoutMs: 120_000 });
          const after = new Set<string>();
          await sn.walk((i) => void after.add(i.name));
          collected += [...before].filter((k) => !after.has(k)).length;
          // GC collected what only an expired lease held, and the expired leases with it.
          expect((await sn.listLeases()).filter((l) => l.kind === 'transient')).toEqual([]);

          const { content, maybeGone } = expectations(readFileSync(acks, 'utf8'));
          const cm = await fx.open(root);
          reconciled += cm.startup.repairs.length;
          const problems: string[] = [];
          for (const [id, text] of content) {
            let state: string;
            try {
              state = cm.describe(id).state;
            } catch {
              if (!maybeGone.has(id)) {
                const why = cm.startup.repairs.filter((r) => r.id === id).map((r) => `${r.action}: ${r.detail}`);
                problems.push(`acknowledged commit ${id} is gone ${why.join('; ')}`);
              }
              continue;
            }
            if (!/^(frozen|committed)/.test(state)) problems.push(`acknowledged commit ${id} is ${state}`);
            const ref = await cm.get(id);
            const m = await ref.mount({ readonly: true });
            const lane = /lane (\d+)/.exec(text)![1];
            const got = readFileSync(join(m.path, `lane-${lane}`), 'utf8');
            if (got !== text) problems.push(`acknowledged commit ${id} reads ${got}`);
            await m.release();
            await ref.release();
          }
          for (const problem of await namespaceProblems(cm, sn)) {
            // containerd 1.6 keeps its metadata and the overlayfs store in two databases: a kill of the
            // daemon's client between their commits can leave a snapshot it lists but can no longer stat
            // (NOT_FOUND), which no client can remove. Reported, not failed; anything else is a problem.
            const listed = /^snapshot (\S+) \(\w+\) belongs to no record$/.exec(problem)?.[1];
            if (
              listed &&
              (await sn.stat(listed).then(
                () => false,
                (e: unknown) => isSnapshotError(e, 'NOT_FOUND'),
              ))
            ) {
              console.warn(
                `after kill ${kill}: containerd lists ${listed} but cannot stat it (its two stores disagree)`,
              );
              continue;
            }
            // What start-up did about the record, if anything, says where the snapshot came from.
            const id = listed?.split('/')[1];
            const why = cm.startup.repairs.filter((r) => id !== undefined && r.id === id);
            problems.push(
              why.length > 0 ? `${problem} (${why.map((r) => `${r.action}: ${r.detail}`).join('; ')})` : problem,
            );
          }
          await cm.close();
          const again = await fx.open(root);
          problems.push(...again.startup.repairs.map((r) => `second open repaired: ${r.action} ${r.detail}`));
          await again.close();
          expect(problems, `after kill ${kill}`).toEqual([]);
        }
        const records = expectations(readFileSync(acks, 'utf8')).content.size;
        console.log(
          `${KILLS} kills: ${records} commits acknowledged, ${collected} snapshots collected by GC, ` +
            `${reconciled} start-up repairs`,
        );
      } finally {
        rpc.close();
        await sn.close();
      }
    }, 240_000);
  },
);
