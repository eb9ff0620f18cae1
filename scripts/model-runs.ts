// 5,000 scheduled model runs of cachekit/testing's commands against a real manager (npm run test:model-long).
// The seed is printed first, so a failure replays with SEED=<seed>.
import fc from 'fast-check';
import { cacheCommands, runCacheCommands, transitionCoverage } from '../src/testing/index.js';

const seed = Number(process.env.SEED ?? Date.now() % 2 ** 31);
const numRuns = Number(process.env.RUNS ?? 5000);
console.log(`model runs: ${numRuns}, seed ${seed}`);
const coverage = transitionCoverage();
await fc.assert(
  fc.asyncProperty(fc.scheduler(), cacheCommands({ maxCommands: 16 }), (s, cmds) =>
    runCacheCommands(cmds, { scheduler: s, onManager: (cm) => coverage.watch(cm.events$) }),
  ),
  { numRuns, seed },
);
coverage.stop();
console.log(coverage.report().table());
