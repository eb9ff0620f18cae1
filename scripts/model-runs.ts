// The long model runs of cachekit/testing's commands against a real manager (npm run test:model-long):
// 5,000 scheduled runs one command at a time, 1,000 scheduled runs with concurrent batches (each must
// linearize against the model), and 40 runs with kill -9 crashes of a child owning the root.
// The seed is printed first, so a failure replays with SEED=<seed>; RUNS, BATCH_RUNS and CRASH_RUNS
// change the counts.
import fc from 'fast-check';
import { cacheCommands, runCacheCommands, transitionCoverage } from '../src/testing/index.js';

const seed = Number(process.env.SEED ?? Date.now() % 2 ** 31);
const counts = {
  serial: Number(process.env.RUNS ?? 5000),
  batch: Number(process.env.BATCH_RUNS ?? 1000),
  crash: Number(process.env.CRASH_RUNS ?? 40),
};
console.log(
  `model runs: ${counts.serial} serial, ${counts.batch} with concurrent batches, ${counts.crash} with crashes; seed ${seed}`,
);
const coverage = transitionCoverage();
const onManager = (cm: { events$: Parameters<typeof coverage.watch>[0] }) => coverage.watch(cm.events$);

/** Runs one phase; counts how often `tag` commands ran (a run's commands print only those that ran). */
async function phase(name: string, numRuns: number, commands: ReturnType<typeof cacheCommands>, tag?: string) {
  if (numRuns <= 0) return;
  const started = Date.now();
  let ran = 0;
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), commands, async (s, cmds) => {
      await runCacheCommands(cmds, { scheduler: s, onManager });
      if (tag) ran += String(cmds).split(`${tag}[`).length - 1;
    }),
    { numRuns, seed },
  );
  const took = Math.round((Date.now() - started) / 1000);
  console.log(`${name}: ${numRuns} runs passed${tag ? `, ${ran} ${tag} commands ran` : ''} (${took} s, seed ${seed})`);
}

await phase('serial', counts.serial, cacheCommands({ maxCommands: 16 }));
await phase(
  'concurrent',
  counts.batch,
  cacheCommands({ maxCommands: 12, weights: { batch: 8 }, batchSize: 3 }),
  'batch',
);
await phase(
  'crash',
  counts.crash,
  cacheCommands({ maxCommands: 8, weights: { crash: 4 }, crash: { maxCalls: 6, maxCrashes: 2 } }),
  'crash',
);
coverage.stop();
console.log(coverage.report().table());
