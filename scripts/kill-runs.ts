/**
 * The long kill -9 run: many kill cycles per snapshotter, with the seed printed so a failure replays.
 *
 *   npm run test:kill-long -- [--seed N] [--kills 500] [--snapshotter native|overlay|both]
 */
import { Command } from 'commander';
import { probeOverlay } from '../src/snapshot/index.js';
import { runKillCycles, type KillRunSummary } from '../test/harness/kill-cycles.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const program = new Command()
  .option('--seed <n>', 'base seed (random when absent)', (v) => Number.parseInt(v, 10))
  .option('--kills <n>', 'kill cycles per snapshotter', (v) => Number.parseInt(v, 10), 500)
  .option('--snapshotter <kind>', 'native, overlay or both', 'both')
  .option('--verbose', 'print every cycle')
  .parse();
const opts = program.opts<{ seed?: number; kills: number; snapshotter: string; verbose?: boolean }>();
const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
console.log(`kill runs: seed ${seed}, ${opts.kills} kills per snapshotter`);

const kinds = (opts.snapshotter === 'both' ? ['native', 'overlay'] : [opts.snapshotter]) as ('native' | 'overlay')[];
const summaries: KillRunSummary[] = [];
for (const kind of kinds) {
  if (kind === 'overlay') {
    const why = await probeOverlay(mkdtempSync(join(tmpdir(), 'cachekit-probe-')));
    if (why) {
      console.log(`overlay skipped: ${why}`);
      continue;
    }
  }
  const started = Date.now();
  const summary = await runKillCycles({
    kind,
    seed,
    kills: opts.kills,
    onCycle: (c) => {
      if (opts.verbose || c.problems.length > 0)
        console.log(
          `${kind} cycle ${c.cycle} (seed ${c.seed}, kill at ${c.delayMs} ms): ${c.acks} acks, ` +
            `${c.records} records, ${c.verified} verified, ${c.repairs} repairs` +
            c.problems.map((p) => `\n  PROBLEM ${p}`).join(''),
        );
    },
  });
  summaries.push(summary);
  console.log(
    `${kind}: ${summary.kills} kills, ${summary.acks} acknowledgements, ${summary.verified} commits verified ` +
      `byte for byte, ${summary.repairs} start-up repairs, ${summary.failed.length} failed cycles, ` +
      `${summary.untyped.length} untyped errors, ${Math.round((Date.now() - started) / 1000)} s (seed ${seed})`,
  );
  for (const u of new Set(summary.untyped.map((line) => line.replace(/"lane":\d+,/, ''))))
    console.log(`  untyped: ${u}`);
}
process.exitCode = summaries.some((s) => s.failed.length > 0) ? 1 : 0;
