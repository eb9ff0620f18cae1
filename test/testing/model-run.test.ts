import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheCommands, runCacheCommands, transitionCoverage } from '../../src/testing/index.js';

/**
 * The kit's commands drive a real manager (native snapshotter) beside the model, with fast-check's
 * scheduler ordering every snapshot I/O completion. Short sequences keep 200 runs quick.
 */

const coverage = transitionCoverage();
afterAll(() => {
  coverage.stop();
  console.log(`record machine transitions taken by the model runs:\n${coverage.report().table()}`);
});

describe('cacheCommands against a real manager', () => {
  it('200 scheduled model runs: the cache always does what the model says', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), cacheCommands({ maxCommands: 8 }), async (s, cmds) => {
        runs++;
        await runCacheCommands(cmds, { scheduler: s, onManager: (cm) => coverage.watch(cm.events$) });
      }),
      { numRuns: 200 },
    );
    expect(runs).toBeGreaterThanOrEqual(200);
    expect(coverage.report().covered.length).toBeGreaterThan(10);
  }, 120_000);
});
