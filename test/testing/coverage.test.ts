import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCacheError, NativeSnapshotter } from '../../src/index.js';
import { faultySnapshotter, recordTransitions, testCache, transitionCoverage } from '../../src/testing/index.js';
import { LAZY_TRANSITIONS } from '../exchange/lazy-transitions.js';

/**
 * Every transition of the record machine, taken through the public API, with faults where only a
 * failing disk gets there; the coverage report is printed and must miss only the lazy states' transitions,
 * which need a registry (taken in test/exchange): the machine holds only transitions a user can cause.
 */

/** Lazy records come from a registry import: test/exchange takes those transitions against one. */
const NEEDS_REGISTRY = LAZY_TRANSITIONS;

const snapshotDir = mkdtempSync(join(tmpdir(), 'cachekit-coverage-'));
afterAll(() => rmSync(snapshotDir, { recursive: true, force: true }));

describe('transitionCoverage', () => {
  it('lists the machine transitions from xstate/graph, each once', () => {
    const keys = recordTransitions().map((t) => `${t.from} ${t.event} ${t.to}`);
    expect(new Set(keys).size).toBe(keys.length);
    // BuildKit's lifecycle as users know it: these moves must be there.
    expect(keys).toEqual(
      expect.arrayContaining([
        'creating io mutable.held',
        'mutable.held COMMIT frozen.held',
        'mutable.held RELEASE_MUTABLE removing',
        'mutable.idle ACQUIRE frozen.held',
        'frozen.held FINALIZE finalizing',
        'finalizing io committed.held',
        'removing io removed',
      ]),
    );
    // BuildKit finalizes only through a held ref: nothing finalizes content no ref holds.
    expect(keys.filter((k) => k.endsWith('FINALIZE finalizing'))).toEqual(['frozen.held FINALIZE finalizing']);
  });

  it('reports what a run did and did not take, as data and as a table', async () => {
    const inner = await NativeSnapshotter.open(join(snapshotDir, 'a'));
    const faulty = faultySnapshotter(inner, { rules: [] });
    await using cache = await testCache({ snapshotter: faulty });
    const { cm } = cache;
    const coverage = transitionCoverage(cm.events$);
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (isCacheError(e) ? e.code : e),
      );

    // Retained mutable: idle, frozen by get, thawed, removed.
    const a = await cm.new(null, { retain: true });
    await a.release();
    await (await cm.get(a.id)).release();
    await (await cm.getMutable(a.id)).release();
    await cm.remove(a.id);
    const idle = await cm.new(null, { retain: true });
    await idle.release();
    await (await cm.getMutable(idle.id)).release();
    // Unretained mutable released without commit: removed.
    await (await cm.new(null)).release();
    // Commit, release, get again, remove.
    const c = await (await cm.new(null)).commit();
    await c.release();
    await (await cm.get(c.id)).release();
    await cm.remove(c.id);
    // Finalize while held, release, get, remove.
    const d = await (await cm.new(null)).commit();
    await d.finalize();
    await d.release();
    await (await cm.get(d.id)).release();
    await cm.remove(d.id);
    // Lazily committed parent: new(parent) commits it; the parent's ref goes while the commit is slow.
    faulty.replan({ rules: [{ methods: ['commit'], fault: { kind: 'delay', ms: 200 }, times: 1 }] });
    const p = await (await cm.new(null)).commit();
    // The release is decided while new(p) waits for the parent's commit.
    const childMade = cm.new(p);
    await p.release();
    const child = await childMade;
    // The disk fills: a commit fails while held, another after its ref went, a prepare fails.
    faulty.replan({ rules: [{ methods: ['commit'], fault: { kind: 'ENOSPC' }, times: 1 }] });
    const f = await (await cm.new(null)).commit();
    expect(await refused(f.finalize())).toBe('INVALID');
    faulty.replan({ rules: [{ methods: ['commit'], fault: { kind: 'delay', ms: 200, failWith: 'EIO' }, times: 1 }] });
    const q = await (await cm.new(null)).commit();
    const childOfQ = cm.new(q);
    await q.release();
    // The parent's commit failed, so nothing can be built on it.
    expect(await refused(childOfQ)).toBe('INVALID');
    faulty.replan({ rules: [{ methods: ['prepare'], fault: { kind: 'ENOSPC' } }] });
    expect(await refused(cm.new(null))).toBe('INVALID');
    // A removal fails: the record stays listed until a retry, by its mutable ref's release or by remove.
    faulty.replan({ rules: [{ methods: ['remove'], key: /^active\//, fault: { kind: 'EIO' } }] });
    const discarded = await cm.new(null);
    const dropped = await cm.new(null);
    expect(await refused(discarded.release())).toBe('INVALID');
    expect(await refused(dropped.release())).toBe('INVALID');
    faulty.replan({ rules: [] });
    await discarded.release();
    await cm.remove(dropped.id);
    await child.release();
    await f.release();
    for (let i = 0; i < 100 && cm.status().queueDepth > 0; i++) await new Promise((r) => setImmediate(r));

    const report = coverage.report();
    coverage.stop();
    console.log(`record machine transitions taken by the kit's directed run:\n${report.table()}`);
    expect(report.missed.map((t) => `${t.from} --${t.event}--> ${t.to}`).sort()).toEqual([...NEEDS_REGISTRY].sort());
    expect(report.unknown).toEqual([]);
    expect(faulty.injected.map((i) => `${i.method}:${i.fault}`)).toEqual(
      expect.arrayContaining(['commit:ENOSPC', 'prepare:ENOSPC', 'commit:delay', 'remove:EIO']),
    );
  }, 60_000);
});
