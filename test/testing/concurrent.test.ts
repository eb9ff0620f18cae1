import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BoundCall,
  cacheModel,
  cacheCommands,
  linearize,
  type RealOutcome,
  runCacheCommands,
  transitionCoverage,
} from '../../src/testing/index.js';

/**
 * Concurrent batches under fast-check's scheduler: calls in flight at once on the real manager, their
 * snapshot I/O completing in the order the scheduler picks; every batch must be explained by some
 * serial order of its calls on the model (linearizability against the reference model).
 */

const RUNS = Number(process.env.CACHEKIT_BATCH_RUNS ?? 100);
const coverage = transitionCoverage();
afterAll(() => {
  coverage.stop();
  console.log(`record machine transitions taken by the concurrent runs:\n${coverage.report().table()}`);
});

describe('concurrent batches against a real manager', () => {
  it(`${RUNS} scheduled runs with batches: every batch linearizes against the model`, async () => {
    let batches = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        cacheCommands({ maxCommands: 10, weights: { batch: 8 }, batchSize: 3 }),
        async (s, cmds) => {
          await runCacheCommands(cmds, { scheduler: s, onManager: (cm) => coverage.watch(cm.events$) });
          // After the run, the commands print only those that ran.
          batches += String(cmds).split('batch[').length - 1;
        },
      ),
      { numRuns: RUNS },
    );
    console.log(`concurrent runs: ${RUNS} runs, ${batches} batches`);
    expect(batches).toBeGreaterThan(RUNS);
  }, 240_000);
});

describe('linearize', () => {
  // A retained mutable record nobody holds; two getMutable calls on it race.
  const idle = () => {
    const model = cacheModel();
    const made = model.newRecord('a', { retain: true });
    if (!made.ok) throw new Error('new refused');
    model.release(made.value.handle);
    return model;
  };
  const getMutable: BoundCall = { spec: { call: 'getMutable', pick: 0, retain: false, parentPick: null }, id: 'a' };
  const ok: RealOutcome<unknown> = { ok: true, value: undefined };
  const locked: RealOutcome<unknown> = { ok: false, code: 'LOCKED', error: new Error('locked') };

  it('finds the order that explains one winner, whichever call won', () => {
    expect(linearize(idle(), [getMutable, getMutable], [ok, locked])).toMatchObject({ ok: true, order: [0, 1] });
    expect(linearize(idle(), [getMutable, getMutable], [locked, ok])).toMatchObject({ ok: true, order: [1, 0] });
  });

  it('fails when no serial order explains the answers: a mutable ref is exclusive (BuildKit)', () => {
    const model = idle();
    const found = linearize(model, [getMutable, getMutable], [ok, ok]);
    expect(found.ok).toBe(false);
    expect(found.ok ? [] : found.tried).toHaveLength(2);
    // The model it searched from is unchanged.
    expect(model.records.get('a')?.state).toBe('mutable.idle');
  });

  it('fails an order the records afterwards contradict', () => {
    const found = linearize(idle(), [getMutable, getMutable], [ok, locked], () => 'the cache shows another state');
    expect(found).toMatchObject({ ok: false });
  });
});
